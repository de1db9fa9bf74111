/** A committed change to a cached entity: the entity's version after it, or null when it is gone. */
export type Invalidation = { key: string; version: number | null };

/**
 * What this instance knows of recent invalidations, fed by the outbox's notifications (and by
 * its own commits at once). It is the authority over every cache tier: a cached copy is served
 * only if `admits` says so, whatever Redis holds. So a copy that Redis brings back (restart from
 * an old snapshot, DEBUG RELOAD), or that a slow reader writes back after its tombstone was lost
 * (FLUSHALL, eviction), is refused as long as its invalidation is remembered here.
 *
 * Why remembering for `retentionMs` is enough: a stale copy was loaded before its invalidation
 * committed (loadedAt < t_commit), and every copy is written with an absolute expiry of
 * loadedAt + TTL, so it is gone from Redis by t_commit + TTL. The log keeps an invalidation from
 * the moment it is heard (≥ t_commit) for TTL + `clockSkewMs`, which covers it on any clock that
 * is within `clockSkewMs` of the writer's.
 */
export type InvalidationLog = {
  record(inv: Invalidation): void;
  /** May a copy of `key` at `version`, loaded from the database at `loadedAtMs` (epoch ms), be served or stored? */
  admits(key: string, version: number, loadedAtMs: number): boolean;
  /** True while this instance hears every committed invalidation (channel up and caught up). */
  live(): boolean;
  setLive(live: boolean): void;
  /** Called for every invalidation recorded (in-process tiers drop their copy). */
  onInvalidate(fn: (key: string) => void): void;
  /** Called when liveness changes (in-process tiers empty themselves when it is lost). */
  onLiveChange(fn: (live: boolean) => void): void;
  /** Every key invalidated within the retention window (re-applied to a Redis that lost data). */
  keys(): string[];
  size(): number;
};

export type InvalidationLogOptions = {
  ttlMs: number;
  /** Tolerated clock difference between instances and Redis. */
  clockSkewMs?: number;
  /** At most this many invalidations are remembered; see `horizon`. */
  maxEntries?: number;
  now?: () => number;
};

type Entry = { version: number | null; at: number };

export function createInvalidationLog(opts: InvalidationLogOptions): InvalidationLog {
  const skew = opts.clockSkewMs ?? 60_000;
  const retention = opts.ttlMs + skew;
  const max = opts.maxEntries ?? 100_000;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>(); // insertion order = order heard
  // When the log overflows, the oldest entries are forgotten; copies loaded before the newest
  // forgotten one (plus skew) might predate an invalidation we no longer know, so they are refused.
  let horizon = 0;
  let live = false;
  const invalidateHooks: Array<(key: string) => void> = [];
  const liveHooks: Array<(live: boolean) => void> = [];

  function prune(t: number) {
    for (const [key, e] of entries) {
      if (e.at + retention >= t && entries.size <= max) break;
      entries.delete(key);
      if (e.at + retention >= t) horizon = Math.max(horizon, e.at + skew); // dropped for size, not age
    }
  }

  return {
    record({ key, version }) {
      const t = now();
      const prev = entries.get(key);
      // Gone is final; otherwise keep the highest version (notifications may arrive out of order).
      const gone = version === null || prev?.version === null;
      entries.delete(key);
      entries.set(key, { version: gone ? null : Math.max(prev?.version ?? 0, version), at: t });
      prune(t);
      for (const fn of invalidateHooks) fn(key);
    },
    admits(key, version, loadedAtMs) {
      if (!live) return false;
      const e = entries.get(key);
      if (e && (e.version === null || e.version > version)) return false;
      const t = now();
      if (loadedAtMs < horizon) return false;
      // Implausible timestamps: from the future, or older than any copy Redis may still hold.
      return loadedAtMs <= t + skew && loadedAtMs + retention >= t;
    },
    live: () => live,
    setLive(next) {
      if (next === live) return;
      live = next;
      for (const fn of liveHooks) fn(next);
    },
    onInvalidate: (fn) => void invalidateHooks.push(fn),
    onLiveChange: (fn) => void liveHooks.push(fn),
    keys() {
      prune(now());
      return [...entries.keys()];
    },
    size: () => entries.size,
  };
}

/** Notification payload: `<version or -> <key>` (keys never contain spaces). */
export const encodeInvalidation = (inv: Invalidation) => `${inv.version ?? "-"} ${inv.key}`;

export function decodeInvalidation(payload: string): Invalidation | undefined {
  const sp = payload.indexOf(" ");
  if (sp <= 0 || sp === payload.length - 1) return undefined;
  const v = payload.slice(0, sp);
  const version = v === "-" ? null : Number(v);
  if (version !== null && !Number.isSafeInteger(version)) return undefined;
  return { key: payload.slice(sp + 1), version };
}
