import type { RedisClientType } from "redis";
import type { Logger } from "../logger.ts";
import { SKIPPED, type RedisConnection } from "./redis-connection.ts";

export type CacheStatus = "HIT" | "MISS" | "DISABLED";
export type CacheState = "connected" | "disconnected" | "disabled";

/** How values are stored: `decode` returns undefined for anything unreadable (treated as a miss). */
export type Codec<T> = { encode(value: T): string; decode(raw: string): T | undefined };

/** Cache-aside over an origin (the database). Fails open: Redis trouble never fails a call. */
export type Cache = {
  state(): CacheState;
  /** Reads `key`; on a miss runs `load` (once for concurrent callers) and stores what it returns. */
  wrap<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>): Promise<{ value: T | undefined; status: CacheStatus }>;
  set<T>(key: string, codec: Codec<T>, value: T): Promise<void>;
  /**
   * Removes `key` after the origin changed, and for `tombstoneMs` makes any write of that key a
   * no-op, so a reader that loaded the old row before the change cannot put it back.
   */
  invalidate(key: string): Promise<void>;
  close(): Promise<void>;
};

export type CacheOptions = {
  ttlSeconds: number;
  debug: boolean;
  /** How long a deleted key refuses late writes; loads slower than half of it are not cached. */
  tombstoneMs?: number;
  /** At most this many invalidations are remembered while Redis is away; beyond it, the whole prefix is flushed on return. */
  maxPendingInvalidations?: number;
  /** Key glob of everything this cache may hold, for the overflow flush. */
  keyPattern: string;
};

// Writes only if the key has no tombstone. KEYS[1] = key, KEYS[2] = tombstone; ARGV = value, ttl seconds.
const SET_UNLESS_TOMBSTONED = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1`;
// Tombstone first, then delete, atomically. KEYS[1] = key, KEYS[2] = tombstone; ARGV[1] = tombstone ms.
const INVALIDATE = `redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) return redis.call('DEL', KEYS[1])`;

const tombstoneOf = (key: string) => `${key}:tombstone`;

export function createRedisCache(conn: RedisConnection, logger: Logger, opts: CacheOptions): Cache {
  const tombstoneMs = opts.tombstoneMs ?? 10_000;
  const maxPending = opts.maxPendingInvalidations ?? 10_000;
  const inflight = new Map<string, Promise<{ value: unknown; status: CacheStatus }>>();
  const pending = new Set<string>();
  let pendingOverflow = false;
  const debug = opts.debug ? (event: string, key: string) => logger.debug(`cache ${event}`, { key }) : () => {};
  const invalidateOn = (client: RedisClientType, key: string) =>
    client.eval(INVALIDATE, { keys: [key, tombstoneOf(key)], arguments: [String(tombstoneMs)] });

  // Before the breaker closes again, replay deletes that happened while Redis was unreachable:
  // otherwise an entry written before the outage would be served for a deleted image.
  conn.onRecover(async (client) => {
    if (pendingOverflow) {
      for await (const keys of client.scanIterator({ MATCH: opts.keyPattern, COUNT: 1000 })) {
        // Tombstones match the pattern too; they must stay, or a late reader could re-cache a deleted row.
        const entries = keys.filter((k) => !k.endsWith(":tombstone"));
        if (entries.length) await client.del(entries);
      }
      pendingOverflow = false;
    }
    for (const key of [...pending]) {
      await invalidateOn(client, key);
      pending.delete(key);
    }
  });

  async function readThrough<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>) {
    let status: CacheStatus = "DISABLED";
    try {
      const raw = await conn.run((c) => c.get(key));
      if (raw !== SKIPPED) {
        if (raw !== null) {
          const value = codec.decode(raw);
          if (value !== undefined) {
            debug("HIT", key);
            return { value, status: "HIT" as const };
          }
          debug("CORRUPT", key);
          void conn.run((c) => c.del(key)).catch(() => {});
        }
        status = "MISS";
        debug("MISS", key);
      }
    } catch {
      status = "DISABLED"; // the breaker has logged it
    }

    const startedAt = performance.now();
    const value = await load();
    if (value !== undefined && status === "MISS" && performance.now() - startedAt < tombstoneMs / 2) {
      await store(key, codec.encode(value));
    }
    return { value, status };
  }

  async function store(key: string, raw: string) {
    try {
      const r = await conn.run((c) =>
        c.eval(SET_UNLESS_TOMBSTONED, { keys: [key, tombstoneOf(key)], arguments: [raw, String(opts.ttlSeconds)] }),
      );
      if (r !== SKIPPED) debug(r === 1 ? "SET" : "SET-SKIPPED-TOMBSTONE", key);
    } catch {
      // fail open
    }
  }

  return {
    state: () => conn.state(),
    wrap<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>) {
      // Breaker open: straight to the origin, without the cache's async hops (Redis-down fast path).
      if (conn.state() !== "connected") return load().then((value) => ({ value, status: "DISABLED" as const }));
      const running = inflight.get(key);
      if (running) return running as Promise<{ value: T | undefined; status: CacheStatus }>;
      const p = readThrough(key, codec, load).finally(() => {
        if (inflight.get(key) === p) inflight.delete(key);
      });
      inflight.set(key, p);
      return p;
    },
    set: (key, codec, value) => store(key, codec.encode(value)),
    async invalidate(key) {
      // Readers that start after this call must not join a load that began before it.
      inflight.delete(key);
      const done = await conn.run((c) => invalidateOn(c, key)).then(
        (r) => r !== SKIPPED,
        () => false,
      );
      if (done) {
        pending.delete(key);
        debug("INVALIDATE", key);
        return;
      }
      if (pending.size >= maxPending) pendingOverflow = true;
      else pending.add(key);
      debug("INVALIDATE-DEFERRED", key);
    },
    close: () => conn.close(),
  };
}

/** CACHE_ENABLED=false: every read goes to the origin and says so. */
export function createDisabledCache(): Cache {
  return {
    state: () => "disabled",
    wrap: async (_key, _codec, load) => ({ value: await load(), status: "DISABLED" }),
    set: async () => {},
    invalidate: async () => {},
    close: async () => {},
  };
}
