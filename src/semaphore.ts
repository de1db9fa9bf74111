/** Thrown by `acquire` when no slot freed up within its timeout. */
export class SemaphoreTimeout extends Error {
  override name = "SemaphoreTimeout";
}

/**
 * A counting semaphore: at most `limit` holders at once; waiters are served in FIFO order, a
 * released slot is handed straight to the next waiter, and `release` is idempotent.
 */
export type Semaphore = {
  /** Resolves with the release function; without `timeoutMs` it waits as long as it takes. */
  acquire(timeoutMs?: number): Promise<() => void>;
  active(): number;
  /** Callers waiting for a slot. */
  waiting(): number;
  readonly limit: number;
};

export function createSemaphore(limit: number): Semaphore {
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
    waiting: () => waiters.length,
    acquire(timeoutMs) {
      if (active < limit) {
        active++;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grant = () => {
          clearTimeout(timer);
          resolve(releaser());
        };
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => {
            const i = waiters.indexOf(grant);
            if (i >= 0) waiters.splice(i, 1);
            reject(new SemaphoreTimeout(`no slot free within ${timeoutMs} ms`));
          }, timeoutMs);
        }
        waiters.push(grant);
      });
    },
  };
}
