import type { RedisConnection } from "../cache/redis-connection.ts";
import type { Config } from "../config.ts";
import { ApiError } from "../errors.ts";
import { createRateLimiter, type RateDecision, type RateLimiter } from "../http/rate-limit.ts";
import type { Logger } from "../logger.ts";
import { createHash } from "node:crypto";

/**
 * Sign-in attempts, counted with the upload limiter's algorithm (GCRA, shared through Redis):
 * per client address for every account route that hashes a password or could be abused in bulk
 * (register, login, token, password-reset), and per account (the email, hashed: known and unknown
 * emails are counted alike) for login and token. Every attempt counts, successful or not.
 */
export type LoginLimits = {
  checkClient(client: string): Promise<void>;
  checkAccount(email: string): Promise<void>;
  close(): void;
};

export function createLoginLimits(config: Config, redis: RedisConnection | undefined, logger: Logger): LoginLimits {
  const common = { enabled: config.RATE_LIMIT_ENABLED, windowSeconds: config.LOGIN_RATE_LIMIT_WINDOW_SECONDS, keyPrefix: config.CACHE_KEY_PREFIX };
  const perClient = createRateLimiter({ ...common, limit: config.LOGIN_RATE_LIMIT_PER_CLIENT, name: "login-client" }, redis, logger);
  const perAccount = createRateLimiter({ ...common, limit: config.LOGIN_RATE_LIMIT_PER_ACCOUNT, name: "login-account" }, redis, logger);

  const enforce = (d: RateDecision, what: string) => {
    if (d.allowed) return;
    throw new ApiError(
      "RATE_LIMIT_EXCEEDED",
      `Too many sign-in attempts ${what}; try again in ${d.retryAfterSeconds} s`,
      { limit: d.limit, window_seconds: config.LOGIN_RATE_LIMIT_WINDOW_SECONDS, retry_after: d.retryAfterSeconds },
      { "Retry-After": String(d.retryAfterSeconds) },
    );
  };
  const check = (limiter: RateLimiter, key: string, what: string) =>
    config.RATE_LIMIT_ENABLED ? limiter.check(key).then((d) => enforce(d, what)) : Promise.resolve();

  return {
    checkClient: (client) => check(perClient, client, "from this address"),
    checkAccount: (email) => check(perAccount, createHash("sha256").update(email).digest("hex"), "for this account"),
    close() {
      perClient.close();
      perAccount.close();
    },
  };
}
