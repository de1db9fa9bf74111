import { createSemaphore, SemaphoreTimeout } from "../semaphore.ts";

/** A database call that did not finish within the query deadline (answered as 503 + Retry-After). */
export class QueryDeadlineError extends Error {
  override name = "QueryDeadlineError";
  readonly code = "QUERY_DEADLINE";
  /** `sent`: the deadline passed while the call was running (it may still take effect), not while it waited for a slot. */
  constructor(
    readonly timeoutMs: number,
    readonly sent: boolean,
  ) {
    super(`the database did not answer within ${timeoutMs} ms`);
  }
}

/**
 * Runs a database call: at most `maxInFlight` at once, each bounded by `timeoutMs` in total.
 * `then`, if given, runs after the call settles successfully (its slot already released) and is
 * part of the answer, but it also runs when the caller stopped waiting: work that must follow a
 * commit (removing files, purging caches) happens even if the commit was late.
 */
export type QueryRunner = (<T, U = T>(fn: () => Promise<T>, then?: (result: T) => Promise<U>) => Promise<U>) & {
  /** Calls holding a slot (the pool's busy connections) and calls waiting for one (/metrics). */
  inFlight(): number;
  waiting(): number;
  readonly limit: number;
};

/** Told how long each call took (waiting included) and how it ended (/metrics). */
export type QueryObserver = (seconds: number, outcome: "ok" | "error" | "deadline") => void;

/**
 * Every database call goes through one runner per pool:
 *  - At most `maxInFlight` (the pool size) calls are in flight; the rest wait in FIFO order.
 *    postgres.js 3.4.9 scans its internal queue of waiting queries on every dispatch, so a queue
 *    longer than the pool made each query slower the longer the process ran (CPU per query
 *    15 µs → 64 µs after 500k queries at 50 in flight, pool 10; flat at 14.5 µs when in-flight ≤ pool).
 *  - Waiting for a slot plus running the call is bounded by `timeoutMs`: a frozen or black-holed
 *    database answers the request with QueryDeadlineError instead of holding it. The call itself
 *    keeps its slot until it really settles, so a stuck pool does not get more work piled on it;
 *    its continuation still runs (a transaction that commits late still finishes its work).
 */
export function createQueryRunner(maxInFlight: number, timeoutMs: number, observe?: QueryObserver): QueryRunner {
  const slots = createSemaphore(maxInFlight);
  const run = async function run<T, U = T>(fn: () => Promise<T>, then?: (result: T) => Promise<U>): Promise<U> {
    const startedAt = performance.now();
    let release: () => void;
    try {
      release = await slots.acquire(timeoutMs);
    } catch (err) {
      observe?.((performance.now() - startedAt) / 1000, "deadline");
      if (err instanceof SemaphoreTimeout) throw new QueryDeadlineError(timeoutMs, false);
      throw err;
    }
    const settled = withRetries(fn).finally(release);
    const call = (then ? settled.then(then) : settled) as Promise<U>;
    const left = timeoutMs - (performance.now() - startedAt);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QueryDeadlineError(timeoutMs, true)), Math.max(0, left));
    });
    let outcome: "ok" | "error" | "deadline" = "ok";
    try {
      return await Promise.race([call, deadline]);
    } catch (err) {
      outcome = err instanceof QueryDeadlineError ? "deadline" : "error";
      throw err;
    } finally {
      clearTimeout(timer);
      call.catch(() => {}); // a call that fails after its deadline has nobody left to tell
      observe?.((performance.now() - startedAt) / 1000, outcome);
    }
  };
  return Object.assign(run, { inFlight: slots.active, waiting: slots.waiting, limit: maxInFlight });
}

// A deadlock victim (40P01) or a serialization failure (40001) took no effect: every call here is
// one statement or an idempotent sequence of them, so running it again is safe. Lock orders are
// kept consistent (see thumbnails/jobs.ts); this is the net under what was not foreseen.
const RETRYABLE = new Set(["40P01", "40001"]);
const MAX_RETRIES = 2;

function retryable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && RETRYABLE.has(code)) return true;
  }
  return false;
}

async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= MAX_RETRIES || !retryable(err)) throw err;
      await Bun.sleep(5 + Math.random() * 20);
    }
  }
}
