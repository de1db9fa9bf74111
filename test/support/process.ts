// Real server processes for tests: chitram from source (several may share one PostgreSQL and
// Redis), or the built binary. Started with only the environment the test chooses, awaited
// until they answer HTTP, their log lines kept, and stopped or killed by the test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { spareTcpPort } from "./redis-server.ts";

const ROOT = join(import.meta.dir, "..", "..");
export const MAIN = join(ROOT, "src", "main.ts");

export type ServerProcess = {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  port: number;
  url: string;
  /** Milliseconds from spawn to the first HTTP answer. */
  firstAnswerMs: number;
  /** Exit code (128 + signal when killed), once the process has exited and its output is read. */
  exited: Promise<number>;
  /** stdout and stderr lines so far, in arrival order. */
  logs(): string[];
  /** The log lines that are JSON objects, parsed. */
  logEntries(): Array<Record<string, unknown>>;
  /** Resolves with the first log line (past or future) matching; rejects after `timeoutMs` or on exit. */
  waitForLog(match: string | RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals | number): void;
  /** SIGCONT (in case it is frozen) + SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
};

export type ServerProcessOptions = {
  cwd: string;
  /** The whole environment: nothing is inherited. */
  env: Record<string, string>;
  port: number;
  readyTimeoutMs?: number;
};

/** Feeds each line of `stream` to `onLine`; resolves when the stream ends. */
export async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  rest += decoder.decode();
  if (rest) onLine(rest);
}

const matches = (line: string, m: string | RegExp) => (typeof m === "string" ? line.includes(m) : m.test(line));

/** Spawns `cmd` and resolves once `GET /health` on `port` answers with any status; throws if it exits first. */
export async function startServerProcess(cmd: string[], opts: ServerProcessOptions): Promise<ServerProcess> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters) w(line);
  };
  const drained = Promise.all([readLines(proc.stdout, onLine), readLines(proc.stderr, onLine)]);
  const exited = Promise.all([proc.exited, drained]).then(([code]) => code);
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://127.0.0.1:${opts.port}`;
  const kill = (signal: NodeJS.Signals | number = "SIGKILL") => {
    if (!hasExited) proc.kill(signal);
  };
  const until = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let firstAnswerMs: number | undefined;
  while (Date.now() < until && !hasExited) {
    const answered = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
      async (r) => (await r.arrayBuffer(), true),
      () => false,
    );
    if (answered) {
      firstAnswerMs = Math.round(performance.now() - started);
      break;
    }
    await Bun.sleep(10);
  }
  if (firstAnswerMs === undefined) {
    kill("SIGKILL");
    const code = await exited;
    throw new Error(`${cmd.join(" ")} did not answer on ${url} (exit ${code}):\n${lines.slice(-20).join("\n")}`);
  }

  return {
    proc,
    pid: proc.pid,
    port: opts.port,
    url,
    firstAnswerMs,
    exited,
    logs: () => [...lines],
    logEntries: () =>
      lines.flatMap((l) => {
        try {
          const v: unknown = JSON.parse(l);
          return v && typeof v === "object" && !Array.isArray(v) ? [v as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    waitForLog(match, timeoutMs = 10_000) {
      const seen = lines.find((l) => matches(l, match));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          fn();
        };
        const waiter = (line: string) => {
          if (matches(line, match)) done(() => resolve(line));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no log line matching ${match} within ${timeoutMs} ms`))), timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => done(() => reject(new Error(`exited (${code}) without a log line matching ${match}`))));
      });
    },
    kill,
    async stop(graceMs = 10_000) {
      kill("SIGCONT");
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export type ChitramProcess = ServerProcess & {
  dataDir: string;
  /** Stops the process and removes the DATA_DIR this helper made (not one the test passed). */
  destroy(): Promise<void>;
};

export type ChitramOptions = {
  /** Merged last over the defaults: DATABASE_URL, REDIS_URL, LOCAL_STORAGE_PATH, limits … */
  env?: Record<string, string>;
  port?: number;
  readyTimeoutMs?: number;
  /** A command the server runs under, e.g. `setpriv --reuid 1000 …` to start as another user. */
  prefix?: string[];
};

/** The environment chitram gets in tests: only what the test chooses plus what bun needs. */
function chitramEnv(dataDir: string, env: Record<string, string> | undefined): Record<string, string> {
  return {
    PATH: "/usr/bin:/bin",
    HOME: dataDir,
    TMPDIR: process.env.TMPDIR ?? "/tmp",
    TZ: "UTC",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    RATE_LIMIT_ENABLED: "false",
    CACHE_ENABLED: env?.REDIS_URL ? "true" : "false",
    ...env,
  };
}

/** Runs chitram to completion (a start-up that fails, `--help` …); kills it after `timeoutMs`. */
export async function runChitram(opts: { env?: Record<string, string>; args?: string[]; timeoutMs?: number; prefix?: string[] } = {}) {
  const started = performance.now();
  const dataDir = opts.env?.DATA_DIR ?? mkdtempSync(join(tmpdir(), "chitram-run-"));
  const proc = Bun.spawn([...(opts.prefix ?? []), process.execPath, "--no-env-file", MAIN, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: chitramEnv(dataDir, opts.env),
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if (opts.env?.DATA_DIR === undefined) rmSync(dataDir, { recursive: true, force: true });
  return { code, stdout, stderr, ms: performance.now() - started };
}

/**
 * Runs chitram from source (`bun run src/main.ts`) on 127.0.0.1, as production would, with a
 * minimal environment: a temp DATA_DIR (PGlite there unless `env.DATABASE_URL`), the rate limit
 * off, and the cache on only when `env.REDIS_URL` is given (never the machine's Redis on 6379).
 */
export async function startChitram(opts: ChitramOptions = {}): Promise<ChitramProcess> {
  const port = opts.port ?? (await spareTcpPort());
  const ownDataDir = opts.env?.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), "chitram-proc-")) : undefined;
  const dataDir = opts.env?.DATA_DIR ?? ownDataDir!;
  const env = { ...chitramEnv(dataDir, opts.env), PORT: String(port) };
  let server: ServerProcess;
  try {
    server = await startServerProcess([...(opts.prefix ?? []), process.execPath, "--no-env-file", "run", "src/main.ts"], {
      cwd: ROOT,
      env,
      port,
      readyTimeoutMs: opts.readyTimeoutMs,
    });
  } catch (err) {
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    dataDir,
    async destroy() {
      await server.stop();
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    },
  };
}
