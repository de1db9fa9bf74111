// After a DELETE's 204, no instance serves the image's metadata again — whatever Redis does.
// Two chitram instances (each with its own Redis connection, invalidation channel and log) share
// real PostgreSQL and a redis-server of this test's own, which the test freezes, cuts, restarts
// from an old snapshot, reloads, flushes and fills.
import { afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { createHarness, type DbKind, type Harness } from "../support/harness.ts";
import { makePng } from "../support/images.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "../support/services.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { eventually } from "../support/wait.ts";

const DB: DbKind = HAVE_POSTGRES ? "postgres" : "pglite";
const key = (id: string) => `chitram:image:${id}`;
// What eviction does to a tombstone, whatever it is named; returns how many it removed.
const DELETE_TOMBSTONES = "local n = 0 for _, k in ipairs(redis.call('KEYS', '*tombstone*')) do n = n + redis.call('DEL', k) end return n";

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function redisOf(args: string[] = []): Promise<TestRedis> {
  const redis = await startTestRedis({ args });
  cleanup.push(() => redis.stop());
  return redis;
}

// Each fault runs twice: with the Redis tier alone (every read reaches Redis), and with both tiers,
// the default (other instances' in-process copies must be gone by the 204 as well).
const TIERS = [
  { tiers: "the Redis tier alone", env: { CACHE_L1_MAX_ENTRIES: "0" }, l1: false },
  { tiers: "both tiers (the default)", env: {} as Record<string, string>, l1: true },
];
let tierEnv: Record<string, string> = {};

async function instance(redisUrl: string): Promise<Harness> {
  const h = await createHarness({ db: DB, redisUrl, env: tierEnv });
  cleanup.push(() => h.close());
  return h;
}

/** An image uploaded on `a`, cached in Redis and read once as a HIT on `b`. */
async function cachedImage(a: Harness, b: Harness, redis: TestRedis) {
  await eventually(async () => a.deps.cache.state() === "connected" && b.deps.cache.state() === "connected", 5_000, 20, "both caches connected");
  const res = await a.upload(makePng({ width: 3, height: 2 }), "x.png");
  expect(res.status).toBe(201);
  const { id, delete_token } = (await res.json()) as { id: string; delete_token: string };
  await eventually(async () => (await redis.command("EXISTS", key(id))) === ":1", 2_000);
  const hit = await b.request(`/api/v1/images/${id}`);
  expect(hit.headers.get("x-cache")).toBe("HIT");
  return { id, del: () => a.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" }) };
}

/** A read on `h` while Redis is frozen (of an id no tier holds): it times out and opens h's breaker. */
async function tripBreaker(h: Harness) {
  const res = await h.request(`/api/v1/images/${crypto.randomUUID()}`);
  expect(res.status).toBe(404);
  expect(h.deps.cache.state()).toBe("disconnected");
}

/** Reads on every instance: each must be 404 (never the deleted row). */
async function expectGoneEverywhere(id: string, ...instances: Harness[]) {
  for (const h of instances) {
    const res = await h.request(`/api/v1/images/${id}`);
    expect({ status: res.status, cache: res.headers.get("x-cache") }).toMatchObject({ status: 404 });
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(404);
  }
}

describe.if(HAVE_REDIS).each(TIERS)("no stale metadata after a 204, $tiers", ({ env, l1 }) => {
  beforeAll(() => void (tierEnv = env));

  test("a delete while Redis is frozen: the other instance, whose connection looks healthy, never serves the row when Redis thaws", async () => {
    const redis = await redisOf();
    const [a, b] = [await instance(redis.url), await instance(redis.url)];
    for (let round = 0; round < 5; round++) {
      const img = await cachedImage(a, b, redis);
      redis.freeze();
      try {
        await tripBreaker(a);
        expect((await img.del()).status).toBe(204);
      } finally {
        redis.thaw();
      }
      // b reads the moment Redis answers again (whether or not it noticed the freeze itself).
      await expectGoneEverywhere(img.id, b, a);
    }
  }, 30_000);

  test("a delete during an outage seen only by the deleter: the other instance never serves the row, and the entry is purged without the deleter", async () => {
    const redis = await redisOf();
    const proxy: TcpProxy = await startTcpProxy("127.0.0.1", redis.port);
    cleanup.push(() => proxy.close());
    const a = await instance(`redis://127.0.0.1:${proxy.port}`);
    const b = await instance(redis.url);
    for (let round = 0; round < 8; round++) {
      const img = await cachedImage(a, b, redis);
      proxy.cut();
      await eventually(async () => a.deps.cache.state() === "disconnected" || (await a.request("/health")).ok, 2_000);
      // b reads the very moment the 204 arrives: the delete answers only once b has acknowledged it.
      expect((await img.del()).status).toBe(204);
      await expectGoneEverywhere(img.id, b, a);
      // The outbox row is applied by the relay on b: the entry leaves Redis while a is still cut off.
      await eventually(async () => (await redis.command("EXISTS", key(img.id))) === ":0", 5_000, 50, "entry purged by another instance");
      proxy.restore();
    }
  }, 60_000);

  test("the deleter restarted while Redis is away: the invalidation survives it", async () => {
    const redis = await redisOf();
    let a = await instance(redis.url);
    const b = await instance(redis.url);
    const img = await cachedImage(a, b, redis);
    redis.freeze();
    try {
      await tripBreaker(a);
      expect((await img.del()).status).toBe(204);
      await a.close(); // whatever it remembered in memory dies with it
    } finally {
      redis.thaw();
    }
    a = await instance(redis.url);
    await expectGoneEverywhere(img.id, b, a);
    await eventually(async () => (await redis.command("EXISTS", key(img.id))) === ":0", 5_000, 50, "entry purged");
  }, 30_000);

  test("Redis restarted from a snapshot taken before the delete", async () => {
    const redis = await redisOf();
    const [a, b] = [await instance(redis.url), await instance(redis.url)];
    const img = await cachedImage(a, b, redis);
    expect(await redis.command("SAVE")).toBe("+OK");
    expect((await img.del()).status).toBe(204);
    await redis.restart(); // loads dump.rdb: the deleted row is back in Redis
    await eventually(async () => a.deps.cache.state() === "connected" && b.deps.cache.state() === "connected", 5_000);
    await expectGoneEverywhere(img.id, b, a);
  }, 30_000);

  test("DEBUG RELOAD of an old snapshot: refused at once, and noticed and re-applied without a reconnect", async () => {
    const redis = await redisOf(["--enable-debug-command", "yes"]);
    const [a, b] = [await instance(redis.url), await instance(redis.url)];
    const read = await cachedImage(a, b, redis);
    const unread = await cachedImage(a, b, redis);
    expect(await redis.command("SAVE")).toBe("+OK");
    expect((await read.del()).status).toBe(204);
    expect((await unread.del()).status).toBe(204);
    expect(await redis.command("DEBUG", "RELOAD", "NOSAVE")).toBe("+OK");
    expect(await redis.command("EXISTS", key(unread.id))).toBe(":1"); // rewound
    await expectGoneEverywhere(read.id, b, a);
    // Nobody reads `unread`; the epoch marker went back, so the instances re-apply recent invalidations.
    await eventually(async () => (await redis.command("EXISTS", key(unread.id))) === ":0", 5_000, 50, "rewind noticed and re-applied");
  }, 30_000);

  // A slow read that misses both tiers and writes back late: a Redis-tier fault (an in-process
  // copy would answer before the slow load).
  for (const loss of l1 ? [] : (["FLUSHALL", "tombstone eviction"] as const)) {
    test(`${loss} during a slow read that loaded the row before the delete: the late write-back never resurrects it`, async () => {
      const redis = await redisOf();
      const [a, b] = [await instance(redis.url), await instance(redis.url)];
      const img = await cachedImage(a, b, redis);
      await redis.command("DEL", key(img.id)); // b's next read is a miss that loads from the database

      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let loaded!: () => void;
      const loadedBeforeDelete = new Promise<void>((r) => (loaded = r));
      const real = b.deps.repo.findById.bind(b.deps.repo);
      const slow = spyOn(b.deps.repo, "findById").mockImplementation(async (id) => {
        const row = await real(id);
        loaded();
        await gate;
        return row;
      });
      cleanup.push(() => slow.mockRestore());

      const slowRead = b.request(`/api/v1/images/${img.id}`);
      await loadedBeforeDelete;
      expect((await img.del()).status).toBe(204);
      if (loss === "FLUSHALL") await redis.command("FLUSHALL");
      else expect(Number((await redis.command("EVAL", DELETE_TOMBSTONES, "0")).slice(1))).toBeGreaterThan(0);
      release();
      expect((await slowRead).status).toBe(200); // it began before the delete: that answer is fine
      slow.mockRestore();
      await Bun.sleep(50);
      await expectGoneEverywhere(img.id, b, a);
    }, 30_000);
  }

  test("Redis full with noeviction: the delete still removes the entry, and nothing stale is served", async () => {
    const redis = await redisOf(["--maxmemory-policy", "noeviction"]);
    const [a, b] = [await instance(redis.url), await instance(redis.url)];
    const img = await cachedImage(a, b, redis);
    // Fill it with 4 MB, then lower the limit well below that: every write is refused with OOM.
    for (let i = 0; i < 64; i++) await redis.command("SETRANGE", `filler:${i}`, String(64 * 1024), "x");
    expect(await redis.command("CONFIG", "SET", "maxmemory", "1mb")).toBe("+OK");
    expect(await redis.command("SET", "probe", "1")).toStartWith("-OOM");
    expect((await img.del()).status).toBe(204);
    expect(await redis.command("EXISTS", key(img.id))).toBe(":0"); // deleted at once, full or not
    await expectGoneEverywhere(img.id, b, a);
    // A refused cache write (OOM) is the cache's problem, not an outage: the breaker stays closed.
    expect((await a.upload(makePng(), "full.png")).status).toBe(201);
    expect(a.deps.cache.state()).toBe("connected");
    expect(b.deps.cache.state()).toBe("connected");
  }, 30_000);
});
