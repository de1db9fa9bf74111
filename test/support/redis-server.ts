// A redis-server owned by one test: started on a spare loopback port with its own folder, and
// stopped, killed, frozen (SIGSTOP), thawed and restarted by that test alone. The shared Redis on
// 6379 is never touched.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REDIS_SERVER_BINARY } from "./services.ts";
import { eventually } from "./wait.ts";

export type TestRedis = {
  port: number;
  url: string;
  /** Its working folder (--dir): dump.rdb lands here on SAVE/BGSAVE and is loaded on start. */
  dir: string;
  start(): Promise<void>;
  /** SIGKILL: nothing is saved; start() brings it back on the same port. */
  kill(): Promise<void>;
  /** kill() then start() on the same port (loading dir/dump.rdb if there is one). */
  restart(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Runs a redis-cli-free command through a short-lived raw connection. */
  command(...args: string[]): Promise<string>;
  /** kill() and remove the folder. */
  stop(): Promise<void>;
};

export type TestRedisOptions = {
  /**
   * Extra redis-server arguments, after the defaults (so they win), e.g.
   * ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"], ["--save", "3600 1"], or
   * ["--enable-debug-command", "yes"] for DEBUG RELOAD / DEBUG SLEEP (Redis 7 refuses DEBUG otherwise).
   */
  args?: string[];
};

export async function spareTcpPort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export async function startTestRedis(opts: TestRedisOptions = {}): Promise<TestRedis> {
  const port = await spareTcpPort();
  const dir = mkdtempSync(join(tmpdir(), "chitram-redis-"));
  let proc: Subprocess | undefined;

  const ping = async () => (await redisCommand(port, ["PING"], 300)) === "+PONG";
  const args = [
    ...["--port", String(port), "--bind", "127.0.0.1", "--protected-mode", "no"],
    ...["--save", "", "--appendonly", "no", "--dir", dir, "--logfile", join(dir, "redis.log")],
    ...(opts.args ?? []),
  ];

  const r: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async start() {
      if (proc && proc.exitCode === null && proc.signalCode === null) return;
      proc = Bun.spawn([REDIS_SERVER_BINARY, ...args], { stdout: "ignore", stderr: "ignore" });
      await eventually(ping, 5_000, 20, `redis on ${port} ready`).catch(async (e: Error) => {
        const log = await Bun.file(join(dir, "redis.log")).text().catch(() => "");
        throw new Error(`${e.message}\n${log.split("\n").slice(-10).join("\n")}`);
      });
    },
    async kill() {
      proc?.kill("SIGCONT");
      proc?.kill("SIGKILL");
      await proc?.exited;
      proc = undefined;
    },
    async restart() {
      await r.kill();
      await r.start();
    },
    freeze() {
      proc?.kill("SIGSTOP");
    },
    thaw() {
      proc?.kill("SIGCONT");
    },
    command: (...a) => redisCommand(port, a, 2_000),
    async stop() {
      await r.kill();
      rmSync(dir, { recursive: true, force: true });
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
