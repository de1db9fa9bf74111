// The processes and the database the bench owns: every child is registered in one place so
// that a failure or Ctrl-C stops all of them, and the shared Redis on 6379 is never touched.
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import postgres from "postgres";
import { redisCommand } from "../test/support/redis-server.ts";

const REPO_ROOT = join(import.meta.dir, "..");
export const POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function sparePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Polls `check` every `intervalMs` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await Bun.sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const isAlive = (p: Subprocess) => p.exitCode === null && p.signalCode === null;

/** Every child process the bench started, so cleanup can find them all. */
export class Children {
  private procs = new Set<Subprocess>();

  /** Starts `cmd` with stdout/stderr appended to `logFile`. */
  spawn(cmd: string[], opts: { logFile: string; env?: Record<string, string | undefined> }): Subprocess {
    const fd = openSync(opts.logFile, "a");
    try {
      return this.track(Bun.spawn(cmd, { cwd: REPO_ROOT, env: opts.env ?? process.env, stdout: fd, stderr: fd, stdin: "ignore" }));
    } finally {
      closeSync(fd); // the child holds its own copy
    }
  }

  /** Adds a process started elsewhere (wrk) to the ones cleanup stops. */
  track(proc: Subprocess): Subprocess {
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL whatever is still there after `graceMs`. */
  async stop(proc: Subprocess, graceMs = 5_000): Promise<void> {
    if (isAlive(proc)) {
      proc.kill("SIGCONT");
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
      if (!exited) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }
    this.procs.delete(proc);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p)));
  }

  /** Synchronous last resort for process exit paths: SIGKILL everything still alive. */
  killAllNow(): void {
    for (const p of this.procs) {
      if (!isAlive(p)) continue;
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Redis: the bench's own redis-server, which scenarios kill, restart, freeze and thaw.

export type BenchRedis = {
  port: number;
  url: string;
  pid(): number | undefined;
  start(): Promise<void>;
  kill(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** One command over a short-lived raw connection (no client library needed for INFO/PING). */
  command(...args: string[]): Promise<string>;
  /** INFO stats counters, e.g. keyspace_hits. */
  stats(): Promise<Record<string, number>>;
};

export async function createRedis(children: Children, dir: string): Promise<BenchRedis> {
  const port = await sparePort();
  let proc: Subprocess | undefined;
  const command = (...args: string[]) => redisCommand(port, args, 2_000);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => proc?.pid,
    async start() {
      if (proc && isAlive(proc)) return;
      proc = children.spawn(
        ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir],
        { logFile: join(dir, "redis.log") },
      );
      await waitFor(`redis-server on ${port}`, async () => (await command("PING")) === "+PONG", 10_000);
    },
    async kill() {
      if (!proc) return;
      proc.kill("SIGKILL");
      await proc.exited;
      proc = undefined;
    },
    freeze: () => proc?.kill("SIGSTOP"),
    thaw: () => proc?.kill("SIGCONT"),
    command,
    async stats() {
      const info = await command("INFO", "stats");
      const out: Record<string, number> = {};
      for (const line of info.split("\r\n")) {
        const [k, v] = line.split(":");
        if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
      }
      return out;
    },
  };
}


// ---------------------------------------------------------------------------------------------
// HTTP servers: chitram from source and the ceiling server.

export type Server = {
  name: string;
  url: string;
  pid: number;
  proc: Subprocess;
  logFile: string;
  /** Every process serving it (a WORKERS supervisor and its workers), for CPU accounting. */
  pids?: () => number[];
};

/** The pids of `pid`'s children (Linux /proc). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export type ChitramOptions = {
  name: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  cacheEnabled: boolean;
  logDir: string;
  /** Extra `bun` flags before `run`, e.g. ["--cpu-prof-md", "--cpu-prof-dir=..."] to profile. */
  bunFlags?: string[];
  /** Thumbnail Workers (default 0: the load scenarios measure requests, not thumbnailing). */
  thumbnailWorkers?: number;
  /** More environment, last (e.g. STORAGE_BACKEND=s3 and its S3_* settings). */
  env?: Record<string, string>;
};

export async function startChitram(children: Children, o: ChitramOptions): Promise<Server> {
  const port = await sparePort();
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: o.dataDir,
    DATABASE_URL: o.databaseUrl ?? "", // empty means unset: embedded PGlite
    REDIS_URL: o.redisUrl ?? "",
    CACHE_ENABLED: String(o.cacheEnabled),
    CACHE_KEY_PREFIX: "bench",
    CACHE_DEBUG: "false",
    RATE_LIMIT_ENABLED: "false", // otherwise 10 uploads per minute
    // Pinned to chitram's defaults so the caller's environment cannot change what is measured.
    LOCAL_STORAGE_PATH: "",
    MAX_FILE_SIZE_MB: "5",
    UPLOAD_CONCURRENCY_LIMIT: "10",
    UPLOAD_CONCURRENCY_TIMEOUT: "30",
    THUMBNAIL_WORKERS: String(o.thumbnailWorkers ?? 0),
    ...o.env,
  };
  const logFile = join(o.logDir, `${o.name}.log`);
  const proc = children.spawn(["bun", ...(o.bunFlags ?? []), "run", "src/main.ts"], { logFile, env });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`chitram ${o.name}`, proc, `${url}/health`, logFile);
  return { name: o.name, url, pid: proc.pid, proc, logFile, pids: () => [proc.pid, ...childPids(proc.pid)] };
}

/** s3rver in its own process (bench/s3-server.ts); the S3 settings for a chitram that uses it. */
export async function startS3(children: Children, dir: string, logDir: string): Promise<{ server: Server; env: Record<string, string> }> {
  const port = await sparePort();
  const bucket = "chitram-bench";
  const logFile = join(logDir, "s3rver.log");
  const proc = children.spawn(["bun", "run", "bench/s3-server.ts", String(port), dir, bucket], { logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitFor("s3rver", async () => {
    if (!isAlive(proc)) throw new FatalError(`s3rver exited: ${await Bun.file(logFile).text()}`);
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status > 0;
  }, 30_000, 100);
  return {
    server: { name: "s3rver", url, pid: proc.pid, proc, logFile },
    // s3rver knows one key pair.
    env: { STORAGE_BACKEND: "s3", S3_ENDPOINT: url, S3_BUCKET: bucket, S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" },
  };
}

export async function startCeiling(children: Children, filesDir: string, logDir: string): Promise<Server> {
  const port = await sparePort();
  const logFile = join(logDir, "ceiling.log");
  const proc = children.spawn(["bun", "run", "bench/ceiling-server.ts", String(port), filesDir], { logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp("ceiling server", proc, `${url}/health`, logFile);
  return { name: "ceiling", url, pid: proc.pid, proc, logFile };
}

async function waitForHttp(what: string, proc: Subprocess, healthUrl: string, logFile: string): Promise<void> {
  // First PGlite init takes a few seconds; a cold Bun transpile cache adds a little more.
  await waitFor(what, async () => {
    if (!isAlive(proc)) {
      const tail = (await Bun.file(logFile).text()).split("\n").slice(-15).join("\n");
      throw new FatalError(`${what} exited with ${proc.exitCode ?? proc.signalCode} before it was ready:\n${tail}`);
    }
    return (await fetch(healthUrl, { signal: AbortSignal.timeout(2_000) })).status === 200;
  }, 60_000, 100).catch((e) => {
    throw e instanceof FatalError ? e : new Error(`${(e as Error).message}; see ${logFile}`);
  });
}

class FatalError extends Error {}

/** chitram's view of its cache ("connected" | "disconnected" | "disabled"), from /health. */
export async function cacheState(server: Server): Promise<string> {
  const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(3_000) });
  return ((await res.json()) as { cache?: string }).cache ?? "unknown";
}

export const waitForCacheState = (server: Server, state: string, timeoutMs = 15_000) =>
  waitFor(`${server.name} cache ${state}`, async () => (await cacheState(server)) === state, timeoutMs, 100);

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a fresh database per run, dropped at the end.

export type BenchDatabase = { name: string; url: string; version: string; drop(): Promise<void> };

export async function createDatabase(): Promise<BenchDatabase> {
  const admin = postgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  const name = `chitram_bench_${Date.now()}`;
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const [row] = await admin<{ version: string }[]>`select version()`;
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      name,
      url: url.href,
      version: row?.version ?? "unknown",
      async drop() {
        const a = postgres(POSTGRES_ADMIN_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
        try {
          await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await a.end({ timeout: 5 });
        }
      },
    };
  } finally {
    await admin.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// chitram's log: warnings it wrote while something was measured say why a number looks odd.

export const logSize = (server: Server) => Bun.file(server.logFile).size;

/** Warn/error lines logged since byte `offset`, tallied: e.g. `2× Redis cache disconnected… (no answer…)`. */
export async function logWarningsSince(server: Server, offset: number): Promise<string[]> {
  const text = await Bun.file(server.logFile).slice(offset).text();
  const tally = new Map<string, number>();
  for (const line of text.split("\n")) {
    let entry: { level?: string; msg?: string; reason?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.level !== "warn" && entry.level !== "error") continue;
    const key = `${entry.level} "${(entry.msg ?? "").split(";")[0]}"${entry.reason ? ` (${entry.reason})` : ""}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [...tally].map(([k, n]) => `${n}× ${k}`);
}
