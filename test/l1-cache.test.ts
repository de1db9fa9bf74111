// The in-process tier (L1) in front of Redis (L2): hits that touch neither Redis nor PostgreSQL,
// coherence through the invalidation log (a delete on this instance, a lost channel, Redis
// down), Cache-Status, the hot route served by Bun's router, and the bounds.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import postgres from "postgres";
import { memoryBytes } from "../src/cache/cache.ts";
import { createMemoryTier } from "../src/cache/memory-tier.ts";
import { codecFor, imageCacheKey, type CachedImage } from "../src/images/image-cache.ts";
import { hotRoutes } from "../src/images/hot-path.ts";
import { createInvalidationLog } from "../src/invalidation/log.ts";
import { serveOptions } from "../src/server.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

const L1_HIT = "chitram-l1; hit";

/** Calls Redis has answered so far, by command (INFO commandstats), e.g. { getrange: 3 }. */
async function redisCalls(redis: TestRedis): Promise<Record<string, number>> {
  const info = await redis.command("INFO", "commandstats");
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}
/** Data commands (everything but the breaker's PING, the integrity check's GET of the epoch marker and INFO itself). */
const dataCalls = (c: Record<string, number>) =>
  Object.entries(c).filter(([k]) => !["ping", "info", "get"].includes(k)).reduce((n, [, v]) => n + v, 0);

describe.if(HAVE_POSTGRES && HAVE_REDIS)("the in-process tier on real Redis and PostgreSQL", () => {
  let redis: TestRedis;
  let h: Harness;
  let imageQueries = 0;
  let sql: postgres.Sql;
  beforeAll(async () => {
    redis = await startTestRedis();
    h = await createHarness({
      db: "postgres",
      redisUrl: redis.url,
      databaseOptions: { logQuery: (q) => void (q.includes('"images"') && imageQueries++) },
    });
    sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  }, 30_000);
  afterAll(async () => {
    await h.close();
    await redis.stop();
    await sql.end();
  });

  async function upload() {
    const res = await h.upload(makePng(), "l1.png");
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; delete_token: string };
  }

  test("a hit from L1 sends no Redis command and no query (counted), and says so in Cache-Status", async () => {
    const { id } = await upload();
    h.deps.memory.delete(imageCacheKey("chitram", id));
    const first = await h.request(`/api/v1/images/${id}`);
    expect(first.headers.get("x-cache")).toBe("HIT");
    expect(first.headers.get("cache-status")).toBe("chitram-l2; hit, chitram-l1; fwd=miss");
    const body = await first.json();

    const calls = await redisCalls(redis);
    const queries = imageQueries;
    for (let i = 0; i < 50; i++) {
      const res = await h.request(`/api/v1/images/${id}`);
      expect(res.headers.get("x-cache")).toBe("HIT");
      expect(res.headers.get("cache-status")).toBe(L1_HIT);
      expect(await res.json()).toEqual(body);
    }
    expect(dataCalls(await redisCalls(redis)) - dataCalls(calls)).toBe(0);
    expect(imageQueries - queries).toBe(0);
  });

  test("a miss in both tiers loads once from the database and fills both", async () => {
    const { id } = await upload();
    const key = imageCacheKey("chitram", id);
    h.deps.memory.delete(key);
    await redis.command("DEL", key);
    const queries = imageQueries;
    const miss = await h.request(`/api/v1/images/${id}`);
    expect(miss.headers.get("x-cache")).toBe("MISS");
    expect(miss.headers.get("cache-status")).toBe("chitram-l2; fwd=miss, chitram-l1; fwd=miss");
    expect(imageQueries - queries).toBe(1);
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
    expect(await redis.command("EXISTS", key)).toBe(":1");
  });

  test("Bun's router answers the hot route from L1 exactly as the app does, with no Redis command or query", async () => {
    const { id } = await upload();
    const server = Bun.serve(serveOptions({ ...h.deps.config, HOST: "127.0.0.1", PORT: 0 }, h.app, h.deps.logger, hotRoutes(h.deps, h.app)));
    try {
      const url = `http://127.0.0.1:${server.port}/api/v1/images/${id}`;
      const viaApp = await h.request(`/api/v1/images/${id}`);
      const calls = await redisCalls(redis);
      const queries = imageQueries;
      const logged = h.logs.length;
      const hot = await fetch(url);
      expect(hot.status).toBe(200);
      expect(await hot.text()).toBe(await viaApp.text());
      for (const name of ["content-type", "x-cache", "cache-status"]) expect(`${name}: ${hot.headers.get(name)}`).toBe(`${name}: ${viaApp.headers.get(name)}`);
      expect(hot.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(dataCalls(await redisCalls(redis)) - dataCalls(calls)).toBe(0);
      expect(imageQueries - queries).toBe(0);
      // The same access-log line as the app writes.
      const line = JSON.parse(h.logs.slice(logged).find((l) => l.includes('"msg":"request"'))!);
      expect(line).toMatchObject({ level: "info", method: "GET", path: `/api/v1/images/${id}`, status: 200, request_id: hot.headers.get("x-request-id"), client_ip: "127.0.0.1" });
      expect(line.bytes).toBe(Number(hot.headers.get("content-length")));
      // An X-Request-Id to echo, an upper-case id, a HEAD: the app answers them.
      expect((await fetch(url, { headers: { "X-Request-Id": "mine-1" } })).headers.get("x-request-id")).toBe("mine-1");
      expect((await fetch(url.toUpperCase().replace("HTTP://127.0.0.1", "http://127.0.0.1").replace("/API/V1/IMAGES/", "/api/v1/images/"))).status).toBe(200);
      expect((await fetch(url, { method: "HEAD" })).headers.get("content-length")).toBe(hot.headers.get("content-length"));
      // And after a delete, the router finds no entry: the app answers 404.
      const { id: gone, delete_token } = await upload();
      await fetch(`http://127.0.0.1:${server.port}/api/v1/images/${gone}`);
      expect((await fetch(`http://127.0.0.1:${server.port}/api/v1/images/${gone}`, { method: "DELETE", headers: { "X-Delete-Token": delete_token } })).status).toBe(204);
      expect((await fetch(`http://127.0.0.1:${server.port}/api/v1/images/${gone}`)).status).toBe(404);
    } finally {
      server.stop(true);
    }
  });

  test("a delete on this instance is never served from L1 afterwards", async () => {
    for (let i = 0; i < 5; i++) {
      const { id, delete_token } = await upload();
      expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
      expect((await h.request(`/api/v1/images/${id}`, { method: "DELETE", headers: { "X-Delete-Token": delete_token } })).status).toBe(204);
      expect(h.deps.memory.get(imageCacheKey("chitram", id))).toBeUndefined();
      expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    }
  });

  test("a lost invalidation channel empties L1 and bypasses it until the channel is back and caught up", async () => {
    const { id } = await upload();
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
    expect(h.deps.memory.size()).toBeGreaterThan(0);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const outbox = h.deps.invalidations.outbox;
    const real = outbox.recent.bind(outbox);
    const held = spyOn(outbox, "recent").mockImplementation(async (ms) => {
      await gate;
      return real(ms);
    });
    try {
      const [killed] = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ${`chitram:listen:${h.deps.instanceId}`}`;
      expect(killed?.ok).toBe(true);
      await eventually(async () => h.deps.invalidations.channelState() === "down", 3_000, 20, "channel down");
      expect(h.deps.memory.size()).toBe(0);
      const during = await h.request(`/api/v1/images/${id}`);
      expect(during.status).toBe(200);
      expect(during.headers.get("x-cache")).toBe("DISABLED");
      expect(during.headers.get("cache-status")).toBe("chitram-l2; fwd=bypass, chitram-l1; fwd=bypass");
      expect(h.deps.memory.size()).toBe(0); // nothing is stored while bypassed
      release();
      await eventually(async () => h.deps.invalidations.channelState() === "live", 5_000, 20, "channel live");
      expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe("chitram-l2; hit, chitram-l1; fwd=miss");
      expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
    } finally {
      release();
      held.mockRestore();
    }
  }, 20_000);

  test("Redis killed: L1 is bypassed (X-Cache DISABLED, as before); once Redis is back it serves again", async () => {
    const { id } = await upload();
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
    await redis.kill();
    try {
      await eventually(async () => h.deps.cache.state() === "disconnected", 3_000, 20, "breaker open");
      const res = await h.request(`/api/v1/images/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-cache")).toBe("DISABLED");
      expect(res.headers.get("cache-status")).toBe("chitram-l2; fwd=bypass, chitram-l1; fwd=bypass");
    } finally {
      await redis.start();
    }
    await eventually(async () => h.deps.cache.state() === "connected", 10_000, 50, "breaker closed");
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("cache-status")).toBe(L1_HIT);
  }, 20_000);
});

describe("the in-process tier's bounds", () => {
  const image = (i: number): CachedImage => {
    const id = `${i.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`;
    return {
      id, filename: `photo-${i}.jpg`, storageKey: `${id}.jpg`, contentType: "image/jpeg", fileSize: 1000 + i, createdAt: new Date(), width: 640, height: 480,
      userId: null, thumbnailKey: null, thumbnailSha256: null, thumbnailError: null, sha256: "a".repeat(64), version: 1,
    };
  };

  test("100k distinct ids: it stays within its byte limit (and its entry limit), evicting the oldest", () => {
    const log = createInvalidationLog({ ttlMs: 3_600_000 });
    log.setLive(true);
    const maxBytes = 4 * 1024 * 1024;
    const tier = createMemoryTier(log, { maxEntries: 1_000_000, maxBytes, ttlMs: 60_000 });
    const codec = codecFor("chitram");
    Bun.gc(true);
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = 0;
    for (let i = 0; i < 100_000; i++) {
      const v = image(i);
      const now = Date.now();
      tier.set(imageCacheKey("chitram", v.id), v, 1, now, memoryBytes(codec.encode(v, now).length));
      peak = Math.max(peak, tier.bytes());
    }
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(tier.size()).toBeGreaterThan(1_000);
    expect(tier.size()).toBeLessThan(100_000);
    expect(tier.evictions().size).toBe(100_000 - tier.size());
    // The newest are kept, the oldest went.
    expect(tier.get(imageCacheKey("chitram", image(99_999).id))).toBeDefined();
    expect(tier.get(imageCacheKey("chitram", image(0).id))).toBeUndefined();
    // The accounting is an estimate; what the process really holds for it is of the same order.
    Bun.gc(true);
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    expect(heapGrowth).toBeLessThan(2 * maxBytes);

    const small = createMemoryTier(log, { maxEntries: 100, maxBytes, ttlMs: 60_000 });
    for (let i = 0; i < 1_000; i++) small.set(`k${i}`, image(i), 1, Date.now(), 500);
    expect(small.size()).toBe(100);
  });

  test("TTL backstop, invalidations and a lost log empty it; it stores nothing the log does not admit", async () => {
    const log = createInvalidationLog({ ttlMs: 3_600_000 });
    const tier = createMemoryTier(log, { maxEntries: 100, maxBytes: 1e6, ttlMs: 30 });
    expect(tier.set("k", image(1), 1, Date.now(), 100)).toBe(false); // log not live yet
    log.setLive(true);
    expect(tier.set("k", image(1), 1, Date.now(), 100)).toBe(true);
    await Bun.sleep(40);
    expect(tier.get("k")).toBeUndefined();
    expect(tier.evictions().ttl).toBe(1);

    const loadedAt = Date.now();
    tier.set("a", image(2), 1, loadedAt, 100);
    log.record({ key: "a", version: 2 });
    expect(tier.get("a")).toBeUndefined();
    expect(tier.set("a", image(2), 1, loadedAt, 100)).toBe(false); // a load older than the change
    expect(tier.set("a", image(2), 2, Date.now(), 100)).toBe(true);
    log.record({ key: "a", version: null });
    expect(tier.set("a", image(2), 2, Date.now(), 100)).toBe(false); // gone is final

    tier.set("b", image(3), 1, Date.now(), 100);
    log.setLive(false);
    expect(tier.size()).toBe(0);
    expect(tier.bytes()).toBe(0);
  });
});
