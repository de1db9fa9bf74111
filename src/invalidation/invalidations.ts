import type { Cache } from "../cache/cache.ts";
import type { DatabaseHandle } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import { createInvalidationChannel, type ChannelState } from "./channel.ts";
import { createInvalidationLog, type Invalidation, type InvalidationLog } from "./log.ts";
import { createOutboxRepo, type OutboxRepo } from "./outbox.ts";

export { outboxCte, outboxIdsOf, recordInvalidationsWith } from "./outbox.ts";

/**
 * Durable cache invalidations, the one mechanism every change that affects a cached entity goes
 * through (image deletes today; thumbnails, owners and API keys later):
 *  1. in the change's own statement, `recordInvalidationsWith` (a CTE) writes outbox rows whose
 *     NOTIFY is delivered on commit;
 *  2. after commit, `committed` tells this instance's log at once (a delete on this instance is
 *     never served stale here) and purges Redis (if Redis is away the outbox row stays
 *     unapplied); it returns only once every live instance has acknowledged hearing it (a barrier
 *     through the channel), so none serves a stale copy from its in-process tier or from Redis;
 *  3. the relay, on every instance, applies unapplied outbox rows to Redis until each is applied,
 *     whoever made it and whatever crashed in between, and prunes rows past the retention;
 *  4. every instance's channel feeds its log, which refuses stale copies in every cache tier.
 */
export type Invalidations = {
  log: InvalidationLog;
  outbox: OutboxRepo;
  committed(invs: Invalidation[], outboxIds: number[]): Promise<void>;
  /** One relay pass: applies unapplied outbox rows to Redis. Returns how many were applied. */
  relay(): Promise<number>;
  channelState(): ChannelState;
  /** Subscribes and catches up; resolves once live or after `timeoutMs`. */
  start(timeoutMs: number): Promise<boolean>;
  /** Starts the periodic relay once the cache exists (it needs Redis). */
  attachCache(cache: Cache): void;
  close(): Promise<void>;
};

export type InvalidationsOptions = {
  instanceId: string;
  ttlSeconds: number;
  relayIntervalMs?: number;
  pruneIntervalMs?: number;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  clockSkewMs?: number;
  onHeartbeat?: (seconds: number) => void;
};

const RELAY_BATCH = 500;
const BARRIER_WAIT_MS = 1_000;

export function createInvalidations(database: DatabaseHandle, logger: Logger, opts: InvalidationsOptions): Invalidations {
  const log = createInvalidationLog({ ttlMs: opts.ttlSeconds * 1000, clockSkewMs: opts.clockSkewMs });
  // Outbox rows are kept as long as the log remembers them (same bound, same reason).
  const retentionMs = opts.ttlSeconds * 1000 + (opts.clockSkewMs ?? 60_000);
  const outbox = createOutboxRepo(database);
  let cache: Cache | undefined;
  let relaying: Promise<number> | undefined;
  const timers: Array<ReturnType<typeof setInterval>> = [];

  const channel = createInvalidationChannel(database, outbox, log, logger, {
    instanceId: opts.instanceId,
    retentionMs,
    heartbeatMs: opts.heartbeatMs,
    heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
    onRelive: () => void relay(),
    onHeartbeat: opts.onHeartbeat,
  });

  function relay(): Promise<number> {
    const c = cache;
    if (!c || c.state() !== "connected") return Promise.resolve(0);
    relaying ??= (async () => {
      let applied = 0;
      for (;;) {
        const batch = await outbox.unapplied(RELAY_BATCH);
        if (batch.length === 0) break;
        if (!(await c.purge(batch.map((b) => b.key)))) break; // Redis went away; next time
        await outbox.markApplied(batch.map((b) => b.id));
        applied += batch.length;
        if (batch.length < RELAY_BATCH) break;
      }
      return applied;
    })()
      .catch((err) => {
        logger.warn("invalidation relay pass failed; retrying later", { error: String(err) });
        return 0;
      })
      .finally(() => {
        relaying = undefined;
      });
    return relaying;
  }

  return {
    log,
    outbox,
    async committed(invs, outboxIds) {
      for (const inv of invs) log.record(inv);
      // Other instances learn of this only through the channel: their in-process tiers hold
      // copies, and Redis may still hold one if the purge is not confirmed. So the answer waits
      // (bounded; a millisecond or two) until every live instance has acknowledged a barrier sent
      // after the commit: each has recorded the invalidation and dropped its copies by then.
      const everywhere = channel.barrier(BARRIER_WAIT_MS);
      if (cache && (await cache.purge(invs.map((i) => i.key)))) {
        // Not awaited by the caller's response: if this is lost, the relay applies it again.
        void outbox.markApplied(outboxIds).catch(() => {});
      }
      await everywhere;
    },
    relay,
    channelState: () => channel.state(),
    start: (timeoutMs) => channel.start(timeoutMs),
    attachCache(c) {
      cache = c;
      const relayTimer = setInterval(() => void relay(), opts.relayIntervalMs ?? 1_000);
      const pruneTimer = setInterval(() => {
        outbox.prune(retentionMs).catch(() => {});
      }, opts.pruneIntervalMs ?? 60_000);
      relayTimer.unref?.();
      pruneTimer.unref?.();
      timers.push(relayTimer, pruneTimer);
    },
    async close() {
      for (const t of timers) clearInterval(t);
      await relaying?.catch(() => {});
      await channel.close();
    },
  };
}
