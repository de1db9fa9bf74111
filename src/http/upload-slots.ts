import { ApiError } from "../errors.ts";

/** At most `limit` uploads processed at once (ADR-0010); waiters give up after `timeoutMs`. */
export type UploadSlots = {
  acquire(): Promise<() => void>;
  active(): number;
  readonly limit: number;
};

export function createUploadSlots(limit: number, timeoutMs: number): UploadSlots {
  let active = 0;
  const waiters: Array<() => void> = [];

  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiters.shift();
      if (next) next(); // hand the slot straight over; `active` stays the same
      else active--;
    };
  };

  return {
    limit,
    active: () => active,
    acquire() {
      if (active < limit) {
        active++;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const grant = () => {
          clearTimeout(timer);
          resolve(releaser());
        };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(grant);
          if (i >= 0) waiters.splice(i, 1);
          reject(
            new ApiError("SERVICE_UNAVAILABLE", "Too many uploads in progress; try again shortly", {
              reason: "upload_concurrency_limit_exceeded",
              limit,
            }, { "Retry-After": "1" }),
          );
        }, timeoutMs);
        waiters.push(grant);
      });
    },
  };
}
