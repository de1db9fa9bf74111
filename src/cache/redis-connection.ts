import { createClient, ErrorReply, type RedisClientType } from "redis";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";

export type RedisState = "connected" | "disconnected";

/**
 * One node-redis client guarded by a breaker. Every command goes through `run`, which
 *  - skips Redis at once while the breaker is open (returns `SKIPPED`), so no request waits on a
 *    Redis that is known to be down;
 *  - races each call against `commandTimeoutMs`: a frozen Redis (SIGSTOP) keeps the socket open
 *    and no client option bounds a command already written to it;
 *  - opens the breaker on the first failure or timeout of the connection; an error reply from the
 *    server (OOM when Redis is full, WRONGTYPE on a foreign key) is the caller's to handle and
 *    leaves the breaker closed.
 * While open, a background probe PINGs every `probeIntervalMs` once the client has reconnected,
 * runs the `onRecover` hooks (re-applying invalidations) and closes the breaker.
 */
export type RedisConnection = {
  state(): RedisState;
  run<T>(op: (client: RedisClientType) => Promise<T>): Promise<T | typeof SKIPPED>;
  /**
   * Runs `op` even while the breaker is open, if the client is connected, within `timeoutMs`; a
   * failure leaves the breaker as it is. For the rare write that matters more than speed (a
   * delete's purge): an open breaker may only mean this process stalled, not that Redis is gone.
   */
  attempt<T>(op: (client: RedisClientType) => Promise<T>, timeoutMs: number): Promise<T | typeof SKIPPED>;
  /** Runs before the breaker closes after an outage; if it fails the breaker stays open. */
  onRecover(hook: (client: RedisClientType) => Promise<void>): void;
  /** Opens the breaker (e.g. Redis was found to have lost data); the recover hooks run before it closes. */
  trip(reason: string): void;
  /** Resolves once connected, or after `timeoutMs` (whichever comes first). */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
};

const RECOVER_TIMEOUT_MS = 5_000;
const DEADLINE_SWEEP_MS = 10;

export const SKIPPED: unique symbol = Symbol("redis skipped");

export type RedisConnectionOptions = {
  commandTimeoutMs?: number;
  probeIntervalMs?: number;
  connectTimeoutMs?: number;
};

export function redisUrlFromConfig(c: Config): string {
  if (c.REDIS_URL) return c.REDIS_URL;
  const auth = c.REDIS_PASSWORD ? `:${encodeURIComponent(c.REDIS_PASSWORD)}@` : "";
  return `redis://${auth}${c.REDIS_HOST}:${c.REDIS_PORT}/${c.REDIS_DB}`;
}

class DeadlineError extends Error {
  override name = "DeadlineError";
}

export function createRedisConnection(url: string, logger: Logger, opts: RedisConnectionOptions = {}): RedisConnection {
  const commandTimeoutMs = opts.commandTimeoutMs ?? 100;
  const probeIntervalMs = opts.probeIntervalMs ?? 500;
  const client = createClient({
    url,
    // Reject at once while reconnecting instead of queueing (default would hold requests).
    disableOfflineQueue: true,
    // No per-command timeout option: it allocates a timer signal per command (~5% of a cache hit);
    // `run` bounds waiting, and while the breaker is open only the probe's PINGs are sent.
    socket: {
      connectTimeout: opts.connectTimeoutMs ?? 1_000,
      keepAlive: true,
      // Retry forever, quickly at first, never more than ~1 s apart; jitter spreads many instances.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) + Math.floor(Math.random() * 100),
    },
  }) as RedisClientType;

  let open = true; // breaker starts open until the first successful PING
  let lastReason = "not connected yet";
  let announcedDown = false;
  let closed = false;
  let probing = false;
  const recoverHooks: Array<(client: RedisClientType) => Promise<void>> = [];
  const readyWaiters = new Set<() => void>();

  // node-redis emits an error on every failed reconnect; log state changes only.
  client.on("error", (err: Error) => trip(err.message || err.name));
  client.on("ready", () => void probe());

  function trip(reason: string) {
    lastReason = reason;
    for (const w of readyWaiters) w(); // start-up need not wait for a Redis that refused
    if (!open) {
      open = true;
      announcedDown = true;
      logger.warn("Redis cache disconnected; serving from the database and reconnecting in the background", { reason });
    }
  }

  // One sweeping timer for all deadlines instead of a timer per command: on the cache-hit path a
  // per-call setTimeout/clearTimeout pair was measurable. Resolution is DEADLINE_SWEEP_MS.
  const deadlines = new Set<{ at: number; ms: number; reject: (e: Error) => void }>();
  const sweeper = setInterval(() => {
    if (deadlines.size === 0) return;
    const now = performance.now();
    for (const d of deadlines) {
      if (d.at <= now) {
        deadlines.delete(d);
        d.reject(new DeadlineError(`no answer from Redis within ${d.ms} ms`));
      }
    }
  }, DEADLINE_SWEEP_MS);
  sweeper.unref?.();

  function withDeadline<T>(p: Promise<T>, ms = commandTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const d = { at: performance.now() + ms, ms, reject };
      deadlines.add(d);
      p.then(
        (v) => {
          deadlines.delete(d);
          resolve(v); // a no-op if the deadline already rejected
        },
        (e) => {
          deadlines.delete(d);
          reject(e);
        },
      );
    });
  }

  async function probe() {
    if (probing || closed || !open || !client.isReady) return;
    probing = true;
    try {
      await withDeadline(client.ping());
      for (const hook of recoverHooks) await withDeadline(hook(client), RECOVER_TIMEOUT_MS);
      open = false;
      logger.info("Redis cache connected", announcedDown ? { after: lastReason } : {});
      for (const w of readyWaiters) w();
    } catch (err) {
      lastReason = (err as Error).message;
    } finally {
      probing = false;
    }
  }

  const probeTimer = setInterval(() => void probe(), probeIntervalMs);
  probeTimer.unref?.();
  client.connect().catch((err: Error) => {
    if (!closed) trip(err.message);
  });

  return {
    state: () => (open ? "disconnected" : "connected"),
    async run(op) {
      if (open || closed) return SKIPPED;
      try {
        return await withDeadline(op(client));
      } catch (err) {
        if (!(err instanceof ErrorReply)) trip((err as Error).message || String(err));
        throw err;
      }
    },
    async attempt(op, timeoutMs) {
      if (closed || !client.isReady) return SKIPPED;
      return withDeadline(op(client), timeoutMs);
    },
    onRecover(hook) {
      recoverHooks.push(hook);
    },
    trip(reason) {
      trip(reason);
      void probe();
    },
    ready(timeoutMs) {
      if (!open) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(t);
          readyWaiters.delete(done);
          if (open && !announcedDown) {
            announcedDown = true;
            logger.warn("Redis cache unavailable; serving from the database and connecting in the background", { reason: lastReason, url: redactUrl(url) });
          }
          resolve(!open);
        };
        // Resolved by the first PING, the first failed connect, or the timeout (a silent Redis).
        const t = setTimeout(done, timeoutMs);
        readyWaiters.add(done);
      });
    },
    async close() {
      closed = true;
      clearInterval(probeTimer);
      clearInterval(sweeper);
      open = true;
      try {
        client.destroy();
      } catch {
        // already closed
      }
    },
  };
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
