import type { DatabaseHandle, NotificationListener } from "../db/client.ts";
import type { Logger } from "../logger.ts";
import { decodeInvalidation, type InvalidationLog } from "./log.ts";
import { INVALIDATION_CHANNEL, type OutboxRepo } from "./outbox.ts";

/** Heartbeats of every instance (payload: its id); each hears its own and its peers'. */
const PRESENCE_CHANNEL = "chitram_presence";
/** Barrier requests (`?<request> <from>`) and acknowledgements (`!<request> <from>`). */
const BARRIER_CHANNEL = "chitram_barrier";
/** Prefix of the presence message an instance sends as it closes, so no barrier waits for it. */
const GOODBYE = "-";
const GOODBYE_WAIT_MS = 250;

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
 *    channel can go unnoticed. Heartbeats go to a channel every instance hears, so each also
 *    knows which peers are live (their heartbeats arrive).
 * While not live, the caches serve from the database (X-Cache: DISABLED).
 *
 * `barrier` is for a change Redis could not confirm: other instances may still read the old copy
 * from Redis, so the change's answer waits until every live peer has acknowledged a request sent
 * after it committed. PostgreSQL delivers notifications to each listener in commit order, so a
 * peer that acknowledges has already recorded the invalidation: none of its later reads is stale.
 * Whom to wait for is decided when the request comes back to this instance's own listener: by
 * then it has heard every announcement committed before the change, and an instance announces
 * itself (and hears its echo) before it goes live, so a peer started a moment ago is waited for.
 */
export type InvalidationChannel = {
  /** Subscribes and catches up; resolves once live, or after `timeoutMs` (it keeps trying). */
  start(timeoutMs: number): Promise<boolean>;
  state(): ChannelState;
  /**
   * Resolves true once every live peer has heard everything committed before the call (see
   * above), false after `timeoutMs`.
   */
  barrier(timeoutMs: number): Promise<boolean>;
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
  const me = opts.instanceId;
  let closed = false;
  let connecting: Promise<void> | undefined;
  let lastEcho = 0;
  let heartbeatSentAt = 0;
  let everLive = false;
  let lostAnnounced = false;
  const liveWaiters = new Set<() => void>();
  const peers = new Map<string, number>(); // instance id → when its last heartbeat arrived
  // A barrier's peers are decided when its own request comes back (`waiting`); acks before that are kept.
  const barriers = new Map<string, { waiting?: Set<string>; acked: Set<string>; done: () => void }>();
  const echoWaiters = new Set<() => void>();

  const listener: NotificationListener = database.openListener({
    name: `chitram:listen:${opts.instanceId}`,
    onNotify(channel, payload) {
      if (channel === INVALIDATION_CHANNEL) {
        const inv = decodeInvalidation(payload);
        if (inv) log.record(inv);
      } else if (channel === PRESENCE_CHANNEL) {
        if (payload === me) {
          lastEcho = performance.now();
          if (heartbeatSentAt > 0) opts.onHeartbeat?.((lastEcho - heartbeatSentAt) / 1000);
          heartbeatSentAt = 0;
          for (const w of echoWaiters) w();
        } else if (payload.startsWith(GOODBYE)) {
          peers.delete(payload.slice(GOODBYE.length));
        } else peers.set(payload, performance.now());
      } else if (channel === BARRIER_CHANNEL) {
        const [request, from] = payload.slice(1).split(" ");
        if (!request || !from) return;
        const b = barriers.get(request);
        if (payload[0] === "?") {
          if (from !== me) {
            // Acknowledged live or not: an instance that is not live serves nothing from its caches.
            listener.notify(BARRIER_CHANNEL, `!${request} ${me}`).catch(() => {});
          } else if (b) {
            // Our own request came back: every notification committed before it has reached this
            // listener, so every peer that announced itself before the change is in `peers` now.
            b.waiting = new Set([...peers.keys()].filter((id) => !b.acked.has(id)));
            if (b.waiting.size === 0) b.done();
          }
        } else if (payload[0] === "!" && b && from !== me) {
          if (b.waiting) {
            if (b.waiting.delete(from) && b.waiting.size === 0) b.done();
          } else b.acked.add(from);
        }
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
          await listener.listen([INVALIDATION_CHANNEL, PRESENCE_CHANNEL, BARRIER_CHANNEL]);
          // Subscribed first, then caught up: nothing committed after this point can be missed.
          for (const inv of await outbox.recent(opts.retentionMs)) log.record(inv);
          // Announced before live: a peer's barrier sent after a change that committed after this
          // announcement waits for us (see `barrier`); a change committed before it reached our
          // listener before the echo (one connection hears notifications in commit order).
          if (needsHeartbeat) await announce();
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

  /** Sends a heartbeat and waits until it comes back on the listening connection. */
  function announce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        echoWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(() => {
        echoWaiters.delete(done);
        reject(new Error(`no echo of the announcement within ${heartbeatTimeoutMs} ms`));
      }, heartbeatTimeoutMs);
      echoWaiters.add(done);
      listener.notify(PRESENCE_CHANNEL, me).catch((err) => {
        clearTimeout(t);
        echoWaiters.delete(done);
        reject(err);
      });
    });
  }

  const heartbeat = setInterval(() => {
    if (!needsHeartbeat || closed || !log.live()) return;
    if (performance.now() - lastEcho > heartbeatTimeoutMs) {
      lose(`no heartbeat for ${heartbeatTimeoutMs} ms`);
      return;
    }
    heartbeatSentAt = performance.now();
    listener.notify(PRESENCE_CHANNEL, me).catch(() => {});
    // Forget peers whose heartbeats stopped (gone, or their channel is down: they serve without caches).
    for (const [id, at] of peers) if (performance.now() - at > heartbeatTimeoutMs) peers.delete(id);
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
    barrier(timeoutMs) {
      // An embedded database has one process on it: there is nobody else to wait for.
      if (!needsHeartbeat) return Promise.resolve(true);
      const request = crypto.randomUUID();
      return new Promise((resolve) => {
        const finish = (ok: boolean) => {
          clearTimeout(t);
          barriers.delete(request);
          resolve(ok);
        };
        const t = setTimeout(() => finish(false), timeoutMs);
        barriers.set(request, { acked: new Set(), done: () => finish(true) });
        listener.notify(BARRIER_CHANNEL, `?${request} ${me}`).catch(() => finish(false));
      });
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      // Peers stop waiting for us at once, rather than for a barrier timeout until our heartbeats
      // are missed. Bounded: a database that hangs must not hold up a shutdown (peers then fall
      // back to missing our heartbeats).
      if (needsHeartbeat && log.live()) {
        const sent = listener.notify(PRESENCE_CHANNEL, GOODBYE + me).catch(() => {});
        await Promise.race([sent, Bun.sleep(GOODBYE_WAIT_MS)]);
      }
      log.setLive(false);
      await listener.close();
    },
  };
}
