// A PostgreSQL cluster owned by one test: initdb into a temp folder, a postmaster on a spare
// loopback port, and stop / kill / freeze / thaw / restart by that test alone. The shared
// PostgreSQL on 5432 is never touched.
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import postgres from "postgres";
import { readLines } from "./process.ts";
import { spareTcpPort } from "./redis-server.ts";
import { AS_POSTGRES_USER, PG_BIN_DIR, PG_OS_USER } from "./services.ts";
import { eventually } from "./wait.ts";

export type TestPostgres = {
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/DATABASE (trust auth). */
  url: string;
  dir: string;
  /** The postmaster's pid while it runs. */
  pid(): number | undefined;
  /** Every process the postmaster has forked (backends, checkpointer, walwriter …). */
  childPids(): number[];
  /** Starts the postmaster on the same port and data; resolves once it accepts connections (after crash recovery, if any). */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT): open transactions roll back, connections are closed, the data is kept. */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster and every child, as a machine crash would; resolves once none is left. */
  kill(): Promise<void>;
  /** SIGSTOP of the postmaster and every child: open connections and new ones hang. */
  freeze(): void;
  thaw(): void;
  /** stop() (or kill() with `{ crash: true }`) then start(), on the same port. */
  restart(opts?: { crash?: boolean }): Promise<void>;
  /** Runs `sql` (one or more statements; rows of the last) on a short-lived connection; rejects after `timeoutMs`. */
  query<T = Record<string, unknown>>(sql: string, opts?: { timeoutMs?: number; database?: string }): Promise<T[]>;
  /** The server's log lines (stderr), across restarts. */
  logs(): string[];
  /** Stops the server (killing it if it will not stop) and removes the folder. */
  destroy(): Promise<void>;
};

export type TestPostgresOptions = {
  /** The database created for the test; default "test". */
  database?: string;
  /** Extra `-c name=value` server settings, e.g. `{ statement_timeout: "2s" }`. */
  settings?: Record<string, string>;
};

const live = new Set<() => void>();
// Last resort when a test run dies without destroy(): no postmaster outlives it.
process.on("exit", () => {
  for (const killNow of live) killNow();
});

/** Starts a fresh cluster (initdb ≈ 0.5 s, start ≈ 0.1 s on the dev machine) with `database` created in it. */
export async function startTestPostgres(opts: TestPostgresOptions = {}): Promise<TestPostgres> {
  const database = opts.database ?? "test";
  const dir = mkdtempSync(join(tmpdir(), "chitram-pg-"));
  const dataDir = join(dir, "data");
  if (PG_OS_USER) chownSync(dir, PG_OS_USER.uid, PG_OS_USER.gid);
  const env = { PATH: "/usr/bin:/bin", LANG: "C", LC_ALL: "C", TZ: "UTC" };

  const initdb = Bun.spawn(
    [...AS_POSTGRES_USER, join(PG_BIN_DIR, "initdb"), "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
    { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  if ((await initdb.exited) !== 0) {
    const out = (await new Response(initdb.stdout).text()) + (await new Response(initdb.stderr).text());
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed:\n${out}`);
  }

  const port = await spareTcpPort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: dir,
    // Speed only: every commit still write()s its WAL, so a SIGKILL loses nothing committed
    // (synchronous_commit=off would: WAL left in shared memory dies with the processes).
    fsync: "off",
    full_page_writes: "off",
    max_connections: "100",
    ...opts.settings,
  };
  const args = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const lines: string[] = [];
  let proc: Subprocess<"ignore", "ignore", "pipe"> | undefined;
  let exited: Promise<unknown> = Promise.resolve();

  const signal = (pids: number[], sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {} // already gone
    }
  };
  const childPids = () => (proc ? descendants(proc.pid) : []);
  /** SIGKILLs the postmaster and its children; returns the children's pids. */
  const killNow = (): number[] => {
    if (!proc) return [];
    signal([proc.pid], "SIGSTOP"); // it cannot fork while we list and kill its children
    const pids = childPids();
    signal(pids, "SIGKILL");
    signal([proc.pid], "SIGKILL");
    return pids;
  };

  const pg: TestPostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    dir,
    pid: () => proc?.pid,
    childPids,
    async start() {
      if (proc) return;
      const from = lines.length;
      const p = Bun.spawn([...AS_POSTGRES_USER, join(PG_BIN_DIR, "postgres"), "-D", dataDir, "-p", String(port), ...args], {
        env,
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      proc = p;
      live.add(killNow);
      exited = Promise.all([p.exited, readLines(p.stderr, (l) => lines.push(l))]).then(() => {
        if (proc === p) proc = undefined;
        live.delete(killNow);
      });
      const ready = () => lines.slice(from).some((l) => l.includes("database system is ready to accept connections"));
      await eventually(async () => {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error("exited");
        return ready();
      }, 30_000, 10, `postgres on ${port} ready`).catch(() => {
        throw new Error(`postgres did not start on ${port}:\n${lines.slice(from).join("\n")}`);
      });
    },
    async stop() {
      if (!proc) return;
      pg.thaw();
      signal([proc.pid], "SIGINT"); // fast shutdown
      const done = await Promise.race([exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
      if (!done) await pg.kill();
    },
    async kill() {
      if (!proc) return;
      const pids = killNow();
      await exited;
      // Orphaned children are reparented; zombies hold no port, but a live one would.
      await eventually(async () => pids.every((pid) => !alive(pid)), 5_000, 10, "postgres children gone");
    },
    freeze() {
      if (!proc) return;
      signal([proc.pid], "SIGSTOP");
      signal(childPids(), "SIGSTOP");
    },
    thaw() {
      if (!proc) return;
      signal(childPids(), "SIGCONT");
      signal([proc.pid], "SIGCONT");
    },
    async restart(o = {}) {
      await (o.crash ? pg.kill() : pg.stop());
      await pg.start();
    },
    async query<T>(text: string, o: { timeoutMs?: number; database?: string } = {}) {
      const url = o.database ? `postgres://postgres@127.0.0.1:${port}/${o.database}` : pg.url;
      const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
      const timeoutMs = o.timeoutMs ?? 10_000;
      let timer: Timer | undefined;
      try {
        const rows = await Promise.race([
          sql.unsafe(text).simple(),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`query timed out after ${timeoutMs} ms: ${text}`)), timeoutMs))),
        ]);
        // Several statements give one result per statement: keep the last one's rows.
        const last: unknown = Array.isArray(rows[0]) ? rows[rows.length - 1] : rows;
        return [...(last as Iterable<T>)];
      } finally {
        clearTimeout(timer);
        await sql.end({ timeout: 0 });
      }
    },
    logs: () => [...lines],
    async destroy() {
      await pg.stop().catch(() => pg.kill());
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await pg.start();
    await pg.query(`CREATE DATABASE "${database}"`, { database: "postgres" });
  } catch (err) {
    await pg.kill().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return pg;
}

/** Whether `pid` is a process that still runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    return procStat(pid).state !== "Z";
  } catch {
    return false;
  }
}

function procStat(pid: number): { state: string; ppid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // "pid (comm) state ppid …": comm may hold spaces and parentheses.
  const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: state!, ppid: Number(ppid) };
}

/** Live descendants of `root`, from /proc. */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of existsSync("/proc") ? readdirSync("/proc") : []) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const { state, ppid } = procStat(Number(name));
      if (state !== "Z") parentOf.set(Number(name), ppid);
    } catch {} // exited while we looked
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length) {
    const parent = frontier.pop()!;
    for (const [pid, ppid] of parentOf) {
      if (ppid === parent) {
        out.push(pid);
        frontier.push(pid);
      }
    }
  }
  return out;
}
