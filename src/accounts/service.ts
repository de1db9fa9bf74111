import type { Config } from "../config.ts";
import type { UserRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import type { Invalidations } from "../invalidation/invalidations.ts";
import type { Logger } from "../logger.ts";
import type { ApiKeysRepo, Scope } from "./api-keys.ts";
import type { Passwords } from "./passwords.ts";
import type { Tokens } from "./tokens.ts";
import type { Committed } from "../invalidation/outbox.ts";
import type { RegistrationPolicy, UsersRepo } from "./users.ts";

export type SignedIn = { user: UserRow; accessToken: string; expiresInSeconds: number };

/** Account operations: registration, sign-in, deactivation, API keys. Routes stay thin over it. */
export type AccountService = {
  register(email: string, password: string): Promise<SignedIn>;
  /** INVALID_CREDENTIALS for an unknown email and a wrong password alike (same work, same answer). */
  login(email: string, password: string): Promise<SignedIn>;
  /** `register` without a token (the pages sign the browser in with a session instead). */
  createAccount(email: string, password: string): Promise<UserRow>;
  /** `login` without a token: the user, or the same refusals. */
  checkPassword(email: string, password: string): Promise<UserRow>;
  /** Whether `register` would take a new account now (the register page asks). */
  registrationOpen(): Promise<{ open: boolean; first: boolean }>;
  setActive(userId: string, active: boolean): Promise<UserRow | undefined>;
  createApiKey(userId: string, name: string, scopes: Scope[]): ReturnType<ApiKeysRepo["create"]>;
  revokeApiKey(userId: string, id: string): Promise<boolean>;
};

export type AccountServiceDeps = {
  config: Config;
  users: UsersRepo;
  apiKeys: ApiKeysRepo;
  passwords: Passwords;
  tokens: Tokens;
  invalidations: Invalidations;
  logger: Logger;
};

const invalidCredentials = () =>
  new ApiError("INVALID_CREDENTIALS", "Invalid email or password", {}, { "WWW-Authenticate": "Bearer" });

export function registrationPolicy(config: Pick<Config, "REGISTRATION_ENABLED">): RegistrationPolicy {
  return config.REGISTRATION_ENABLED === true ? "open" : config.REGISTRATION_ENABLED === false ? "closed" : "first-only";
}

export function createAccountService(d: AccountServiceDeps): AccountService {
  const policy = registrationPolicy(d.config);
  const closed = () =>
    new ApiError("REGISTRATION_CLOSED", "Registration is closed on this server; ask its admin", {
      hint: policy === "closed" ? "REGISTRATION_ENABLED=false" : "the first account exists; REGISTRATION_ENABLED=true opens registration",
    });
  const committed = (change: Committed) => d.invalidations.committed(change.invalidations, change.outboxIds);

  async function signIn(user: UserRow): Promise<SignedIn> {
    const { token, expiresInSeconds } = await d.tokens.issue(user.id);
    return { user, accessToken: token, expiresInSeconds };
  }

  async function createAccount(email: string, password: string): Promise<UserRow> {
    // Refused before any hashing when it is certainly closed: a closed server spends no CPU on it.
    if (policy === "closed" || (policy === "first-only" && (await d.users.anyExists()))) throw closed();
    const passwordHash = await d.passwords.hash(password);
    const result = await d.users.create({ id: crypto.randomUUID(), email, passwordHash }, policy);
    if ("refused" in result) {
      if (result.refused === "closed") throw closed();
      throw new ApiError("EMAIL_EXISTS", "Email already registered", { field: "email" });
    }
    if (result.created.isAdmin) d.logger.info("first account created; it is the admin", { user_id: result.created.id });
    return result.created;
  }

  async function checkPassword(email: string, password: string): Promise<UserRow> {
    const user = await d.users.findByEmail(email);
    const ok = await d.passwords.verifyOrDummy(password, user?.passwordHash);
    if (!user || !ok) throw invalidCredentials();
    // Only after the password: an inactive account is not revealed to someone without it.
    if (!user.isActive) throw new ApiError("USER_INACTIVE", "User account is inactive", {}, { "WWW-Authenticate": "Bearer" });
    return user;
  }

  return {
    register: async (email, password) => signIn(await createAccount(email, password)),
    login: async (email, password) => signIn(await checkPassword(email, password)),
    createAccount,
    checkPassword,
    async registrationOpen() {
      if (policy === "closed") return { open: false, first: false };
      const first = !(await d.users.anyExists());
      return { open: policy === "open" || first, first };
    },

    setActive: (userId, active) => d.users.setActive(userId, active, committed),
    createApiKey: (userId, name, scopes) => d.apiKeys.create(userId, name, scopes),
    revokeApiKey: (userId, id) => d.apiKeys.revoke(userId, id, committed),
  };
}
