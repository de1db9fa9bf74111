// The helper that gives a test its own PostgreSQL: it really freezes, dies, stops and comes
// back on the same port with the committed data, and leaves no process behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import postgres from "postgres";
import { startTestPostgres, type TestPostgres } from "./support/postgres-server.ts";
import { HAVE_PG_BINARIES } from "./support/services.ts";

const settle = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => "done" as const, () => "failed" as const), Bun.sleep(ms).then(() => "pending" as const)]);

/** Runs, and is not a zombie (zombies hold no port and no memory). */
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));

const connectable = (port: number) =>
  new Promise<boolean>((resolve) => {
    Bun.connect({ hostname: "127.0.0.1", port, socket: { open: (s) => (s.end(), resolve(true)), data() {}, connectError: () => resolve(false) } }).catch(() =>
      resolve(false),
    );
  });

describe.if(HAVE_PG_BINARIES)("startTestPostgres", () => {
  let pg: TestPostgres;
  let client: postgres.Sql;
  beforeAll(async () => {
    const started = performance.now();
    pg = await startTestPostgres();
    console.log(`startTestPostgres: ready after ${Math.round(performance.now() - started)} ms`);
  }, 30_000);
  afterAll(async () => {
    await client?.end({ timeout: 0 });
    await pg.destroy();
    expect(existsSync(pg.dir)).toBe(false);
  }, 30_000);
  const connect = () => {
    client = postgres(pg.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    return client;
  };

  test("a cluster of its own on a spare loopback port, with the test database", async () => {
    expect(pg.port).not.toBe(5432);
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/test`);
    const [row] = await pg.query<{ db: string; fsync: string; addr: string }>("select current_database() as db, current_setting('fsync') as fsync, inet_server_addr()::text as addr");
    expect(row).toEqual({ db: "test", fsync: "off", addr: "127.0.0.1/32" });
    expect(pg.childPids().length).toBeGreaterThan(0);
    await pg.query("create table t (v text primary key)");
  });

  test("freeze: a query on an open connection hangs, and finishes after thaw", async () => {
    const sql = connect();
    await sql`select 1`;
    pg.freeze();
    let pending: Promise<unknown> | undefined;
    try {
      pending = sql`insert into t values ('frozen') returning v`;
      expect(await settle(pending, 700)).toBe("pending");
      expect(await settle(pg.query("select 1", { timeoutMs: 500 }), 700)).toBe("failed"); // new connections hang too
    } finally {
      pg.thaw();
    }
    expect(await settle(pending, 3_000)).toBe("done");
    expect(await pending).toEqual([{ v: "frozen" }]);
    await sql.end({ timeout: 1 });
  }, 15_000);

  test("kill: every process dies, the port closes, committed rows survive the crash restart", async () => {
    const sql = connect();
    await sql`insert into t values ('committed')`;
    const [{ backend } = { backend: 0 }] = await sql<{ backend: number }[]>`select pg_backend_pid() as backend`;
    const busy = sql`select pg_sleep(30)`.then(() => "answered", (e: Error) => e.message);
    await Bun.sleep(100);
    const pids = [pg.pid()!, ...pg.childPids()];
    expect(pids).toContain(backend);

    const started = performance.now();
    await pg.kill();
    const killMs = performance.now() - started;
    expect(pids.filter(alive)).toEqual([]);
    expect(pg.pid()).toBeUndefined();
    expect(await connectable(pg.port)).toBe(false);
    expect(await busy).toMatch(/CONNECTION_CLOSED|ECONNRESET|terminated|closed/i);

    const restartStarted = performance.now();
    await pg.start();
    console.log(`kill ${Math.round(killMs)} ms; start after a crash (recovery) ${Math.round(performance.now() - restartStarted)} ms`);
    expect(pg.logs().some((l) => l.includes("was interrupted") || l.includes("not properly shut down"))).toBe(true);
    expect(await pg.query("select v from t order by v")).toEqual([{ v: "committed" }, { v: "frozen" }]);
    await sql.end({ timeout: 0 });
  }, 20_000);

  test("kill while frozen still kills everything", async () => {
    pg.freeze();
    const pids = [pg.pid()!, ...pg.childPids()];
    await pg.kill();
    expect(pids.filter(alive)).toEqual([]);
    await pg.start();
    expect(await pg.query("select count(*)::int as n from t")).toEqual([{ n: 2 }]);
  }, 20_000);

  test("stop is a fast shutdown: open transactions roll back, clients hear it; restart keeps port and data", async () => {
    const sql = connect();
    const inTx = sql
      .begin(async (tx) => {
        await tx`insert into t values ('uncommitted')`;
        await Bun.sleep(2_000);
      })
      .then(() => "committed", (e: Error) => e.message);
    await Bun.sleep(200);
    const port = pg.port;
    const started = performance.now();
    await pg.restart();
    console.log(`restart (fast shutdown + start) ${Math.round(performance.now() - started)} ms`);
    expect(await inTx).toMatch(/terminat|administrator|CONNECTION_CLOSED/i);
    expect(pg.port).toBe(port);
    expect(await pg.query("select v from t order by v")).toEqual([{ v: "committed" }, { v: "frozen" }]);
    await sql.end({ timeout: 0 });
  }, 20_000);

  test("restart({ crash: true }) kills and starts again", async () => {
    const before = pg.pid();
    await pg.restart({ crash: true });
    expect(pg.pid()).not.toBe(before);
    expect(await pg.query("select count(*)::int as n from t")).toEqual([{ n: 2 }]);
  }, 20_000);
});
