import { availableParallelism } from "node:os";
import { ApiError } from "../errors.ts";
import { createSemaphore, SemaphoreTimeout } from "../semaphore.ts";

/**
 * Password hashing with argon2id (Bun.password, off the request thread). Each hash holds
 * `memoryKib` of memory while it runs, so at most one per core runs at once; the rest wait up to
 * `waitMs`, then the request is answered 503 rather than queued without bound.
 *
 * `verifyOrDummy` always costs one verification: for an unknown account it verifies against a
 * hash of a random password made with the same parameters, so "no such email" takes as long as
 * "wrong password" (no user enumeration by timing).
 */
export type Passwords = {
  hash(password: string): Promise<string>;
  /** True only if `hash` is given and `password` matches it. */
  verifyOrDummy(password: string, hash: string | undefined): Promise<boolean>;
};

export type PasswordOptions = { memoryKib: number; timeCost: number; waitMs?: number; concurrency?: number };

export function createPasswords(opts: PasswordOptions): Passwords {
  const params = { algorithm: "argon2id", memoryCost: opts.memoryKib, timeCost: opts.timeCost } as const;
  const slots = createSemaphore(opts.concurrency ?? availableParallelism());
  const waitMs = opts.waitMs ?? 10_000;
  // Made at boot, so the first unknown email is not slower than the rest.
  const dummy = Bun.password.hash(crypto.randomUUID(), params);

  async function limited<T>(fn: () => Promise<T>): Promise<T> {
    let release: () => void;
    try {
      release = await slots.acquire(waitMs);
    } catch (err) {
      if (!(err instanceof SemaphoreTimeout)) throw err;
      throw new ApiError("SERVICE_UNAVAILABLE", "Too many sign-ins in progress; try again shortly", { reason: "password_hashing_busy" }, { "Retry-After": "1" });
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }

  return {
    hash: (password) => limited(() => Bun.password.hash(password, params)),
    async verifyOrDummy(password, hash) {
      if (hash !== undefined) return limited(() => Bun.password.verify(password, hash).catch(() => false));
      const against = await dummy;
      await limited(() => Bun.password.verify(password, against).catch(() => false));
      return false;
    },
  };
}
