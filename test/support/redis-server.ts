// A redis-server owned by one test: started on a spare loopback port, and stopped, killed,
// frozen (SIGSTOP) and thawed by that test alone. The shared Redis on 6379 is never touched.
import type { Subprocess } from "bun";
import { REDIS_SERVER_BINARY } from "./services.ts";
import { eventually } from "./wait.ts";

export type TestRedis = {
  port: number;
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Runs a redis-cli-free command through a short-lived raw connection. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
};

export async function spareTcpPort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export async function startTestRedis(): Promise<TestRedis> {
  const port = await spareTcpPort();
  let proc: Subprocess | undefined;

  const ping = async () => (await redisCommand(port, ["PING"], 300)) === "+PONG";

  const r: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = Bun.spawn(
        [REDIS_SERVER_BINARY, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        { stdout: "ignore", stderr: "ignore" },
      );
      await eventually(ping, 5_000, 20, `redis on ${port} ready`);
    },
    async kill() {
      proc?.kill("SIGKILL");
      await proc?.exited;
      proc = undefined;
    },
    freeze() {
      proc?.kill("SIGSTOP");
    },
    thaw() {
      proc?.kill("SIGCONT");
    },
    command: (...args) => redisCommand(port, args, 2_000),
    async stop() {
      if (!proc) return;
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await proc.exited;
      proc = undefined;
    },
  };
  await r.start();
  return r;
}

/** Sends one RESP command and returns the first reply line (or the bulk string). Shared with bench/. */
export function redisCommand(port: number, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error("redis command timeout")), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
        },
        data(s, d) {
          buf = Buffer.concat([buf, d]);
          const reply = parseReply(buf);
          if (reply !== undefined) {
            clearTimeout(timer);
            s.end();
            resolve(reply);
          }
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
        connectError(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch((e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function parseReply(buf: Buffer): string | undefined {
  const nl = buf.indexOf("\r\n");
  if (nl < 0) return undefined;
  const head = buf.subarray(0, nl).toString();
  if (head[0] === "$") {
    const len = Number(head.slice(1));
    if (len < 0) return "(nil)";
    const body = buf.subarray(nl + 2);
    return body.length >= len + 2 ? body.subarray(0, len).toString() : undefined;
  }
  return head;
}
