import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { failoverDrill, uploadImages, type Instance } from "./support/failover-drill.ts";
import { makePng } from "./support/images.ts";
import { startChitram, type ChitramProcess } from "./support/process.ts";
import { startTestSentinel, type TestSentinel } from "./support/redis-topology.ts";
import { startTestS3, type TestS3 } from "./support/s3-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS_CLUSTER_TOOLS, TEST_DATABASE_URL } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

// A fleet behaves as one: two chitram processes sharing PostgreSQL, Redis (a Sentinel group) and
// S3, as a deployment runs them behind a load balancer.
const RATE_LIMIT = 5;

describe.if(HAVE_POSTGRES && HAVE_REDIS_CLUSTER_TOOLS)("two chitram processes sharing PostgreSQL, Redis Sentinel and S3", () => {
  let s3: TestS3;
  let sentinel: TestSentinel;
  let a: ChitramProcess;
  let b: ChitramProcess;
  const over = (p: ChitramProcess, name: string): Instance => ({ name, request: (path, init) => fetch(`${p.url}${path}`, init) });
  const asClient = (ip: string) => ({ "X-Forwarded-For": ip });

  beforeAll(async () => {
    [s3, sentinel] = await Promise.all([startTestS3(), startTestSentinel({ replicas: 1, sentinels: 3 })]);
    const env = s3.env({
      DATABASE_URL: TEST_DATABASE_URL,
      CACHE_ENABLED: "true",
      REDIS_SENTINELS: sentinel.sentinels,
      REDIS_SENTINEL_MASTER: sentinel.masterName,
      RATE_LIMIT_ENABLED: "true",
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
      RATE_LIMIT_WINDOW_SECONDS: "60",
      TRUSTED_PROXIES: "127.0.0.1/32", // the test plays the load balancer: X-Forwarded-For names the client
    });
    [a, b] = await Promise.all([startChitram({ env }), startChitram({ env })]);
    for (const p of [a, b]) {
      await eventually(async () => (await (await fetch(`${p.url}/health`)).json()).cache === "connected", 15_000, 50, "cache connected");
    }
  }, 60_000);
  afterAll(async () => {
    await a?.destroy();
    await b?.destroy();
    await sentinel?.stop();
    await s3?.stop();
  });

  test("both report the shared backends healthy", async () => {
    for (const p of [a, b]) {
      expect(await (await fetch(`${p.url}/health`)).json()).toMatchObject({
        status: "healthy",
        database: "connected",
        cache: "connected",
        invalidations: "live",
        storage: "s3",
        storage_status: "ok",
        rate_limiter: "redis",
      });
    }
  });

  test("upload on A, read on B; delete on B, and A answers 404 for metadata and file at once", async () => {
    const bytes = makePng({ padTo: 3000 });
    const form = new FormData();
    form.append("file", new Blob([bytes]), "fleet.png");
    const up = await fetch(`${a.url}/api/v1/images/upload`, { method: "POST", body: form, headers: asClient("203.0.113.1") });
    expect(up.status).toBe(201);
    const { id, delete_token } = (await up.json()) as { id: string; delete_token: string };

    const meta = await fetch(`${b.url}/api/v1/images/${id}`);
    expect(meta.status).toBe(200);
    expect(meta.headers.get("x-cache")).toBe("HIT"); // A's upload populated the shared cache
    expect((await meta.json()).file_size).toBe(bytes.length);
    const file = await fetch(`${b.url}/api/v1/images/${id}/file`);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    const part = await fetch(`${b.url}/api/v1/images/${id}/file`, { headers: { Range: "bytes=8-15" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(8, 16));

    // A serves both (its in-process file facts and the Redis entry are warm) ...
    expect((await fetch(`${a.url}/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    await (await fetch(`${a.url}/api/v1/images/${id}/file`)).arrayBuffer();
    // ... B deletes; the very next requests to A are 404.
    expect((await fetch(`${b.url}/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    const [aMeta, aFile] = await Promise.all([fetch(`${a.url}/api/v1/images/${id}`), fetch(`${a.url}/api/v1/images/${id}/file`)]);
    expect([aMeta.status, aFile.status]).toEqual([404, 404]);
    expect((await aFile.json()).error.code).toBe("IMAGE_NOT_FOUND");
    expect(s3.requests.filter((r) => r.includes(id) && r.startsWith("HEAD"))).toEqual([]); // no existence round trips
  });

  test("one rate limit across the fleet: uploads alternate between A and B, and both refuse the one over", async () => {
    const client = asClient("203.0.113.99");
    for (let i = 0; i < RATE_LIMIT; i++) {
      const p = i % 2 === 0 ? a : b;
      const form = new FormData();
      form.append("file", new Blob([makePng()]), "r.png");
      const res = await fetch(`${p.url}/api/v1/images/upload`, { method: "POST", body: form, headers: client });
      expect(res.status).toBe(201);
      expect(res.headers.get("ratelimit-remaining")).toBe(String(RATE_LIMIT - 1 - i));
    }
    for (const p of [a, b]) {
      const form = new FormData();
      form.append("file", new Blob([makePng()]), "r.png");
      const res = await fetch(`${p.url}/api/v1/images/upload`, { method: "POST", body: form, headers: client });
      expect(res.status).toBe(429);
      expect((await res.json()).error.code).toBe("RATE_LIMIT_EXCEEDED");
    }
  });

  test("Redis fails over (master SIGKILLed) while both read and B deletes: no error, no stale read", async () => {
    // Each upload from its own client address, so the shared rate limit is not what is tested here.
    const images = await uploadImages(over(a, "a"), 30, (i) => asClient(`198.51.100.${i + 1}`));
    let promotedAfterMs = 0;
    const r = await failoverDrill({
      instances: [over(a, "a"), over(b, "b")],
      deleteOn: over(b, "b"),
      images,
      durationMs: 8_000,
      faultAtMs: 1_000,
      fault: async () => ({ promotedAfterMs } = await sentinel.killMaster()),
      readersPerInstance: 4,
    });
    console.log(
      `[failover] fleet of 2 processes on Sentinel + S3: replica promoted ${promotedAfterMs} ms after the kill; reads from the database for ${r.windowMs} ms; ` +
        `${r.requests} reads, ${r.deletes} deletes, ${r.errors.length} errors, ${r.staleReads.length} stale reads, slowest ${r.maxLatencyMs} ms, X-Cache ${JSON.stringify(r.xCache)}`,
    );
    expect(r.errors).toEqual([]);
    expect(r.staleReads).toEqual([]);
    expect(r.deletes).toBeGreaterThan(10);
    expect(r.windowMs).toBeLessThan(promotedAfterMs + 5_000);
    expect(s3.refused).toEqual([]);
  }, 60_000);
});
