import { ApiError } from "../errors.ts";
import { createSemaphore, SemaphoreTimeout } from "../semaphore.ts";

/** At most `limit` uploads processed at once (ADR-0010); waiters give up after `timeoutMs`. */
export type UploadSlots = {
  acquire(): Promise<() => void>;
  active(): number;
  readonly limit: number;
};

export function createUploadSlots(limit: number, timeoutMs: number): UploadSlots {
  const slots = createSemaphore(limit);
  return {
    limit,
    active: slots.active,
    async acquire() {
      try {
        return await slots.acquire(timeoutMs);
      } catch (err) {
        if (!(err instanceof SemaphoreTimeout)) throw err;
        throw new ApiError(
          "SERVICE_UNAVAILABLE",
          "Too many uploads in progress; try again shortly",
          { reason: "upload_concurrency_limit_exceeded", limit },
          { "Retry-After": "1" },
        );
      }
    },
  };
}
