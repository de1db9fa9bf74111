// The invalidation channel and relay on real PostgreSQL and a redis-server of the test's own:
// catch-up for instances that were away, DISABLED while the channel is lost or catching up, the
// relay applying what the deleter could not, and pruning.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import postgres from "postgres";
import { createPostgresDatabase } from "../src/db/client.ts";
import { createInvalidationChannel } from "../src/invalidation/channel.ts";
import { createInvalidationLog, encodeInvalidation } from "../src/invalidation/log.ts";
import { createOutboxRepo, INVALIDATION_CHANNEL } from "../src/invalidation/outbox.ts";
import { createMemoryLogger } from "../src/logger.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";
import { proxiedDatabase, startTcpProxy } from "./support/tcp-proxy.ts";
import { eventually } from "./support/wait.ts";

const key = (id: string) => `chitram:image:${id}`;

describe.if(HAVE_POSTGRES && HAVE_REDIS)("the invalidation channel and relay", () => {
  let redis: TestRedis;
  let a: Harness;
  let sql: postgres.Sql;
  beforeAll(async () => {
    redis = await startTestRedis();
    a = await createHarness({ db: "postgres", redisUrl: redis.url });
    sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  }, 30_000);
  afterAll(async () => {
    await a.close();
    await redis.stop();
    await sql.end();
  });

  async function uploadAndDelete(h: Harness) {
    const { id, delete_token } = (await (await h.upload(makePng(), "c.png")).json()) as { id: string; delete_token: string };
    expect((await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    return id;
  }

  test("an instance that starts after a delete learns it from the outbox before it serves a hit", async () => {
    const id = await uploadAndDelete(a);
    const late = await createHarness({ db: "postgres", redisUrl: redis.url });
    try {
      expect(late.deps.invalidations.channelState()).toBe("live");
      expect(late.deps.invalidations.log.admits(key(id), 1, Date.now())).toBe(false);
    } finally {
      await late.close();
    }
  });

  test("a lost channel: DISABLED until it is back AND caught up; a delete committed meanwhile is known", async () => {
    const b = await createHarness({ db: "postgres", redisUrl: redis.url });
    try {
      const { id } = (await (await a.upload(makePng(), "k.png")).json()) as { id: string };
      expect((await b.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
      // Hold b's catch-up until the test says so, then kill b's listening connection.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const real = b.deps.invalidations.outbox.recent.bind(b.deps.invalidations.outbox);
      const held = spyOn(b.deps.invalidations.outbox, "recent").mockImplementation(async (ms) => {
        await gate;
        return real(ms);
      });
      try {
        const [killed] = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ${`chitram:listen:${b.deps.instanceId}`}`;
        expect(killed?.ok).toBe(true);
        await eventually(async () => b.deps.invalidations.channelState() === "down", 3_000, 20, "b notices");
        const during = await b.request(`/api/v1/images/${id}`);
        expect(during.status).toBe(200);
        expect(during.headers.get("x-cache")).toBe("DISABLED"); // Redis is fine; the channel is not
        expect((await (await b.request("/health")).json()).invalidations).toBe("down");
        const deleted = await uploadAndDelete(a);
        release();
        await eventually(async () => b.deps.invalidations.channelState() === "live", 5_000, 20, "b live again");
        expect(b.deps.invalidations.log.admits(key(deleted), 1, Date.now())).toBe(false);
        expect(b.logs.some((l) => l.includes("Invalidation channel lost"))).toBe(true);
        expect((await b.request(`/api/v1/images/${id}`)).headers.get("x-cache")).toBe("HIT");
      } finally {
        release();
        held.mockRestore();
      }
    } finally {
      await b.close();
    }
  }, 20_000);

  test("a delete Redis did not confirm stays unapplied in the outbox until a relay (any instance) applies it", async () => {
    const proxy = await startTcpProxy("127.0.0.1", redis.port);
    const cutOff = await createHarness({ db: "postgres", redisUrl: `redis://127.0.0.1:${proxy.port}` });
    try {
      const { id, delete_token } = (await (await cutOff.upload(makePng(), "r.png")).json()) as { id: string; delete_token: string };
      await eventually(async () => (await redis.command("EXISTS", key(id))) === ":1");
      proxy.cut();
      expect((await cutOff.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
      const [row] = await sql`select id, applied_at from cache_invalidations where cache_key = ${key(id)}`;
      expect(row?.applied_at).toBeNull();
      // `a` reaches Redis: its relay purges the entry and marks the row applied.
      await a.deps.invalidations.relay();
      expect(await redis.command("EXISTS", key(id))).toBe(":0");
      const [applied] = await sql`select applied_at from cache_invalidations where id = ${row!.id}`;
      expect(applied?.applied_at).toBeInstanceOf(Date);
    } finally {
      proxy.close();
      await cutOff.close();
    }
  });

  test("outbox rows past the retention (TTL + clock skew) are pruned; younger ones stay", async () => {
    const [old] = await sql`insert into cache_invalidations (cache_key, version, created_at) values ('test:old', null, now() - interval '2 hours') returning id`;
    const [young] = await sql`insert into cache_invalidations (cache_key, version) values ('test:young', null) returning id`;
    const pruned = await a.deps.invalidations.outbox.prune(3600 * 1000 + 60_000);
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect(await sql`select id from cache_invalidations where id = ${old!.id}`).toHaveLength(0);
    expect(await sql`select id from cache_invalidations where id = ${young!.id}`).toHaveLength(1);
  });
});

// The barrier every delete waits on must include an instance that went live a moment ago, before
// any periodic heartbeat of its own: it announces itself before it serves. Two channels with no
// periodic heartbeats (an hour apart), the second slow to hear (every notification handled
// 150 ms late): a barrier sent after an invalidation committed resolves only once the newcomer
// has recorded it.
describe.if(HAVE_POSTGRES)("the delete barrier as instances start and stop", () => {
  test("a peer live for a moment, slow to hear, has recorded the invalidation when the barrier resolves; once it closes, nobody waits for it", async () => {
    const migrated = createPostgresDatabase(TEST_DATABASE_URL);
    await migrated.migrate();
    await migrated.close();

    const opened: Array<{ close(): Promise<void> }> = [];
    const instance = (id: string, delayMs: number) => {
      const plain = createPostgresDatabase(TEST_DATABASE_URL);
      const database = {
        ...plain,
        openListener: (h: Parameters<typeof plain.openListener>[0]) =>
          plain.openListener({ ...h, onNotify: (c, p) => (delayMs > 0 ? void setTimeout(() => h.onNotify(c, p), delayMs) : h.onNotify(c, p)) }),
      };
      const log = createInvalidationLog({ ttlMs: 60_000 });
      const channel = createInvalidationChannel(database, createOutboxRepo(database), log, createMemoryLogger(), {
        instanceId: `${id}-${crypto.randomUUID()}`,
        retentionMs: 120_000,
        heartbeatMs: 3_600_000,
        heartbeatTimeoutMs: 5_000,
      });
      opened.push(channel, plain);
      return { channel, log };
    };
    const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const a = instance("a", 0);
      expect(await a.channel.start(5_000)).toBe(true);
      const b = instance("b", 150);
      expect(await b.channel.start(5_000)).toBe(true);

      const key = `chitram:image:${crypto.randomUUID()}`;
      const loadedAt = Date.now();
      expect(b.log.admits(key, 1, loadedAt)).toBe(true);
      await sql`select pg_notify(${INVALIDATION_CHANNEL}, ${encodeInvalidation({ key, version: null })})`;
      expect(await a.channel.barrier(2_000)).toBe(true);
      expect(b.log.admits(key, 1, loadedAt)).toBe(false);

      // B closes (a restart, a scale-down): A's next barrier does not wait for it until it times out.
      await b.channel.close();
      const started = performance.now();
      expect(await a.channel.barrier(1_000)).toBe(true);
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      for (const o of opened.reverse()) await o.close();
      await sql.end();
    }
  }, 20_000);

  test("closing while the database hangs does not hang: the goodbye is sent, not waited for", async () => {
    const { proxy, url } = await proxiedDatabase(TEST_DATABASE_URL);
    const database = createPostgresDatabase(url);
    const channel = createInvalidationChannel(database, createOutboxRepo(database), createInvalidationLog({ ttlMs: 60_000 }), createMemoryLogger(), {
      instanceId: `frozen-${crypto.randomUUID()}`,
      retentionMs: 120_000,
      heartbeatMs: 3_600_000,
      heartbeatTimeoutMs: 5_000,
    });
    try {
      expect(await channel.start(5_000)).toBe(true);
      proxy.stall(); // the listening connection stays open and answers nothing
      const started = performance.now();
      await channel.close();
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      proxy.close();
      await database.close().catch(() => {});
    }
  }, 20_000);
});
