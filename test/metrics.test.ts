// /metrics: Prometheus' text format that Prometheus' own parser accepts (promtool), with the
// request, cache, breaker, invalidation, database, upload, rate-limit and job metrics.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMetrics } from "../src/metrics/metrics.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { runChitram, startChitram } from "./support/process.ts";
import { promtoolCheck, sample } from "./support/promtool.ts";
import { spareTcpPort, startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_PROMTOOL, HAVE_REDIS } from "./support/services.ts";

const FAMILIES = [
  "chitram_http_request_duration_seconds",
  "chitram_cache_reads_total",
  "chitram_cache_l1_entries",
  "chitram_cache_l1_bytes",
  "chitram_redis_breaker_open",
  "chitram_redis_breaker_transitions_total",
  "chitram_invalidation_channel_live",
  "chitram_invalidation_lag_seconds",
  "chitram_invalidation_outbox_backlog",
  "chitram_db_query_duration_seconds",
  "chitram_db_pool_connections",
  "chitram_upload_bytes_total",
  "chitram_upload_refusals_total",
  "chitram_rate_limit_refusals_total",
  "chitram_thumbnail_jobs",
];

describe.if(HAVE_POSTGRES && HAVE_REDIS)("/metrics", () => {
  let redis: TestRedis;
  let h: Harness;
  beforeAll(async () => {
    redis = await startTestRedis();
    // A private pool whose calls the metrics observe, as buildDeps' own pool is.
    const metrics = createMetrics();
    h = await createHarness({
      db: "postgres",
      redisUrl: redis.url,
      databaseOptions: { observeQuery: metrics.query },
      build: { metrics },
      env: { RATE_LIMIT_ENABLED: "true", RATE_LIMIT_PER_MINUTE: "3", MAX_FILE_SIZE_MB: "1" },
    });
  }, 30_000);
  afterAll(async () => {
    await h.close();
    await redis.stop();
  });

  test.if(HAVE_PROMTOOL)("parses with promtool and counts requests by route pattern, cache reads by tier, refusals by reason", async () => {
    const png = makePng();
    const up = await h.upload(png, "m.png");
    expect(up.status).toBe(201);
    const { id, file_size } = (await up.json()) as { id: string; file_size: number };
    for (let i = 0; i < 3; i++) expect((await h.request(`/api/v1/images/${id}`)).status).toBe(200);
    expect((await h.request("/api/v1/images/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await h.request("/no/such/route")).status).toBe(404);
    expect((await h.upload(makePng({ padTo: 2 * 1024 * 1024 }), "big.png")).status).toBe(413);
    expect((await h.upload(new TextEncoder().encode("not an image"), "x.txt")).status).toBe(400);
    expect((await h.upload(png, "limited.png")).status).toBe(429);

    const res = await h.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    if (process.env.SHOW_METRICS) console.log(text);
    const check = await promtoolCheck(text);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    for (const f of FAMILIES) expect(text).toContain(`# TYPE ${f} `);

    const count = (route: string, method: string, status: number) =>
      sample(text, `chitram_http_request_duration_seconds_count{route="${route}",method="${method}",status="${status}"}`);
    expect(count("/api/v1/images/:id", "GET", 200)).toBe(3);
    expect(count("/api/v1/images/:id", "GET", 404)).toBe(1);
    expect(count("unmatched", "GET", 404)).toBe(1);
    expect(count("/api/v1/images/upload", "POST", 201)).toBe(1);
    expect(sample(text, 'chitram_cache_reads_total{tier="l1",result="hit"}')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'chitram_upload_refusals_total{reason="FILE_TOO_LARGE"}')).toBe(1);
    expect(sample(text, 'chitram_upload_refusals_total{reason="INVALID_FILE_FORMAT"}')).toBe(1);
    expect(sample(text, 'chitram_upload_refusals_total{reason="RATE_LIMIT_EXCEEDED"}')).toBe(1);
    expect(sample(text, 'chitram_rate_limit_refusals_total{route="/api/v1/images/upload"}')).toBe(1);
    expect(sample(text, "chitram_upload_bytes_total")).toBe(file_size);
    expect(sample(text, "chitram_invalidation_channel_live")).toBe(1);
    expect(sample(text, "chitram_redis_breaker_open")).toBe(0);
    expect(sample(text, 'chitram_redis_breaker_transitions_total{to="closed"}')).toBe(1);
    expect(sample(text, 'chitram_thumbnail_jobs{state="pending"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'chitram_db_pool_connections{state="max"}')).toBe(10);
    expect(sample(text, 'chitram_db_query_duration_seconds_count{outcome="ok"}')).toBeGreaterThan(0);
  });
});

// METRICS_PORT for one process (with WORKERS=2 the supervisor serves it: workers.test.ts).
describe("METRICS_PORT, one process", () => {
  test("/metrics answers on that port only, and a port already taken is one start-up line", async () => {
    const metricsPort = await spareTcpPort();
    const server = await startChitram({ env: { METRICS_PORT: String(metricsPort) } });
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      expect(await res.text()).toContain("chitram_http_request_duration_seconds");
      expect((await fetch(`http://127.0.0.1:${metricsPort}/health`)).status).toBe(404);

      // A second chitram whose METRICS_PORT is the one the first holds.
      const second = await runChitram({ env: { PORT: String(await spareTcpPort()), METRICS_PORT: String(metricsPort) } });
      expect(second.code).toBe(1);
      expect(second.stderr.trim().split("\n")).toEqual([expect.stringContaining(`cannot listen on 127.0.0.1:${metricsPort} for METRICS_PORT`)]);
    } finally {
      await server.destroy();
    }
  }, 60_000);
});
