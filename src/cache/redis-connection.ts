import { createClient, createCluster, createSentinel, ErrorReply, type RedisClientType } from "redis";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";

export type RedisState = "connected" | "disconnected";

/**
 * The commands chitram sends. A single node, the master a Sentinel group points to, and a Cluster
 * (each command routed by its first key's hash slot) all answer them the same way.
 */
export type RedisCommands = Pick<RedisClientType, "get" | "getRange" | "del" | "eval" | "incr">;

type HostPort = { host: string; port: number };

/** Where Redis is: one node, a Sentinel-managed master, or a Cluster. */
export type RedisTopology =
  | { kind: "single"; url: string }
  | { kind: "sentinel"; sentinels: HostPort[]; masterName: string; password?: string; sentinelPassword?: string; database: number }
  | { kind: "cluster"; nodes: HostPort[]; password?: string };

/**
 * One Redis deployment guarded by a breaker. Every command goes through `run`, which
 *  - skips Redis at once while the breaker is open (returns `SKIPPED`), so no request waits on a
 *    Redis that is known to be down;
 *  - races each call against `commandTimeoutMs`: a frozen Redis (SIGSTOP) keeps the socket open
 *    and no client option bounds a command already written to it;
 *  - opens the breaker on the first failure or timeout of the connection; an error reply from the
 *    server (OOM when Redis is full, WRONGTYPE on a foreign key) is the caller's to handle and
 *    leaves the breaker closed.
 * While open, a background probe PINGs (every master, on a Cluster) every `probeIntervalMs`,
 * runs the `onRecover` hooks (re-applying invalidations) and closes the breaker.
 *
 * Sentinel and Cluster use node-redis' own clients (`createSentinel`, `createCluster`), which
 * follow a failover by themselves; the breaker covers the moments in between: commands to a
 * master that died fail or time out, the breaker opens (reads go to the database), and it closes
 * once the promoted master answers and every recent invalidation has been re-applied to it (a
 * replica may have been promoted without the last writes it was sent).
 */
export type RedisConnection = {
  state(): RedisState;
  run<T>(op: (client: RedisCommands) => Promise<T>): Promise<T | typeof SKIPPED>;
  /**
   * Runs `op` even while the breaker is open, if the client is connected, within `timeoutMs`; a
   * failure leaves the breaker as it is. For the rare write that matters more than speed (a
   * delete's purge): an open breaker may only mean this process stalled, not that Redis is gone.
   */
  attempt<T>(op: (client: RedisCommands) => Promise<T>, timeoutMs: number): Promise<T | typeof SKIPPED>;
  /** Runs before the breaker closes after an outage; if it fails the breaker stays open. */
  onRecover(hook: (client: RedisCommands) => Promise<void>): void;
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
  /** Told each time the breaker opens or closes (/metrics). */
  onBreaker?: (open: boolean) => void;
};

export function redisUrlFromConfig(c: Config): string {
  if (c.REDIS_URL) return c.REDIS_URL;
  const auth = c.REDIS_PASSWORD ? `:${encodeURIComponent(c.REDIS_PASSWORD)}@` : "";
  return `redis://${auth}${c.REDIS_HOST}:${c.REDIS_PORT}/${c.REDIS_DB}`;
}

export function redisTopologyFromConfig(c: Config): RedisTopology {
  if (c.REDIS_SENTINELS) {
    return {
      kind: "sentinel",
      sentinels: c.REDIS_SENTINELS,
      masterName: c.REDIS_SENTINEL_MASTER,
      password: c.REDIS_PASSWORD,
      sentinelPassword: c.REDIS_SENTINEL_PASSWORD,
      database: c.REDIS_DB,
    };
  }
  if (c.REDIS_CLUSTER_NODES) return { kind: "cluster", nodes: c.REDIS_CLUSTER_NODES, password: c.REDIS_PASSWORD };
  return { kind: "single", url: redisUrlFromConfig(c) };
}

/** Where the log says it is connecting, without secrets. */
export function describeTopology(t: RedisTopology): string {
  const list = (nodes: HostPort[]) => nodes.map((n) => `${n.host}:${n.port}`).join(",");
  if (t.kind === "single") return redactUrl(t.url);
  if (t.kind === "sentinel") return `sentinel ${t.masterName} via ${list(t.sentinels)}`;
  return `cluster via ${list(t.nodes)}`;
}

class DeadlineError extends Error {
  override name = "DeadlineError";
}

/** What the breaker needs of a node-redis client, whichever kind it is. */
type Backend = {
  commands: RedisCommands;
  isReady(): boolean;
  /** Answers only if every master does. */
  ping(): Promise<unknown>;
  connect(): Promise<unknown>;
  on(event: string, fn: (...args: unknown[]) => void): void;
  destroy(): void;
};

function createBackend(topology: RedisTopology, opts: RedisConnectionOptions): Backend {
  const socket = {
    connectTimeout: opts.connectTimeoutMs ?? 1_000,
    keepAlive: true,
    // Retry forever, quickly at first, never more than ~1 s apart; jitter spreads many instances.
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) + Math.floor(Math.random() * 100),
  };
  // Reject at once while reconnecting instead of queueing (default would hold requests). No
  // per-command timeout option: it allocates a timer signal per command (~5% of a cache hit);
  // `run` bounds waiting, and while the breaker is open only the probe's PINGs are sent.
  if (topology.kind === "single") {
    const client = createClient({ url: topology.url, disableOfflineQueue: true, socket }) as RedisClientType;
    return {
      commands: client,
      isReady: () => client.isReady,
      ping: () => client.ping(),
      connect: () => client.connect(),
      on: (event, fn) => void client.on(event, fn),
      destroy: () => client.destroy(),
    };
  }
  if (topology.kind === "sentinel") {
    const sentinel = createSentinel({
      name: topology.masterName,
      sentinelRootNodes: topology.sentinels,
      nodeClientOptions: { password: topology.password, database: topology.database, disableOfflineQueue: true, socket },
      sentinelClientOptions: { password: topology.sentinelPassword, socket },
      // Errors of the master's client reach our breaker at once, not only through a failed command.
      passthroughClientErrorEvents: true,
      // Start-up gives up after this many topology reads (1 s apart); `connect` below retries.
      maxCommandRediscovers: 3,
    });
    return {
      commands: sentinel as unknown as RedisCommands,
      isReady: () => sentinel.isReady,
      ping: () => sentinel.ping(),
      connect: () => sentinel.connect(),
      on: (event, fn) => void sentinel.on(event, fn),
      destroy: () => void sentinel.destroy().catch(() => {}),
    };
  }
  const cluster = createCluster({
    rootNodes: topology.nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
    defaults: { password: topology.password, disableOfflineQueue: true, socket },
    // 0: no per-command timer (the cluster client's default is 5 s each), as above.
    commandOptions: { timeout: 0 },
    // A master that stops answering makes the client re-read the topology this soon, so a
    // promoted replica is found without waiting for a MOVED reply.
    topologyRefreshOnReconnectionAttemptStrategy: 250,
  });
  return {
    commands: cluster as unknown as RedisCommands,
    isReady: () => cluster.isReady,
    async ping() {
      if (cluster.masters.length === 0) throw new Error("no cluster masters known");
      await Promise.all(cluster.masters.map(async (m) => (await cluster.nodeClient(m)).ping()));
    },
    connect: () => cluster.connect(),
    on(event, fn) {
      cluster.on(event, fn);
      // A node's connection errors and readiness, per node.
      if (event === "error") cluster.on("node-error", fn);
      if (event === "ready") cluster.on("node-ready", fn);
    },
    destroy: () => cluster.destroy(),
  };
}

export function createRedisConnection(topology: RedisTopology | string, logger: Logger, opts: RedisConnectionOptions = {}): RedisConnection {
  const where: RedisTopology = typeof topology === "string" ? { kind: "single", url: topology } : topology;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 100;
  const probeIntervalMs = opts.probeIntervalMs ?? 500;
  let backend = createBackend(where, opts);

  let open = true; // breaker starts open until the first successful PING
  let lastReason = "not connected yet";
  let announcedDown = false;
  let closed = false;
  let probing = false;
  const recoverHooks: Array<(client: RedisCommands) => Promise<void>> = [];
  const readyWaiters = new Set<() => void>();

  function attach(b: Backend) {
    // node-redis emits an error on every failed reconnect; log state changes only. Sentinel's
    // internals sometimes emit plain strings.
    b.on("error", (err) => {
      if (b === backend) trip(err instanceof Error ? err.message || err.name : String(err));
    });
    b.on("ready", () => void probe());
  }
  attach(backend);

  function trip(reason: string) {
    lastReason = reason;
    for (const w of readyWaiters) w(); // start-up need not wait for a Redis that refused
    if (!open) {
      open = true;
      opts.onBreaker?.(true);
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
    const b = backend;
    if (probing || closed || !open || !b.isReady()) return;
    probing = true;
    try {
      await withDeadline(b.ping());
      for (const hook of recoverHooks) await withDeadline(hook(b.commands), RECOVER_TIMEOUT_MS);
      if (b !== backend || closed) return;
      open = false;
      opts.onBreaker?.(false);
      logger.info("Redis cache connected", { redis: describeTopology(where), ...(announcedDown ? { after: lastReason } : {}) });
      for (const w of readyWaiters) w();
    } catch (err) {
      lastReason = (err as Error).message;
    } finally {
      probing = false;
    }
  }

  const probeTimer = setInterval(() => void probe(), probeIntervalMs);
  probeTimer.unref?.();
  // A single node's client reconnects by itself forever. Sentinel and Cluster clients give up
  // when no node answers at start-up: then a fresh client tries again, with backoff.
  void (async () => {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await backend.connect();
        return;
      } catch (err) {
        if (closed) return;
        trip(err instanceof Error ? err.message : String(err));
        backend.destroy();
        await Bun.sleep(Math.min(200 * 2 ** attempt, 2_000));
        if (closed) return;
        backend = createBackend(where, opts);
        attach(backend);
      }
    }
  })();

  return {
    state: () => (open ? "disconnected" : "connected"),
    async run(op) {
      if (open || closed) return SKIPPED;
      try {
        return await withDeadline(op(backend.commands));
      } catch (err) {
        if (!(err instanceof ErrorReply)) trip((err as Error).message || String(err));
        throw err;
      }
    },
    async attempt(op, timeoutMs) {
      if (closed || !backend.isReady()) return SKIPPED;
      return withDeadline(op(backend.commands), timeoutMs);
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
            logger.warn("Redis cache unavailable; serving from the database and connecting in the background", { reason: lastReason, redis: describeTopology(where) });
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
        backend.destroy();
      } catch {
        // already closed
      }
    },
  };
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
