// A loopback TCP proxy a test puts between a client and a real server (PostgreSQL, Redis): it
// makes the server go away and come back (cut/restore), holds every byte (stall/resume), slows
// traffic (delay), or cuts one connection at an exact moment of the protocol (cutWhen).
import type { Socket, TCPSocketListener } from "bun";
import { spareTcpPort } from "./redis-server.ts";

export type Direction = "fromClient" | "fromServer";

/** What a matcher knows of the stream a chunk belongs to: one per connection and direction. */
export type StreamState = {
  direction: Direction;
  /** Bytes of this direction the proxy received before this chunk. */
  offset: number;
  /** Scratch space a stateful matcher keeps per stream (e.g. a protocol parser's leftovers), keyed by itself. */
  state: Map<unknown, unknown>;
  /** Scratch space shared by both directions of the connection (e.g. "the client sent X, cut its answer"). */
  connection: Map<unknown, unknown>;
};
export type ChunkMatcher = (chunk: Uint8Array, stream: StreamState) => boolean;

export type CutRule = {
  fromServer?: ChunkMatcher;
  fromClient?: ChunkMatcher;
  /** Fire on the first match only (default true); false cuts every connection that matches. */
  once?: boolean;
  /** "reset" (default): both sides get an RST (postgres.js: ECONNRESET); "end": a FIN (postgres.js: CONNECTION_CLOSED). */
  close?: "reset" | "end";
};
export type CutHandle = {
  /** Resolves when the rule first fires, with the chunk that was dropped. */
  fired: Promise<{ direction: Direction; chunk: Uint8Array }>;
  /** How many connections the rule has cut. */
  count(): number;
  cancel(): void;
};

export type TcpProxy = {
  port: number;
  /** Closes the listener and every connection: new connections are refused until restore(). */
  cut(): void;
  restore(): void;
  close(): void;
  /** Holds bytes in both directions, on every connection, without closing anything. */
  stall(): void;
  /** Delivers what stall() held, in order, and forwards again. */
  resume(): void;
  /** Delays every chunk by `ms` from now on (0 to stop), keeping the order. */
  delay(ms: number): void;
  /** When a chunk matches, drops that chunk and terminates both sides of its connection. */
  cutWhen(rule: CutRule): CutHandle;
  /** Connections open through the proxy. */
  connections(): number;
};

type Flow = {
  stream: StreamState;
  target?: Socket<unknown>;
  queue: Uint8Array[];
  /** Chunks waiting out a delay. */
  delayed: number;
  lastDueAt: number;
  ended: boolean;
};
type Conn = { client: Socket<unknown>; upstream?: Socket<unknown>; toServer: Flow; toClient: Flow; dead: boolean };
type Rule = CutRule & { fire(direction: Direction, chunk: Uint8Array): void };

const newFlow = (direction: Direction, connection: Map<unknown, unknown>): Flow => ({
  stream: { direction, offset: 0, state: new Map(), connection },
  queue: [],
  delayed: 0,
  lastDueAt: 0,
  ended: false,
});

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const port = await spareTcpPort();
  const conns = new Set<Conn>();
  const rules = new Set<Rule>();
  let listener: TCPSocketListener<unknown> | undefined;
  let stalled = false;
  let delayMs = 0;

  /** Drops the connection without delivering anything more: an RST to both sides, or a FIN with `graceful`. */
  const terminate = (c: Conn, graceful = false) => {
    c.dead = true;
    conns.delete(c);
    for (const s of [c.client, c.upstream]) {
      if (graceful) s?.end();
      else s?.terminate();
    }
  };

  /** Writes what the flow holds as far as the socket takes it; the rest waits for drain. */
  const flush = (c: Conn, f: Flow) => {
    if (c.dead || stalled || !f.target) return;
    while (f.queue.length) {
      const chunk = f.queue[0]!;
      const n = f.target.write(chunk);
      if (n < chunk.length) {
        f.queue[0] = chunk.subarray(Math.max(n, 0));
        return;
      }
      f.queue.shift();
    }
    if (f.ended && f.delayed === 0) f.target.end();
  };

  const receive = (c: Conn, f: Flow, data: Uint8Array) => {
    if (c.dead) return;
    const chunk = new Uint8Array(data); // Bun may reuse the buffer
    const direction = f.stream.direction;
    for (const rule of rules) {
      if (rule[direction]?.(chunk, f.stream)) {
        rule.fire(direction, chunk);
        terminate(c, rule.close === "end");
        return;
      }
    }
    f.stream.offset += chunk.length;
    if (delayMs <= 0) {
      f.queue.push(chunk);
      flush(c, f);
      return;
    }
    const dueAt = Math.max(performance.now() + delayMs, f.lastDueAt);
    f.lastDueAt = dueAt;
    f.delayed++;
    setTimeout(() => {
      f.delayed--;
      f.queue.push(chunk);
      flush(c, f);
    }, dueAt - performance.now());
  };

  /** One side closed: the other gets what is still queued for it, then an end. */
  const ended = (c: Conn, f: Flow) => {
    f.ended = true;
    flush(c, f);
    if (c.toServer.ended && c.toClient.ended) conns.delete(c);
  };

  const listen = () => {
    listener = Bun.listen<{ conn: Conn }>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const shared = new Map<unknown, unknown>();
          const c: Conn = { client: client as Socket<unknown>, toServer: newFlow("fromClient", shared), toClient: newFlow("fromServer", shared), dead: false };
          c.toClient.target = c.client;
          client.data = { conn: c };
          conns.add(c);
          Bun.connect({
            hostname: targetHost,
            port: targetPort,
            socket: {
              open(up) {
                if (c.dead) return void up.end();
                c.upstream = up as Socket<unknown>;
                c.toServer.target = c.upstream;
                flush(c, c.toServer);
              },
              data: (_up, d) => receive(c, c.toClient, d),
              drain: () => flush(c, c.toServer),
              close: () => ended(c, c.toClient),
              error: () => ended(c, c.toClient),
            },
          }).catch(() => terminate(c));
        },
        data: (client, d) => receive(client.data.conn, client.data.conn.toServer, d),
        drain: (client) => flush(client.data.conn, client.data.conn.toClient),
        close: (client) => ended(client.data.conn, client.data.conn.toServer),
        error: (client) => ended(client.data.conn, client.data.conn.toServer),
      },
    }) as unknown as TCPSocketListener<unknown>;
  };
  listen();

  const cut = () => {
    listener?.stop(true);
    listener = undefined;
    for (const c of conns) terminate(c);
  };
  return {
    port,
    cut,
    restore() {
      if (!listener) listen();
    },
    close: cut,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const c of conns) {
        flush(c, c.toServer);
        flush(c, c.toClient);
      }
    },
    delay(ms) {
      delayMs = ms;
    },
    cutWhen(rule) {
      let count = 0;
      let resolve!: (v: { direction: Direction; chunk: Uint8Array }) => void;
      const fired = new Promise<{ direction: Direction; chunk: Uint8Array }>((r) => (resolve = r));
      const r: Rule = {
        ...rule,
        fire(direction, chunk) {
          if (count++ === 0) resolve({ direction, chunk });
          if (rule.once ?? true) rules.delete(r);
        },
      };
      rules.add(r);
      return { fired, count: () => count, cancel: () => void rules.delete(r) };
    },
    connections: () => conns.size,
  };
}

/** A proxy in front of the database at `url`, and the same URL pointed through it. */
export async function proxiedDatabase(url: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const via = new URL(url);
  via.hostname = "127.0.0.1";
  via.port = String(proxy.port);
  return { proxy, url: via.href };
}
