import { ErrorReply } from "redis";
import type { InvalidationLog } from "../invalidation/log.ts";
import type { Logger } from "../logger.ts";
import type { MemoryEntry, MemoryTier } from "./memory-tier.ts";
import { SKIPPED, type RedisCommands, type RedisConnection } from "./redis-connection.ts";

export type CacheStatus = "HIT" | "MISS" | "DISABLED";
export type CacheState = "connected" | "disconnected" | "disabled";
/** Which tier answered a HIT: in-process (l1) or Redis (l2). */
export type CacheTier = "l1" | "l2";

/** What a read through the cache found. `loadedAtMs` and `bytes` describe the copy (for the tier in front). */
export type CacheRead<T> = {
  value: T | undefined;
  status: CacheStatus;
  /** The tier that answered a HIT. */
  tier?: CacheTier;
  /** The in-process entry holding the value, when there is one (its `rendered` slot is the caller's). */
  entry?: MemoryEntry<T>;
  /** Whether the in-process tier exists and was consulted (not bypassed), for Cache-Status. */
  l1?: "hit" | "miss" | "bypass";
  loadedAtMs?: number;
  bytes?: number;
};

/** Cache hit/miss/error events by tier, for /metrics. */
export type CacheEvents = { read(tier: CacheTier, result: "hit" | "miss" | "error" | "bypass" | "stale"): void };

/**
 * How values are stored. Cached values are untrusted input: `decode` returns undefined for
 * anything this server would not have written under `key` (treated as a miss and removed).
 * Every value carries the entity's version and when it was loaded, for the invalidation log.
 */
export type Codec<T> = {
  encode(value: T, loadedAtMs: number): string;
  decode(raw: string, key: string): { value: T; version: number; loadedAtMs: number } | undefined;
  version(value: T): number;
};

/** Cache-aside over an origin (the database). Fails open: Redis trouble never fails a call. */
export type Cache = {
  state(): CacheState;
  /** Reads `key`; on a miss runs `load` (once for concurrent callers) and stores what it returns. */
  wrap<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>): Promise<CacheRead<T>>;
  /** Stores a value just read from or written to the origin (`loadedAtMs`: before that read began). */
  set<T>(key: string, codec: Codec<T>, value: T, loadedAtMs: number): Promise<void>;
  /**
   * Removes `keys` and, for a while, makes writes of them no-ops (a reader that loaded the old row
   * before the change must not put it back). True when Redis confirmed it.
   */
  purge(keys: string[]): Promise<boolean>;
  /** The in-process tier, when there is one (hot paths read it directly; see `hot`). */
  memory?: MemoryTier;
  /** The in-process copy of `key` if hits may be served from it right now, else undefined. */
  hot<T>(key: string): MemoryEntry<T> | undefined;
  close(): Promise<void>;
};

export type CacheOptions = {
  ttlSeconds: number;
  debug: boolean;
  /** Key prefix: the epoch marker lives at `{prefix}:epoch`. */
  prefix: string;
  /** How long a purged key refuses writes; loads slower than half of it are not written back. */
  tombstoneMs?: number;
  /** Values longer than this are refused unread (a 30 MB value must not cost a read 30 MB). */
  maxValueBytes?: number;
  /** How often the epoch marker is checked for a Redis that lost or rewound its data. */
  integrityCheckMs?: number;
  events?: CacheEvents;
};

// Writes only if the key has no tombstone, with an absolute expiry (PXAT) of loadedAt + TTL: a
// write that reaches Redis late (it was frozen) still expires when the copy is TTL old, which is
// what bounds how long the invalidation log must remember (see invalidation/log.ts).
// KEYS[1] = key, KEYS[2] = tombstone; ARGV = value, expire-at ms.
const SET_UNLESS_TOMBSTONED = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) return 1`;
// Delete first, then the tombstone: deleting must not depend on writing, so a Redis that is full
// (maxmemory + noeviction refuses the SET with OOM) still loses the stale key.
// KEYS[1] = key, KEYS[2] = tombstone; ARGV[1] = tombstone ms.
const PURGE = `local n = redis.call('DEL', KEYS[1])
redis.pcall('SET', KEYS[2], '1', 'PX', ARGV[1]) return n`;

// The tombstone shares the key's cluster hash slot: `{k}:tombstone` hashes "k", as plain `k` does.
export const tombstoneOf = (key: string) => `{${key}}:tombstone`;
const PURGE_BATCH = 1_000;
const PURGE_ATTEMPT_MS = 250;

/**
 * Redis as the second tier, under the invalidation log's authority. A hit is served only if the
 * log admits its version; while this instance may have missed invalidations (the log is not
 * live) Redis is neither read nor written.
 *
 * Redis losing or rewinding data (FLUSHALL, restart, restore from an old snapshot, DEBUG RELOAD)
 * is noticed by an epoch marker: a counter bumped by every purge. (On a Cluster the marker lives
 * on one shard; a failover of any other master fails its commands, which trips the breaker too,
 * and recovery re-applies every recent invalidation, on every shard, before hits resume.) If it is missing or lower than
 * the highest value this instance has seen, the breaker opens and the recover hooks (registered
 * by the invalidations component) re-apply every recent invalidation before hits resume. Reads in
 * between stay correct because the log refuses stale versions whatever Redis returns.
 */
export function createRedisCache(conn: RedisConnection, log: InvalidationLog, logger: Logger, opts: CacheOptions): Cache {
  const tombstoneMs = opts.tombstoneMs ?? 10_000;
  const maxValueBytes = opts.maxValueBytes ?? 16 * 1024;
  const ttlMs = opts.ttlSeconds * 1000;
  const epochKey = `${opts.prefix}:epoch`;
  const inflight = new Map<string, Promise<CacheRead<unknown>>>();
  const events = opts.events;
  let epochSeen = 0;
  const debug = opts.debug ? (event: string, key: string) => logger.debug(`cache ${event}`, { key }) : () => {};

  // Readers that start after an invalidation must not join a load that began before it.
  log.onInvalidate((key) => inflight.delete(key));

  async function purgeOn(client: RedisCommands, keys: string[]) {
    for (let i = 0; i < keys.length; i += PURGE_BATCH) {
      const batch = keys.slice(i, i + PURGE_BATCH);
      // Commands issued together are pipelined by node-redis.
      await Promise.all(batch.map((k) => client.eval(PURGE, { keys: [k, tombstoneOf(k)], arguments: [String(tombstoneMs)] })));
    }
    epochSeen = Math.max(epochSeen, Number(await client.incr(epochKey)));
  }

  // After every (re)connection, and after Redis was found to have lost data, before the breaker
  // closes: re-apply every invalidation the log remembers (Redis may have restarted from an old
  // snapshot while we were away), then bump and learn the epoch marker.
  conn.onRecover((client) => purgeOn(client, log.keys()));

  const integrity = setInterval(async () => {
    if (conn.state() !== "connected") return;
    try {
      const raw = await conn.run((c) => c.get(epochKey));
      if (raw === SKIPPED) return;
      const epoch = raw === null ? 0 : Number(raw);
      if (raw === null || epoch < epochSeen) {
        logger.warn("Redis lost or rewound cached data; re-applying recent invalidations before serving hits", { epoch, expected_at_least: epochSeen });
        epochSeen = 0; // whatever it is after re-applying becomes the new baseline
        conn.trip("epoch marker missing or rewound");
      } else epochSeen = epoch;
    } catch {
      // the breaker has logged it
    }
  }, opts.integrityCheckMs ?? 1_000);
  integrity.unref?.();

  async function readThrough<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>): Promise<CacheRead<T>> {
    let status: CacheStatus = "DISABLED";
    try {
      // GETRANGE bounds what a poisoned value can cost; a missing key reads as "".
      const raw = await conn.run((c) => c.getRange(key, 0, maxValueBytes));
      if (raw !== SKIPPED) {
        if (raw !== null && raw !== "") {
          const hit = raw.length <= maxValueBytes ? codec.decode(raw, key) : undefined;
          if (hit && log.admits(key, hit.version, hit.loadedAtMs)) {
            debug("HIT", key);
            events?.read("l2", "hit");
            return { value: hit.value, status: "HIT" as const, tier: "l2" as const, loadedAtMs: hit.loadedAtMs, bytes: raw.length };
          }
          debug(hit ? "STALE" : "CORRUPT", key);
          events?.read("l2", hit ? "stale" : "error");
          void conn.run((c) => c.del(key)).catch(() => {});
        }
        status = "MISS";
        debug("MISS", key);
        events?.read("l2", "miss");
      } else events?.read("l2", "bypass");
    } catch (err) {
      events?.read("l2", "error");
      if (err instanceof ErrorReply) {
        // Not a string (WRONGTYPE) or similar: not ours, remove it.
        debug("CORRUPT", key);
        void conn.run((c) => c.del(key)).catch(() => {});
        status = "MISS";
      } else status = "DISABLED"; // the breaker has logged it
    }

    const loadedAtMs = Date.now();
    const startedAt = performance.now();
    const value = await load();
    if (value !== undefined && status === "MISS" && performance.now() - startedAt < tombstoneMs / 2) {
      await store(key, codec, value, loadedAtMs);
    }
    return { value, status, loadedAtMs };
  }

  async function store<T>(key: string, codec: Codec<T>, value: T, loadedAtMs: number) {
    // A load that began before an invalidation this instance has already heard of is not written.
    if (!log.admits(key, codec.version(value), loadedAtMs)) {
      debug("SET-SKIPPED-STALE", key);
      return;
    }
    try {
      const r = await conn.run((c) =>
        c.eval(SET_UNLESS_TOMBSTONED, { keys: [key, tombstoneOf(key)], arguments: [codec.encode(value, loadedAtMs), String(loadedAtMs + ttlMs)] }),
      );
      if (r !== SKIPPED) debug(r === 1 ? "SET" : "SET-SKIPPED-TOMBSTONE", key);
    } catch {
      // fail open (OOM when Redis is full, or the breaker has logged it)
    }
  }

  return {
    state: () => conn.state(),
    wrap<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>) {
      // Breaker open, or invalidations may have been missed: straight to the origin, without the
      // cache's async hops (Redis-down fast path).
      if (conn.state() !== "connected" || !log.live()) {
        events?.read("l2", "bypass");
        return load().then((value) => ({ value, status: "DISABLED" as const }));
      }
      const running = inflight.get(key);
      if (running) return running as Promise<CacheRead<T>>;
      const p = readThrough(key, codec, load).finally(() => {
        if (inflight.get(key) === p) inflight.delete(key);
      });
      inflight.set(key, p);
      return p;
    },
    set: (key, codec, value, loadedAtMs) => (log.live() ? store(key, codec, value, loadedAtMs) : Promise.resolve()),
    async purge(keys) {
      let r = await conn.run((c) => purgeOn(c, keys)).catch(() => false as const);
      // Breaker open: try anyway, a little longer. Other instances may be reading this Redis
      // happily (the breaker may have opened on a stall of this process), and a confirmed purge
      // is what lets the delete answer without waiting for the channel.
      if (r === SKIPPED) r = await conn.attempt((c) => purgeOn(c, keys), PURGE_ATTEMPT_MS).catch(() => false as const);
      const done = r !== SKIPPED && r !== false;
      for (const key of keys) debug(done ? "INVALIDATE" : "INVALIDATE-DEFERRED", key);
      return done;
    },
    hot: () => undefined,
    // The connection is the owner's (deps) to close: the rate limiter shares it.
    close: async () => clearInterval(integrity),
  };
}

/** What a decoded copy costs in memory, from its encoded length: its objects (strings, a Date) are larger than its JSON. */
export const memoryBytes = (encodedLength: number) => 2 * encodedLength;

/**
 * The in-process tier (memory-tier.ts) in front of another cache (Redis). Hits from memory are
 * served only while the tier behind can be used: with Redis down or the invalidation channel not
 * live every read is DISABLED from the database, as before (the log empties the memory tier when
 * the channel is lost). Copies read from Redis or loaded from the database are kept in memory if
 * the invalidation log admits them at that moment.
 */
export function createTieredCache(memory: MemoryTier, next: Cache, log: InvalidationLog, events?: CacheEvents): Cache {
  const usable = () => log.live() && next.state() === "connected";
  return {
    state: () => next.state(),
    memory,
    hot<T>(key: string) {
      return usable() ? memory.get<T>(key) : undefined;
    },
    async wrap<T>(key: string, codec: Codec<T>, load: () => Promise<T | undefined>): Promise<CacheRead<T>> {
      if (!usable()) {
        events?.read("l1", "bypass");
        return { ...(await next.wrap(key, codec, load)), l1: "bypass" };
      }
      const e = memory.get<T>(key);
      if (e) {
        events?.read("l1", "hit");
        return { value: e.value, status: "HIT", tier: "l1", entry: e, l1: "hit", loadedAtMs: e.loadedAtMs };
      }
      events?.read("l1", "miss");
      const r = await next.wrap(key, codec, load);
      if (r.value !== undefined && r.status !== "DISABLED" && r.loadedAtMs !== undefined) {
        memory.set(key, r.value, codec.version(r.value), r.loadedAtMs, memoryBytes(r.bytes ?? codec.encode(r.value, r.loadedAtMs).length));
      }
      return { ...r, entry: memory.get<T>(key), l1: "miss" };
    },
    async set(key, codec, value, loadedAtMs) {
      await next.set(key, codec, value, loadedAtMs);
      if (usable()) memory.set(key, value, codec.version(value), loadedAtMs, memoryBytes(codec.encode(value, loadedAtMs).length));
    },
    purge(keys) {
      // The log has already dropped them (invalidations record first); this is for direct callers.
      for (const k of keys) memory.delete(k);
      return next.purge(keys);
    },
    close: () => next.close(),
  };
}

/** CACHE_ENABLED=false: every read goes to the origin and says so. */
export function createDisabledCache(): Cache {
  return {
    state: () => "disabled",
    wrap: async (_key, _codec, load) => ({ value: await load(), status: "DISABLED" }),
    set: async () => {},
    purge: async () => true,
    hot: () => undefined,
    close: async () => {},
  };
}
