import type { InvalidationLog } from "../invalidation/log.ts";

/**
 * One copy held in process. `rendered` is a slot for whatever the owner of the key derives from
 * the value to answer with it (the image routes keep the metadata response's JSON body there), so
 * a hot hit does no work but sending; it lives and dies with the entry.
 */
export type MemoryEntry<T> = {
  readonly value: T;
  readonly version: number;
  readonly loadedAtMs: number;
  /** performance.now() after which the entry is not used (the TTL backstop). */
  readonly expiresAt: number;
  readonly bytes: number;
  rendered?: unknown;
};

/**
 * The in-process tier (L1): a map in front of Redis, for any kind of cached entity (keys carry
 * their kind, e.g. `{prefix}:image:{id}`), bounded by entries and by bytes, with a short TTL as a
 * backstop. It is kept coherent by the invalidation log, the one authority over every tier:
 *  - every invalidation the log records (a commit on this process, or one heard from any other
 *    through PostgreSQL LISTEN/NOTIFY) drops the key at once, synchronously;
 *  - while the log is not live (channel lost, or catching up) the tier is emptied and refuses
 *    copies, so nothing loaded before a missed invalidation can survive the gap;
 *  - a copy is stored only if the log admits it at that moment (a load that began before an
 *    invalidation already heard is refused), and every hit is checked again (cheap: one map
 *    lookup), which also covers the log's own horizon and age limits.
 * Eviction is in insertion order (oldest first), which needs no bookkeeping on a hit.
 */
export type MemoryTier = {
  readonly enabled: boolean;
  get<T>(key: string): MemoryEntry<T> | undefined;
  /** Stores a copy if the log admits it; `bytes` is its approximate size. True if stored. */
  set<T>(key: string, value: T, version: number, loadedAtMs: number, bytes: number): boolean;
  delete(key: string): void;
  clear(): void;
  size(): number;
  bytes(): number;
  /** Evictions so far, by cause (for /metrics). */
  evictions(): { size: number; ttl: number; invalidated: number };
};

export type MemoryTierOptions = {
  /** 0 turns the tier off. */
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
};

// What the map and the entry object cost beyond the value's own size, roughly (V8/JSC objects,
// the key string, the map slot). Part of the byte bound so that many tiny values are bounded too.
export const ENTRY_OVERHEAD_BYTES = 200;

export function createMemoryTier(log: InvalidationLog, opts: MemoryTierOptions): MemoryTier {
  const entries = new Map<string, MemoryEntry<unknown>>();
  const enabled = opts.maxEntries > 0 && opts.maxBytes > 0;
  let total = 0;
  const evicted = { size: 0, ttl: 0, invalidated: 0 };

  const remove = (key: string, e: MemoryEntry<unknown>) => {
    entries.delete(key);
    total -= e.bytes;
  };

  log.onInvalidate((key) => {
    const e = entries.get(key);
    if (e) {
      remove(key, e);
      evicted.invalidated++;
    }
  });
  log.onLiveChange((live) => {
    if (!live) {
      entries.clear();
      total = 0;
    }
  });

  return {
    enabled,
    get<T>(key: string) {
      const e = entries.get(key);
      if (!e) return undefined;
      if (e.expiresAt <= performance.now()) {
        remove(key, e);
        evicted.ttl++;
        return undefined;
      }
      if (!log.admits(key, e.version, e.loadedAtMs)) {
        remove(key, e);
        evicted.invalidated++;
        return undefined;
      }
      return e as MemoryEntry<T>;
    },
    set(key, value, version, loadedAtMs, bytes) {
      if (!enabled || !log.live() || !log.admits(key, version, loadedAtMs)) return false;
      const size = bytes + ENTRY_OVERHEAD_BYTES;
      if (size > opts.maxBytes) return false;
      const prev = entries.get(key);
      if (prev) remove(key, prev);
      while (entries.size > 0 && (entries.size >= opts.maxEntries || total + size > opts.maxBytes)) {
        const [oldKey, old] = entries.entries().next().value!;
        remove(oldKey, old);
        evicted.size++;
      }
      entries.set(key, { value, version, loadedAtMs, expiresAt: performance.now() + opts.ttlMs, bytes: size });
      total += size;
      return true;
    },
    delete(key) {
      const e = entries.get(key);
      if (e) remove(key, e);
    },
    clear() {
      entries.clear();
      total = 0;
    },
    size: () => entries.size,
    bytes: () => total,
    evictions: () => ({ ...evicted }),
  };
}
