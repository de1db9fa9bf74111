// The TCP proxy's fault modes, each proven on real traffic: stall really holds a query and
// resume delivers it; a cut at CommandComplete leaves a committed row the client never heard of.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, connect, type Server } from "node:net";
import postgres from "postgres";
import { pgClientQuery, pgCommandComplete } from "./support/pg-wire.ts";
import { startTestPostgres, type TestPostgres } from "./support/postgres-server.ts";
import { HAVE_PG_BINARIES } from "./support/services.ts";
import { startTcpProxy, type StreamState, type TcpProxy } from "./support/tcp-proxy.ts";

const settle = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => "done" as const, () => "failed" as const), Bun.sleep(ms).then(() => "pending" as const)]);
const enc = new TextEncoder();

/** Builds one PostgreSQL backend message. */
function msg(type: string, body: Uint8Array | string): Uint8Array {
  const b = typeof body === "string" ? enc.encode(`${body}\0`) : body;
  const out = new Uint8Array(5 + b.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + b.length);
  out.set(b, 5);
  return out;
}
const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const stream = (direction: StreamState["direction"], offset = 100): StreamState => ({ direction, offset, state: new Map(), connection: new Map() });

describe("pg-wire matchers (framing)", () => {
  test("CommandComplete is found among several messages, across chunk boundaries, by whole words", () => {
    const ready = msg("Z", new Uint8Array([0x49]));
    const insert = join(msg("1", new Uint8Array()), msg("2", new Uint8Array()), msg("C", "INSERT 0 1"), ready);
    const m = pgCommandComplete("INSERT");
    expect(m(insert, stream("fromServer"))).toBe(true);
    expect(m(join(msg("C", "SELECT 1"), ready), stream("fromServer"))).toBe(false);
    expect(pgCommandComplete("INSERT")(join(msg("C", "INSERTX 1"), ready), stream("fromServer"))).toBe(false);
    expect(pgCommandComplete("COMMIT")(join(msg("C", "COMMIT"), ready), stream("fromServer"))).toBe(true);
    // A 'C' byte inside another message's body is not a CommandComplete.
    expect(pgCommandComplete("INSERT")(msg("D", "C\0\0\0\x0fINSERT 0 1"), stream("fromServer"))).toBe(false);

    // Split: it fires on the chunk that completes the message, not before.
    const split = pgCommandComplete("INSERT");
    const s = stream("fromServer");
    const cut = insert.length - ready.length - 3;
    expect(split(insert.subarray(0, cut), s)).toBe(false);
    expect(split(insert.subarray(cut), s)).toBe(true);
  });

  test("streams followed from their first byte: SSL answer, startup message", () => {
    const server = pgCommandComplete("INSERT");
    const s = stream("fromServer", 0);
    expect(server(new Uint8Array([0x4e]), s)).toBe(false); // 'N': no TLS
    s.offset = 1;
    expect(server(join(msg("R", new Uint8Array(4)), msg("C", "INSERT 0 1")), s)).toBe(true);

    const client = pgClientQuery(/insert into t/i);
    const c = stream("fromClient", 0);
    const startup = join(new Uint8Array([0, 0, 0, 16, 0, 3, 0, 0]), enc.encode("user\0Q\0\0")); // a 'Q' inside the startup packet
    expect(client(startup, c)).toBe(false);
    c.offset = startup.length;
    expect(client(msg("Q", "select 1"), c)).toBe(false);
    expect(client(msg("P", new Uint8Array([0, ...enc.encode("INSERT INTO t values ($1)"), 0, 0, 0])), c)).toBe(true);
  });
});

describe("TCP proxy on raw bytes", () => {
  let echo: Server;
  let echoPort: number;
  let proxy: TcpProxy;
  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s)); // node streams: backpressure handled
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    echoPort = (echo.address() as { port: number }).port;
    proxy = await startTcpProxy("127.0.0.1", echoPort);
  });
  afterAll(() => {
    proxy.close();
    echo.close();
  });

  /** Sends `bytes` through the proxy and resolves with what came back once `expected` bytes arrived. */
  const roundTrip = (bytes: Uint8Array, expected = bytes.length) => {
    const socket = connect(proxy.port, "127.0.0.1");
    const got: Buffer[] = [];
    let n = 0;
    const back = new Promise<Buffer>((resolve, reject) => {
      socket.on("data", (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= expected) resolve(Buffer.concat(got));
      });
      socket.on("error", reject);
    });
    socket.write(bytes);
    return { back, socket, received: () => n };
  };

  test("stall holds bytes both ways without closing; resume delivers all of them in order (8 MiB, backpressure)", async () => {
    const small = roundTrip(enc.encode("hello"));
    expect((await small.back).toString()).toBe("hello");
    proxy.stall();
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) % 251);
    const r = roundTrip(big);
    small.socket.write("held");
    expect(await settle(r.back, 500)).toBe("pending");
    expect(r.received()).toBe(0);
    expect(proxy.connections()).toBe(2);
    proxy.resume();
    const back = await r.back;
    expect(back.length).toBe(big.length);
    expect(Bun.hash(back)).toBe(Bun.hash(big));
    r.socket.destroy();
    small.socket.destroy();
  }, 15_000);

  test("delay(ms) slows each direction and keeps the order", async () => {
    proxy.delay(150);
    try {
      const started = performance.now();
      const socket = connect(proxy.port, "127.0.0.1");
      let text = "";
      const done = new Promise<void>((resolve) =>
        socket.on("data", (d) => {
          text += d.toString();
          if (text.length >= 30) resolve();
        }),
      );
      for (let i = 0; i < 10; i++) {
        socket.write(`${String(i).padStart(2, "0")},`);
        await Bun.sleep(5);
      }
      await done;
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(text).toBe("00,01,02,03,04,05,06,07,08,09,");
      socket.destroy();
    } finally {
      proxy.delay(0);
    }
  }, 10_000);

  test("cut refuses and closes, restore accepts again", async () => {
    proxy.cut();
    const refused = await new Promise<boolean>((resolve) => connect(proxy.port, "127.0.0.1").on("error", () => resolve(true)).on("connect", () => resolve(false)));
    expect(refused).toBe(true);
    proxy.restore();
    expect((await roundTrip(enc.encode("back")).back).toString()).toBe("back");
  });
});

describe.if(HAVE_PG_BINARIES)("TCP proxy in front of PostgreSQL", () => {
  let pg: TestPostgres;
  let proxy: TcpProxy;
  const clients: postgres.Sql[] = [];
  const client = () => {
    const url = new URL(pg.url);
    url.port = String(proxy.port);
    const sql = postgres(url.href, { max: 1, connect_timeout: 2, onnotice: () => {} });
    clients.push(sql);
    return sql;
  };
  const rows = async () => (await pg.query<{ v: string }>("select v from t order by v")).map((r) => r.v);
  beforeAll(async () => {
    pg = await startTestPostgres();
    await pg.query("create table t (v text primary key)");
    proxy = await startTcpProxy("127.0.0.1", pg.port);
  }, 30_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end({ timeout: 0 })));
    proxy.close();
    await pg.destroy();
  }, 30_000);

  test("stall: a query on an open connection does not finish while stalled, and does after resume", async () => {
    const sql = client();
    await sql`select 1`;
    proxy.stall();
    let pending: Promise<unknown>;
    try {
      pending = sql`insert into t values ('stalled') returning v`;
      expect(await settle(pending, 700)).toBe("pending");
      expect(await rows()).not.toContain("stalled"); // the server has not even seen it
    } finally {
      proxy.resume();
    }
    expect(await pending).toEqual([{ v: "stalled" }]);
  }, 10_000);

  test("cutWhen(pgCommandComplete('INSERT')) outside a transaction: committed, yet the client gets a connection error", async () => {
    const sql = client();
    await sql`select 1`; // connected and idle: the rule starts on a message boundary
    const rule = proxy.cutWhen({ fromServer: pgCommandComplete("INSERT") });
    const result = await sql`insert into t values ('autocommit')`.then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message);
    expect(result).toBe("ECONNRESET");
    const { chunk } = await rule.fired;
    expect(new TextDecoder().decode(chunk)).toContain("INSERT 0 1");
    expect(rule.count()).toBe(1);
    expect(await rows()).toContain("autocommit");
    // once: the next connection passes untouched
    const again = client();
    await again`insert into t values ('after')`;
    expect(await rows()).toContain("after");
  }, 10_000);

  test("cutWhen(pgCommandComplete('COMMIT'), close: 'end') on a connection opened after the rule: committed; the client hears a FIN", async () => {
    const rule = proxy.cutWhen({ fromServer: pgCommandComplete("COMMIT"), close: "end" });
    const sql = client();
    const result = await sql
      .begin(async (tx) => {
        await tx`insert into t values ('tx-a')`;
        await tx`insert into t values ('tx-b')`;
      })
      .then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message);
    expect(result).toBe("CONNECTION_CLOSED");
    expect(rule.count()).toBe(1);
    expect(await rows()).toEqual(expect.arrayContaining(["tx-a", "tx-b"]));
  }, 10_000);

  test("cut at INSERT inside a transaction, or before the server sees the statement: nothing is committed", async () => {
    const inTx = proxy.cutWhen({ fromServer: pgCommandComplete("INSERT") });
    const a = await client()
      .begin((tx) => tx`insert into t values ('rolled-back')`)
      .then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message);
    expect(a).toMatch(/^(ECONNRESET|CONNECTION_CLOSED)$/); // inside begin() postgres.js may report either
    expect(inTx.count()).toBe(1);

    const beforeServer = proxy.cutWhen({ fromClient: pgClientQuery(/insert into t/i) });
    const b = await client()`insert into t values ('never-sent')`.then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message);
    expect(b).toBe("ECONNRESET");
    expect((await beforeServer.fired).direction).toBe("fromClient");

    await Bun.sleep(100); // the backend notices the closed socket and rolls back
    const now = await rows();
    expect(now).not.toContain("rolled-back");
    expect(now).not.toContain("never-sent");
  }, 10_000);
});
