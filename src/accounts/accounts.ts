import type { Cache } from "../cache/cache.ts";
import type { RedisConnection } from "../cache/redis-connection.ts";
import type { Config } from "../config.ts";
import type { DatabaseHandle } from "../db/client.ts";
import type { Invalidations } from "../invalidation/invalidations.ts";
import type { Logger } from "../logger.ts";
import { createApiKeyLookup, createApiKeysRepo, type ApiKeysRepo } from "./api-keys.ts";
import { createAuthenticator, type Authenticator } from "./authenticator.ts";
import { createLoginLimits, type LoginLimits } from "./login-limits.ts";
import { createPasswords, type Passwords } from "./passwords.ts";
import { createAccountService, type AccountService } from "./service.ts";
import { createSessions, createSessionsRepo, type Sessions } from "./sessions.ts";
import { createTokens, loadJwtSecret, type Tokens } from "./tokens.ts";
import { createUserLookup, userCacheKey, type UserLookup } from "./user-cache.ts";
import { createUsersRepo, type UsersRepo } from "./users.ts";

/** Everything accounts need at request time, built once at boot (see deps.ts). */
export type Accounts = {
  users: UsersRepo;
  userLookup: UserLookup;
  apiKeys: ApiKeysRepo;
  tokens: Tokens;
  passwords: Passwords;
  authenticator: Authenticator;
  /** Browser sessions (the pages' cookie). */
  sessions: Sessions;
  service: AccountService;
  loginLimits: LoginLimits;
  close(): void;
};

export type AccountsDeps = {
  config: Config;
  database: DatabaseHandle;
  cache: Cache;
  invalidations: Invalidations;
  redis: RedisConnection | undefined;
  logger: Logger;
};

// Below OWASP's smallest argon2id recommendation (19 MiB, 2 passes, or more memory with 1 pass).
const weakHashing = (c: Config) => c.PASSWORD_HASH_MEMORY_KIB < 19_456 || (c.PASSWORD_HASH_TIME_COST < 2 && c.PASSWORD_HASH_MEMORY_KIB < 47_104);

export async function createAccounts(d: AccountsDeps): Promise<Accounts> {
  const { config, database, cache, invalidations, logger } = d;
  const prefix = config.CACHE_KEY_PREFIX;
  const secret = await loadJwtSecret(database, config.JWT_SECRET_KEY);
  const tokens = await createTokens(secret, config.JWT_EXPIRE_MINUTES);
  if (weakHashing(config)) {
    logger.warn("password hashing is below OWASP's minimum (PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_TIME_COST); fine for tests, not for real accounts");
  }
  const passwords = createPasswords({ memoryKib: config.PASSWORD_HASH_MEMORY_KIB, timeCost: config.PASSWORD_HASH_TIME_COST });
  const users = createUsersRepo(database, userCacheKey(prefix, ""));
  const apiKeys = createApiKeysRepo(database, prefix);
  const userLookup = createUserLookup(users, cache, prefix);
  const authenticator = createAuthenticator({ tokens, users: userLookup, apiKeys: createApiKeyLookup(apiKeys, cache, prefix) });
  const loginLimits = createLoginLimits(config, d.redis, logger);
  // A browser stays signed in as long as a token lasts (JWT_EXPIRE_MINUTES).
  const sessions = createSessions({
    repo: createSessionsRepo(database, prefix),
    cache,
    users: userLookup,
    prefix,
    lifetimeSeconds: config.JWT_EXPIRE_MINUTES * 60,
    committed: (change) => invalidations.committed(change.invalidations, change.outboxIds),
  });
  return {
    users,
    userLookup,
    apiKeys,
    tokens,
    passwords,
    authenticator,
    sessions,
    service: createAccountService({ config, users, apiKeys, passwords, tokens, invalidations, logger }),
    loginLimits,
    close: () => loginLimits.close(),
  };
}
