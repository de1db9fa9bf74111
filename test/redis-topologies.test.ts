import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failoverDrill, uploadImages, type Instance } from "./support/failover-drill.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { redisCli, startTestCluster, startTestSentinel, type TestCluster, type TestSentinel } from "./support/redis-topology.ts";
import { HAVE_POSTGRES, HAVE_REDIS_CLUSTER_TOOLS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

// The cache on real multi-node Redis: a 3-master Cluster (one replica each) and a Sentinel group
// (master, replica, 3 sentinels), through node-redis' own cluster and sentinel clients. Two
// chitram instances share PostgreSQL and the Redis deployment; a master is SIGKILLed while both
// read and one deletes.
const DB: DbKind = HAVE_POSTGRES ? "postgres" : "pglite";

// Both instances keep image bytes in one folder, so either serves the other's files.
const sharedImages = () => mkdtempSync(join(tmpdir(), "chitram-shared-"));

const instance = (name: string, h: Harness): Instance => ({ name, request: h.request });
const connected = (h: Harness) => eventually(async () => (await (await h.request("/health")).json()).cache === "connected", 15_000, 50, "cache connected");

function report(what: string, r: Awaited<ReturnType<typeof failoverDrill>>, promotedAfterMs: number) {
  console.log(
    `[failover] ${what}: replica promoted ${promotedAfterMs} ms after the kill; reads served from the database for ${r.windowMs} ms; ` +
      `${r.requests} reads, ${r.deletes} deletes, ${r.errors.length} errors, ${r.staleReads.length} stale reads, slowest request ${r.maxLatencyMs} ms, X-Cache ${JSON.stringify(r.xCache)}`,
  );
}

// Failovers of the Redis tier: the in-process tier is off (CACHE_L1_MAX_ENTRIES=0), so every
// read goes through Redis. (Two harnesses in one process share an event loop: b can answer an
// in-process hit before it has read the notification a's delete sent it; that window of the
// in-process tier is measured by test/workers.test.ts and `bun run bench`.)
describe.if(HAVE_REDIS_CLUSTER_TOOLS)("cache on a 3-master Redis Cluster", () => {
  let cluster: TestCluster;
  let a: Harness;
  let b: Harness;
  const images = sharedImages();
  beforeAll(async () => {
    cluster = await startTestCluster({ masters: 3 });
    const env = { CACHE_ENABLED: "true", CACHE_L1_MAX_ENTRIES: "0", REDIS_CLUSTER_NODES: cluster.nodes, LOCAL_STORAGE_PATH: images };
    a = await createHarness({ db: DB, env, redisStartupWaitMs: 5_000 });
    b = await createHarness({ db: DB, env, redisStartupWaitMs: 5_000 });
    await Promise.all([connected(a), connected(b)]);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster?.stop();
    rmSync(images, { recursive: true, force: true });
  });

  test("entries spread over every master; a delete's tombstone sits in its key's slot; hits on the other instance", async () => {
    const uploaded = await uploadImages({ name: "a", request: a.request }, 24);
    for (const { id } of uploaded) expect((await b.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
    for (const m of await cluster.masters()) {
      expect(Number((await redisCli(m.port, "DBSIZE"))[0])).toBeGreaterThan(0);
    }
    const { id, token } = uploaded[0]!;
    expect((await b.request(`/api/v1/images/${id}?delete_token=${token}`, { method: "DELETE" })).status).toBe(204);
    const key = `chitram:image:${id}`;
    const [slot] = await redisCli(cluster.servers[0]!.port, "CLUSTER", "KEYSLOT", key);
    expect((await redisCli(cluster.servers[0]!.port, "CLUSTER", "KEYSLOT", `{${key}}:tombstone`))[0]).toBe(slot!);
    expect((await redisCli(cluster.servers[0]!.port, "-c", "EXISTS", `{${key}}:tombstone`))[0]).toBe("1");
    expect((await redisCli(cluster.servers[0]!.port, "-c", "EXISTS", key))[0]).toBe("0");
    expect((await a.request(`/api/v1/images/${id}`)).status).toBe(404);
  }, 30_000);

  test("a master killed during reads and deletes: no error, no stale read; the cache comes back", async () => {
    await failoverDuringReadsAndDeletes("Redis Cluster", a, b, 7_000, () => cluster.killMaster());
  }, 60_000);
});

describe.if(HAVE_REDIS_CLUSTER_TOOLS)("cache on Redis Sentinel", () => {
  let sentinel: TestSentinel;
  let a: Harness;
  let b: Harness;
  const images = sharedImages();
  beforeAll(async () => {
    sentinel = await startTestSentinel({ replicas: 1, sentinels: 3 });
    const env = { CACHE_ENABLED: "true", CACHE_L1_MAX_ENTRIES: "0", REDIS_SENTINELS: sentinel.sentinels, REDIS_SENTINEL_MASTER: sentinel.masterName, LOCAL_STORAGE_PATH: images };
    a = await createHarness({ db: DB, env, redisStartupWaitMs: 5_000 });
    b = await createHarness({ db: DB, env, redisStartupWaitMs: 5_000 });
    await Promise.all([connected(a), connected(b)]);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sentinel?.stop();
    rmSync(images, { recursive: true, force: true });
  });

  test("the master killed during reads and deletes: no error, no stale read; hits resume on the promoted replica", async () => {
    await failoverDuringReadsAndDeletes("Redis Sentinel", a, b, 8_000, () => sentinel.killMaster(), { warm: true });
  }, 60_000);
});

/**
 * Reads on two instances and deletes on the second while `kill` takes the Redis master down one
 * second in: no request fails, nothing deleted is read again, reads use the database only for the
 * failover window, and hits come back afterwards.
 */
async function failoverDuringReadsAndDeletes(label: string, a: Harness, b: Harness, durationMs: number, kill: () => Promise<{ promotedAfterMs: number }>, opts: { warm?: boolean } = {}) {
  const uploaded = await uploadImages({ name: "a", request: a.request }, 40);
  if (opts.warm) for (const { id } of uploaded) await b.request(`/api/v1/images/${id}`);
  let promotedAfterMs = 0;
  const r = await failoverDrill({
    instances: [instance("a", a), instance("b", b)],
    deleteOn: instance("b", b),
    images: uploaded,
    durationMs,
    faultAtMs: 1_000,
    fault: async () => ({ promotedAfterMs } = await kill()),
  });
  report(label, r, promotedAfterMs);
  expect(r.errors).toEqual([]);
  expect(r.staleReads).toEqual([]);
  expect(r.deletes).toBeGreaterThan(10);
  // The window: reads go to the database from the kill until the promoted master answers and
  // every recent invalidation is re-applied to it; then hits resume.
  expect(r.windowMs).toBeLessThan(promotedAfterMs + 5_000);
  expect(r.hitsAfterWindow).toBeGreaterThan(0);
  await Promise.all([connected(a), connected(b)]);
  const live = uploaded[uploaded.length - 1]!.id;
  await b.request(`/api/v1/images/${live}`);
  expect((await b.request(`/api/v1/images/${live}`)).headers.get("x-cache")).toBe("HIT");
}
