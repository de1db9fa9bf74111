import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

// The cache depends on real Redis and real PostgreSQL behaviour: both are real here. Each
// describe owns its redis-server on a spare port and may kill, freeze or restart it.
// These are the Redis tier's tests, so the in-process tier in front of it is off here
// (CACHE_L1_MAX_ENTRIES=0); test/l1-cache.test.ts covers the two tiers together.
const DB: DbKind = HAVE_POSTGRES ? "postgres" : "pglite";

type Counted = Harness & { imageQueries(): number };

async function countingHarness(redis: TestRedis, env: Record<string, string> = {}): Promise<Counted> {
  let n = 0;
  const h = await createHarness({
    db: DB,
    redisUrl: redis.url,
    env: { CACHE_L1_MAX_ENTRIES: "0", ...env },
    databaseOptions: { logQuery: (q) => void (q.includes('"images"') && n++) },
  });
  return Object.assign(h, { imageQueries: () => n });
}

/** A redis-server of the test's own and a query-counting chitram on it. */
async function redisWithCountingHarness(): Promise<[TestRedis, Counted]> {
  const redis = await startTestRedis();
  return [redis, await countingHarness(redis)];
}

async function stopBoth(h: Harness, redis: TestRedis) {
  await h.close();
  await redis.stop();
}

async function upload(h: Harness) {
  const res = await h.upload(makePng(), "c.png");
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; delete_token: string };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

describe.if(HAVE_REDIS)("metadata cache on real Redis", () => {
  let redis: TestRedis;
  let h: Counted;
  beforeAll(async () => {
    [redis, h] = await redisWithCountingHarness();
  });
  afterAll(() => stopBoth(h, redis));

  test("start-up logs that the cache is connected", () => {
    expect(h.logs.some((l) => JSON.parse(l).msg === "Redis cache connected")).toBe(true);
  });

  test("upload populates {prefix}:image:{id} with the TTL", async () => {
    const { id } = await upload(h);
    const raw = await redis.command("GET", `chitram:image:${id}`);
    expect(JSON.parse(raw).id).toBe(id);
    const ttl = Number(await redis.command("TTL", `chitram:image:${id}`).then((s) => s.slice(1)));
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  test("after eviction: first GET is a MISS that queries the database, the next a HIT that does not", async () => {
    const { id } = await upload(h);
    await redis.command("DEL", `chitram:image:${id}`);
    let q = h.imageQueries();
    const miss = await h.request(`/api/v1/images/${id}`);
    expect(miss.headers.get("x-cache")).toBe("MISS");
    expect(h.imageQueries() - q).toBe(1);
    const missBody = await miss.json();

    q = h.imageQueries();
    const hit = await h.request(`/api/v1/images/${id}`);
    expect(hit.headers.get("x-cache")).toBe("HIT");
    expect(await hit.json()).toEqual(missBody);
    // The file route finds the bytes through the cached row, too.
    const file = await h.request(`/api/v1/images/${id}/file`);
    expect(file.status).toBe(200);
    await file.arrayBuffer();
    expect(h.imageQueries() - q).toBe(0);
  });

  test("concurrent misses for one key make a single database load", async () => {
    const { id } = await upload(h);
    await redis.command("DEL", `chitram:image:${id}`);
    const q = h.imageQueries();
    const all = await Promise.all(Array.from({ length: 25 }, () => h.request(`/api/v1/images/${id}`)));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(h.imageQueries() - q).toBe(1);
  });

  test("a corrupt or invalid value is a miss, is served from the database, and is repaired", async () => {
    const { id } = await upload(h);
    for (const bad of ["{not json", JSON.stringify({ id, filename: 42 }), "null"]) {
      await redis.command("SET", `chitram:image:${id}`, bad);
      const res = await h.request(`/api/v1/images/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-cache")).toBe("MISS");
      expect((await res.json()).id).toBe(id);
      await eventually(async () => (await redis.command("GET", `chitram:image:${id}`)).startsWith("{\"id\""));
      expect((await h.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    }
  });

  test("delete removes the entry; later reads are 404 and nothing is re-cached", async () => {
    const { id, delete_token } = await upload(h);
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    expect((await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":0");
    for (let i = 0; i < 3; i++) expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(404);
    expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":0");
  });

  test("CACHE_DEBUG logs every HIT, MISS, SET and INVALIDATE with the key", async () => {
    const d = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_DEBUG: "true", CACHE_L1_MAX_ENTRIES: "0" } });
    try {
      const { id, delete_token } = await upload(d);
      await redis.command("DEL", `chitram:image:${id}`);
      await d.request(`/api/v1/images/${id}`);
      await d.request(`/api/v1/images/${id}`);
      await d.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
      const events = d.logs.map((l) => JSON.parse(l)).filter((l) => l.key === `chitram:image:${id}`).map((l) => l.msg);
      expect(events).toEqual(["cache SET", "cache MISS", "cache SET", "cache HIT", "cache INVALIDATE"]);
    } finally {
      await d.close();
    }
  });

  test("CACHE_KEY_PREFIX and CACHE_TTL_SECONDS change the key and its TTL", async () => {
    const p = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_KEY_PREFIX: "other", CACHE_TTL_SECONDS: "120" } });
    try {
      const { id } = await upload(p);
      expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":0");
      const ttl = Number((await redis.command("TTL", `other:image:${id}`)).slice(1));
      expect(ttl).toBeGreaterThan(110);
      expect(ttl).toBeLessThanOrEqual(120);
    } finally {
      await p.close();
    }
  });

  test("CACHE_ENABLED=false: reads say DISABLED, health says disabled, Redis is not written", async () => {
    const off = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_ENABLED: "false" } });
    try {
      const { id } = await upload(off);
      expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":0");
      expect((await off.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("DISABLED");
      expect(await (await off.request("/health")).json()).toMatchObject({ status: "healthy", cache: "disabled" });
    } finally {
      await off.close();
    }
  });
});

describe.if(HAVE_REDIS)("no stale entry after a delete (two instances, real Redis and database)", () => {
  let redis: TestRedis;
  let reader: Harness;
  let deleter: Harness;
  beforeAll(async () => {
    redis = await startTestRedis();
    reader = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_L1_MAX_ENTRIES: "0" } });
    deleter = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_L1_MAX_ENTRIES: "0" } });
  });
  afterAll(async () => {
    await reader.close();
    await deleter.close();
    await redis.stop();
  });

  test("readers that loaded the row before the delete cannot write it back", async () => {
    // Widen the classic race: each reader's database load returns, then stalls before the cache
    // write, so the delete's commit and invalidation land in between.
    const realFind = reader.deps.repo.findById;
    const spy = spyOn(reader.deps.repo, "findById").mockImplementation(async (id: string) => {
      const row = await realFind(id);
      await Bun.sleep(5 + Math.random() * 40);
      return row;
    });
    try {
      const ROUNDS = 40;
      let stale = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const { id, delete_token } = await upload(deleter);
        await redis.command("DEL", `chitram:image:${id}`);
        const readers = Array.from({ length: 8 }, (_, i) =>
          Bun.sleep(i * 3).then(() => reader.request(`/api/v1/images/${id}`)).then((r) => r.arrayBuffer()),
        );
        await Bun.sleep(Math.random() * 10);
        const del = await deleter.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
        expect(del.status).toBe(204);
        await Promise.all(readers);
        // After the 204 and every reader has finished: no entry, and both instances say 404.
        if ((await redis.command("EXISTS", `chitram:image:${id}`)) !== ":0") stale++;
        expect((await reader.request(`/api/v1/images/${id}`)).status).toBe(404);
        expect((await deleter.request(`/api/v1/images/${id}`)).status).toBe(404);
      }
      expect(stale).toBe(0);
    } finally {
      spy.mockRestore();
    }
  }, 30_000);
});

describe.if(HAVE_REDIS)("Redis failures never fail or slow a request", () => {
  let redis: TestRedis;
  let h: Counted;
  beforeAll(async () => {
    [redis, h] = await redisWithCountingHarness();
  });
  afterAll(() => stopBoth(h, redis));

  test("killed: reads and uploads succeed fast with X-Cache DISABLED; health degraded; then it all comes back", async () => {
    const { id } = await upload(h);
    await redis.kill();

    for (let i = 0; i < 20; i++) {
      const [res, ms] = await timed(() => h.request(`/api/v1/images/${id}`));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-cache")).toBe("DISABLED");
      expect(ms).toBeLessThan(250);
    }
    const [up, upMs] = await timed(() => h.upload(makePng(), "down.png"));
    expect(up.status).toBe(201);
    expect(upMs).toBeLessThan(250);
    const [file, fileMs] = await timed(() => h.request(`/api/v1/images/${id}/file`));
    expect(file.status).toBe(200);
    expect(fileMs).toBeLessThan(250);

    const health = await h.request("/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "degraded", cache: "disconnected", database: "connected" });
    const downLines = h.logs.filter((l) => l.includes("Redis cache disconnected"));
    expect(downLines.length).toBe(1); // one line per state change, not one per request

    await redis.start();
    await eventually(async () => (await (await h.request("/health")).json()).cache === "connected");
    expect(await (await h.request("/health")).json()).toMatchObject({ status: "healthy", cache: "connected" });
    // Caching resumes without restarting chitram.
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("MISS");
    const q = h.imageQueries();
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    expect(h.imageQueries()).toBe(q);
    expect(h.logs.filter((l) => JSON.parse(l).msg === "Redis cache connected").length).toBe(2);
  }, 30_000);

  test("frozen (SIGSTOP): at most one slow request, bounded by the command timeout; the rest answer fast", async () => {
    const { id } = await upload(h);
    redis.freeze();
    try {
      const times: number[] = [];
      for (let i = 0; i < 30; i++) {
        const [res, ms] = await timed(() => h.request(`/api/v1/images/${id}`));
        expect(res.status).toBe(200);
        times.push(ms);
      }
      const slow = times.filter((t) => t > 50);
      expect(slow.length).toBeLessThanOrEqual(1);
      expect(Math.max(...times)).toBeLessThan(250);
      const [up, upMs] = await timed(() => h.upload(makePng(), "frozen.png"));
      expect(up.status).toBe(201);
      expect(upMs).toBeLessThan(250);
      expect((await (await h.request("/health")).json()).status).toBe("degraded");
    } finally {
      redis.thaw();
    }
    await eventually(async () => (await (await h.request("/health")).json()).cache === "connected");
    await h.request(`/api/v1/images/${id}`);
    expect((await h.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
  }, 30_000);

  test("a delete while Redis is frozen is replayed before the cache is used again", async () => {
    const { id, delete_token } = await upload(h);
    expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":1");
    redis.freeze();
    try {
      await h.request(`/api/v1/images/${id}`); // trips the breaker
      const del = await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
      expect(del.status).toBe(204);
      expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    } finally {
      redis.thaw();
    }
    await eventually(async () => (await (await h.request("/health")).json()).cache === "connected");
    expect(await redis.command("EXISTS", `chitram:image:${id}`)).toBe(":0");
    expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
  }, 30_000);

  test("Redis absent at start-up: serves without cache, says so once, connects when Redis appears", async () => {
    const late = await startTestRedis();
    await late.kill();
    const h2 = await createHarness({ db: DB, redisUrl: late.url, redisStartupWaitMs: 300 });
    try {
      expect(h2.logs.some((l) => JSON.parse(l).msg.startsWith("Redis cache unavailable"))).toBe(true);
      const { id } = await upload(h2);
      expect((await h2.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("DISABLED");
      await late.start();
      await eventually(async () => (await (await h2.request("/health")).json()).cache === "connected");
      await h2.request(`/api/v1/images/${id}`);
      expect((await h2.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    } finally {
      await h2.close();
      await late.stop();
    }
  }, 30_000);
});

describe("file route across instances", () => {
  test("an image deleted on one instance is 404 on another that served its file moments before", async () => {
    const shared = mkdtempSync(join(tmpdir(), "chitram-shared-"));
    const a = await createHarness({ db: DB, env: { LOCAL_STORAGE_PATH: shared } });
    const b = await createHarness({ db: DB, env: { LOCAL_STORAGE_PATH: shared } });
    try {
      const { id, delete_token } = await upload(a);
      const first = await b.request(`/api/v1/images/${id}/file`);
      expect(first.status).toBe(200); // b now remembers where the bytes are
      await first.arrayBuffer();
      expect((await a.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
      expect((await b.request(`/api/v1/images/${id}/file`)).status).toBe(404);
      expect((await b.request(`/api/v1/images/${id}`)).status).toBe(404);
    } finally {
      await a.close();
      await b.close();
      rmSync(shared, { recursive: true, force: true });
    }
  });
});
