// Measuring: wrk runs (parsed from the `BENCH_JSON` line of bench/wrk/report.lua) and what the
// kernel says about CPU time and memory, read from /proc.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const WRK_DIR = join(import.meta.dir, "wrk");
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ; `getconf CLK_TCK` is 100 on every Linux we run on

export type WrkErrors = { connect: number; read: number; write: number; status: number; timeout: number };

export type WrkRun = {
  rps: number;
  requests: number;
  seconds: number;
  bytesPerSecond: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: WrkErrors;
  errorCount: number;
  /**
   * CPU used during the run, in cores (1.0 = one core busy for the whole run): `wrk`, `machine`
   * (all of it), and one entry per group of `cpuGroups`.
   */
  cpu: Record<string, number>;
};

export type WrkOptions = {
  url: string;
  script: "random-path.lua" | "upload.lua";
  args: string[];
  seconds: number;
  connections: number;
  threads: number;
  timeoutSeconds: number;
  /** Processes whose CPU time is reported alongside wrk's, by group name (e.g. server, postgres). */
  cpuGroups: Record<string, number[]>;
  /** Registers wrk with whoever stops children on Ctrl-C. */
  track?: (proc: Subprocess) => void;
};

export async function runWrk(o: WrkOptions): Promise<WrkRun> {
  const cmd = [
    "wrk", `-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, `--timeout`, `${o.timeoutSeconds}s`,
    "-s", join(WRK_DIR, o.script), o.url, "--", ...o.args,
  ];
  const groups0 = cpuByGroup(o.cpuGroups);
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  o.track?.(proc);
  // wrk stops itself after -d; this only guards against a wedged wrk.
  const guard = setTimeout(() => proc.kill("SIGKILL"), (o.seconds + 30) * 1000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(guard);
  const wall = (performance.now() - t0) / 1000;
  const machine = machineBusySeconds() - machine0;
  const groups1 = cpuByGroup(o.cpuGroups);
  const wrkCpu = Number(proc.resourceUsage()?.cpuTime.total ?? 0n) / 1e6;

  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk printed no result (exit ${proc.exitCode}):\n${stdout}\n${stderr}`);
  const r = JSON.parse(line.slice("BENCH_JSON ".length)) as {
    requests: number; duration_us: number; bytes: number; mean_us: number;
    p50_us: number; p90_us: number; p99_us: number; max_us: number; errors: WrkErrors;
  };
  const seconds = r.duration_us / 1e6;
  const e = r.errors;
  const cpu: Record<string, number> = { wrk: wrkCpu / wall, machine: machine / wall };
  for (const [group, after] of Object.entries(groups1)) cpu[group] = cpuDelta(groups0[group], after) / wall;
  return {
    rps: r.requests / seconds,
    requests: r.requests,
    seconds,
    bytesPerSecond: r.bytes / seconds,
    meanMs: r.mean_us / 1000,
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    maxMs: r.max_us / 1000,
    errors: e,
    errorCount: e.connect + e.read + e.write + e.status + e.timeout,
    cpu,
  };
}

/** CPU seconds of each process of each group; processes that are gone are left out. */
function cpuByGroup(groups: Record<string, number[]>): Record<string, Map<number, number>> {
  const out: Record<string, Map<number, number>> = {};
  for (const [group, pids] of Object.entries(groups)) {
    const m = new Map<number, number>();
    for (const pid of pids) {
      try {
        m.set(pid, processCpuSeconds(pid));
      } catch {
        // exited
      }
    }
    out[group] = m;
  }
  return out;
}

/** CPU seconds a group used between two readings, counting only processes present in both. */
function cpuDelta(before: Map<number, number> | undefined, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) {
    const start = before?.get(pid);
    if (start !== undefined) sum += seconds - start;
  }
  return sum;
}

/** Pids of every process whose command name is `comm` (e.g. all PostgreSQL backends). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Cores busy over `ms`, for the whole machine (to wait for other people's jobs to finish). */
export async function machineBusyCores(ms: number): Promise<number> {
  const before = machineBusySeconds();
  await Bun.sleep(ms);
  return (machineBusySeconds() - before) / (ms / 1000);
}

/** utime + stime of one process, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name (which may contain spaces): state is [0], utime [11], stime [12].
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds all cores spent not idle (nor waiting on I/O) since boot. */
function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal; guest is already in user
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return (total - idle) / CLOCK_TICKS_PER_SECOND;
}

/** A `Vm*` line of /proc/<pid>/status in kB (VmRSS now, VmHWM the peak). */
export function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5"), so a peak can be measured for one phase. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `intervalMs`; `stop()` returns the largest value seen, in kB. */
export function sampleRss(pid: number, intervalMs = 100): { stop(): number } {
  let max = statusKb(pid, "VmRSS");
  const timer = setInterval(() => {
    try {
      max = Math.max(max, statusKb(pid, "VmRSS"));
    } catch {
      // process gone: keep what we saw
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return max;
    },
  };
}

/** Runs `fn` over `items` with at most `concurrency` in flight; gives up (throws) after `timeoutMs`. */
export async function inParallel<T, R>(items: readonly T[], concurrency: number, timeoutMs: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  const deadline = Date.now() + timeoutMs;
  let next = 0;
  async function worker() {
    while (next < items.length) {
      if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms with ${items.length - next} of ${items.length} left`);
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
