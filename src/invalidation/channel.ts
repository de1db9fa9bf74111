import type { DatabaseHandle, NotificationListener } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import { decodeInvalidation, encodeInvalidation, type Invalidation, type InvalidationLog } from "./log.ts";
import { INVALIDATION_CHANNEL, type OutboxRepo } from "./outbox.ts";

export type ChannelState = "live" | "down";

/**
 * Feeds the invalidation log from PostgreSQL `LISTEN/NOTIFY`, a channel that does not depend on
 * Redis: every instance hears every committed invalidation within milliseconds.
 *
 * The log is live only while this instance provably hears everything:
 *  - after (re)subscribing, it first catches up from the outbox (everything younger than the
 *    retention), because notifications sent while it was away are lost;
 *  - a heartbeat NOTIFY on the listening connection itself must come back within
 *    `heartbeatTimeoutMs`, so a connection that hangs without closing (database frozen,
 *    network black hole) is noticed, not trusted. That timeout bounds how long a silently lost
 *    channel can go unnoticed.
 * While not live, the caches serve from the database (X-Cache: DISABLED).
 */
export type InvalidationChannel = {
  /** Subscribes and catches up; resolves once live, or after `timeoutMs` (it keeps trying). */
  start(timeoutMs: number): Promise<boolean>;
  state(): ChannelState;
  /**
   * Resolves true once this instance has heard `inv` through the channel (at once if it already
   * has), false after `timeoutMs`. Hearing its own NOTIFY back means PostgreSQL has dispatched it
   * to every listening instance.
   */
  heard(inv: Invalidation, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
};

export type ChannelOptions = {
  /** This process's id, in the listening connection's application_name. */
  instanceId: string;
  retentionMs: number;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  /** Called each time the channel becomes live again (after the first time). */
  onRelive?: () => void;
  /** Told each heartbeat's round trip through PostgreSQL, in seconds (/metrics: the channel's lag). */
  onHeartbeat?: (seconds: number) => void;
};

export function createInvalidationChannel(
  database: DatabaseHandle,
  outbox: OutboxRepo,
  log: InvalidationLog,
  logger: Logger,
  opts: ChannelOptions,
): InvalidationChannel {
  const heartbeatMs = opts.heartbeatMs ?? 500;
  const heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 2_000;
  // An in-process database cannot lose notifications; only a network connection needs heartbeats.
  const needsHeartbeat = database.kind === "postgres";
  const heartbeatChannel = `chitram_hb_${crypto.randomUUID().replaceAll("-", "")}`;
  let closed = false;
  let connecting: Promise<void> | undefined;
  let lastEcho = 0;
  let heartbeatSentAt = 0;
  let everLive = false;
  let lostAnnounced = false;
  const liveWaiters = new Set<() => void>();
  // Payloads heard recently (for `heard`), oldest first, and who waits for which.
  const recent = new Map<string, number>();
  const echoWaiters = new Map<string, Set<() => void>>();
  const RECENT_MAX = 10_000;

  const listener: NotificationListener = database.openListener({
    name: `chitram:listen:${opts.instanceId}`,
    onNotify(channel, payload) {
      if (channel === heartbeatChannel) {
        lastEcho = performance.now();
        if (heartbeatSentAt > 0) opts.onHeartbeat?.((lastEcho - heartbeatSentAt) / 1000);
        heartbeatSentAt = 0;
        return;
      }
      const inv = decodeInvalidation(payload);
      if (!inv) return;
      log.record(inv);
      recent.delete(payload);
      recent.set(payload, performance.now());
      if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!);
      const waiters = echoWaiters.get(payload);
      if (waiters) {
        echoWaiters.delete(payload);
        for (const w of waiters) w();
      }
    },
    onClose: () => lose("the listening connection closed"),
  });

  function lose(reason: string) {
    if (closed) return;
    if (log.live() || !lostAnnounced) {
      lostAnnounced = true;
      logger.warn("Invalidation channel lost; serving metadata from the database until it is back and caught up", { reason });
    }
    log.setLive(false);
    void connect();
  }

  function connect(): Promise<void> {
    connecting ??= (async () => {
      for (let attempt = 0; !closed; attempt++) {
        try {
          await listener.reset();
          await listener.listen([INVALIDATION_CHANNEL, heartbeatChannel]);
          // Subscribed first, then caught up: nothing committed after this point can be missed.
          for (const inv of await outbox.recent(opts.retentionMs)) log.record(inv);
          lastEcho = performance.now();
          log.setLive(true);
          lostAnnounced = false;
          if (everLive) {
            logger.info("Invalidation channel live again", { caught_up: log.size() });
            opts.onRelive?.();
          }
          everLive = true;
          for (const w of liveWaiters) w();
          return;
        } catch (err) {
          if (!lostAnnounced) {
            lostAnnounced = true;
            logger.warn("Invalidation channel unavailable; retrying", { error: String(err) });
          }
          await Bun.sleep(Math.min(100 * 2 ** attempt, 2_000));
        }
      }
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  const heartbeat = setInterval(() => {
    if (!needsHeartbeat || closed || !log.live()) return;
    if (performance.now() - lastEcho > heartbeatTimeoutMs) {
      lose(`no heartbeat for ${heartbeatTimeoutMs} ms`);
      return;
    }
    heartbeatSentAt = performance.now();
    listener.notify(heartbeatChannel, "1").catch(() => {});
  }, heartbeatMs);
  heartbeat.unref?.();

  return {
    start(timeoutMs) {
      void connect();
      if (log.live()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(t);
          liveWaiters.delete(done);
          resolve(log.live());
        };
        const t = setTimeout(done, timeoutMs);
        liveWaiters.add(done);
      });
    },
    state: () => (log.live() ? "live" : "down"),
    heard(inv, timeoutMs) {
      const payload = encodeInvalidation(inv);
      if (recent.has(payload)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiters = echoWaiters.get(payload) ?? new Set<() => void>();
        echoWaiters.set(payload, waiters);
        const done = () => {
          clearTimeout(t);
          resolve(true);
        };
        const t = setTimeout(() => {
          waiters.delete(done);
          if (waiters.size === 0) echoWaiters.delete(payload);
          resolve(false);
        }, timeoutMs);
        waiters.add(done);
      });
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      log.setLive(false);
      await listener.close();
    },
  };
}
