import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { CacheEvents } from "../cache/cache.ts";
import { createRequestHistogram } from "./request-histogram.ts";

/** What a scrape also reads, at scrape time (set once the dependencies exist). */
export type MetricSources = {
  l1?: { size(): number; bytes(): number; evictions(): { size: number; ttl: number; invalidated: number } };
  breakerOpen?: () => boolean;
  channelLive?: () => boolean;
  outboxBacklog?: () => Promise<number>;
  thumbnailJobs?: () => Promise<{ pending: number; running: number; failed: number }>;
  dbPool?: { inFlight(): number; waiting(): number; limit: number };
  uploadSlots?: { active(): number; limit: number };
};

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * This process's metrics (prom-client), in Prometheus' text format. Counters and histograms are
 * this process's own; with WORKERS > 1 a scrape of any worker (or of METRICS_PORT, served by the
 * supervisor) gathers every worker's JSON and adds them up (prom-client's aggregator); gauges
 * that describe the fleet's shared state (outbox backlog, job queue) are read by each worker from
 * the database and aggregated with `max`, not summed.
 */
export type Metrics = {
  registry: Registry;
  /** One answered request: the route's pattern (e.g. /api/v1/images/:id), never the raw path. */
  request(route: string, method: string, status: number, seconds: number): void;
  cache: CacheEvents;
  breakerTransition(to: "open" | "closed"): void;
  heartbeatRtt(seconds: number): void;
  invalidationHeard(): void;
  query(seconds: number, outcome: "ok" | "error" | "deadline"): void;
  uploaded(bytes: number): void;
  /** A refused upload, by the error code (FILE_TOO_LARGE, INVALID_FILE_FORMAT, RATE_LIMIT_EXCEEDED …). */
  uploadRefused(reason: string): void;
  rateLimited(route: string): void;
  setSources(sources: MetricSources): void;
  /** This process's metrics as JSON (what a supervisor aggregates). */
  json(): Promise<MetricsJson>;
  /** The text exposition: this process's, or the fleet's when `fleet` is set. */
  render(): Promise<string>;
  /** Replaces `render` with one that gathers every worker (set in worker processes). */
  setFleet(gather: () => Promise<string>): void;
  readonly contentType: string;
};

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FAST_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const SCRAPE_READ_TIMEOUT_MS = 1_000;

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, Bun.sleep(ms).then(() => undefined)]).catch(() => undefined);

export function createMetrics(): Metrics {
  const registry = new Registry();
  let sources: MetricSources = {};
  let fleet: (() => Promise<string>) | undefined;

  const requests = createRequestHistogram(
    "chitram_http_request_duration_seconds",
    "HTTP requests by route pattern, method and status, and how long they took (the _count is the request count)",
    LATENCY_BUCKETS,
  );
  registry.registerMetric(requests);

  // Counted in plain numbers on the hot path and added to the counter when scraped (a labelled
  // increment hashes its labels: a visible share of an in-process hit).
  const cachePending = new Map<string, { tier: string; result: string; n: number }>();
  new Counter({
    name: "chitram_cache_reads_total",
    help: "Cache reads by tier (l1 in-process, l2 Redis) and result: hit, miss, stale (refused by the invalidation log), error, bypass (tier not usable)",
    labelNames: ["tier", "result"] as const,
    registers: [registry],
    collect() {
      for (const p of cachePending.values()) {
        if (p.n === 0) continue;
        this.inc({ tier: p.tier, result: p.result }, p.n);
        p.n = 0;
      }
    },
  });
  const l1Entries = new Gauge({ name: "chitram_cache_l1_entries", help: "Entries in the in-process tier", registers: [registry], collect() { this.set(sources.l1?.size() ?? 0); } });
  const l1Bytes = new Gauge({ name: "chitram_cache_l1_bytes", help: "Approximate bytes held by the in-process tier", registers: [registry], collect() { this.set(sources.l1?.bytes() ?? 0); } });
  const l1Evictions = new Gauge({
    name: "chitram_cache_l1_evictions",
    help: "Entries dropped from the in-process tier so far, by cause (size bound, TTL, invalidated)",
    labelNames: ["cause"] as const,
    registers: [registry],
    collect() {
      const e = sources.l1?.evictions() ?? { size: 0, ttl: 0, invalidated: 0 };
      this.set({ cause: "size" }, e.size);
      this.set({ cause: "ttl" }, e.ttl);
      this.set({ cause: "invalidated" }, e.invalidated);
    },
  });

  const breakerState = new Gauge({
    name: "chitram_redis_breaker_open",
    help: "1 while the Redis circuit breaker is open (reads go to the database); summed over workers",
    registers: [registry],
    collect() { this.set(sources.breakerOpen?.() ? 1 : 0); },
  });
  const breakerTransitions = new Counter({
    name: "chitram_redis_breaker_transitions_total",
    help: "Redis circuit breaker state changes, by the state entered",
    labelNames: ["to"] as const,
    registers: [registry],
  });

  const channelLive = new Gauge({
    name: "chitram_invalidation_channel_live",
    help: "1 while this process hears every committed invalidation (LISTEN/NOTIFY up and caught up); summed over workers",
    registers: [registry],
    collect() { this.set(sources.channelLive?.() ? 1 : 0); },
  });
  const heartbeat = new Histogram({
    name: "chitram_invalidation_lag_seconds",
    help: "Invalidation channel delivery lag: a NOTIFY sent through PostgreSQL until it is heard back on the listening connection (heartbeats, every 500 ms)",
    buckets: FAST_BUCKETS,
    registers: [registry],
  });
  const heard = new Counter({ name: "chitram_invalidations_heard_total", help: "Invalidations recorded by this process's log (its own commits and those heard from others)", registers: [registry] });
  const backlog = new Gauge({
    name: "chitram_invalidation_outbox_backlog",
    help: "Outbox invalidations not yet confirmed in Redis (fleet-wide, read from the database)",
    aggregator: "max",
    registers: [registry],
    async collect() {
      const n = sources.outboxBacklog ? await within(sources.outboxBacklog(), SCRAPE_READ_TIMEOUT_MS) : undefined;
      if (n !== undefined) this.set(n);
    },
  });

  const queries = new Histogram({
    name: "chitram_db_query_duration_seconds",
    help: "Database calls (waiting for a pool connection included) by outcome",
    labelNames: ["outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const pool = new Gauge({
    name: "chitram_db_pool_connections",
    help: "Database calls holding a pool connection (busy), waiting for one, and the pool size",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const p = sources.dbPool;
      if (!p) return;
      this.set({ state: "busy" }, p.inFlight());
      this.set({ state: "waiting" }, p.waiting());
      this.set({ state: "max" }, p.limit);
    },
  });

  const uploadBytes = new Counter({ name: "chitram_upload_bytes_total", help: "Bytes of images stored by uploads", registers: [registry] });
  const uploads = new Counter({ name: "chitram_uploads_total", help: "Images stored by uploads", registers: [registry] });
  const refusals = new Counter({
    name: "chitram_upload_refusals_total",
    help: "Uploads refused, by reason (the error code)",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: "chitram_rate_limit_refusals_total",
    help: "Requests refused by the rate limiter (429), by route",
    labelNames: ["route"] as const,
    registers: [registry],
  });
  const slots = new Gauge({
    name: "chitram_upload_slots_active",
    help: "Upload slots in use",
    registers: [registry],
    collect() { this.set(sources.uploadSlots?.active() ?? 0); },
  });
  const jobs = new Gauge({
    name: "chitram_thumbnail_jobs",
    help: "Thumbnail jobs of the fleet by state (pending = queue depth), read from the database",
    labelNames: ["state"] as const,
    aggregator: "max",
    registers: [registry],
    async collect() {
      const c = sources.thumbnailJobs ? await within(sources.thumbnailJobs(), SCRAPE_READ_TIMEOUT_MS) : undefined;
      if (!c) return;
      this.set({ state: "pending" }, c.pending);
      this.set({ state: "running" }, c.running);
      this.set({ state: "failed" }, c.failed);
    },
  });
  void [l1Entries, l1Bytes, l1Evictions, breakerState, channelLive, backlog, pool, slots, jobs];

  return {
    registry,
    request: (route, method, status, seconds) => requests.observe(route, method, status, seconds),
    cache: {
      read(tier, result) {
        const k = `${tier} ${result}`;
        const p = cachePending.get(k);
        if (p) p.n++;
        else cachePending.set(k, { tier, result, n: 1 });
      },
    },
    breakerTransition: (to) => breakerTransitions.inc({ to }),
    heartbeatRtt: (s) => heartbeat.observe(s),
    invalidationHeard: () => heard.inc(),
    query: (s, outcome) => queries.observe({ outcome }, s),
    uploaded(bytes) {
      uploads.inc();
      uploadBytes.inc(bytes);
    },
    uploadRefused: (reason) => refusals.inc({ reason }),
    rateLimited: (route) => rateLimited.inc({ route }),
    setSources(s) {
      sources = { ...sources, ...s };
    },
    json: () => registry.getMetricsAsJSON() as Promise<MetricsJson>,
    render: () => (fleet ? fleet() : registry.metrics()),
    setFleet(gather) {
      fleet = gather;
    },
    contentType: registry.contentType,
  };
}

/** Adds up several processes' metrics (each metric by its `aggregator`: sum unless said otherwise). */
export function aggregateMetrics(parts: MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
}
