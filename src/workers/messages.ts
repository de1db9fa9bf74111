import type { MetricsJson } from "../metrics/metrics.ts";

/** Set in the environment of the processes a supervisor starts: the worker's number (1…WORKERS). */
export const WORKER_ENV = "CHITRAM_WORKER";

/** What a worker tells its supervisor over the IPC channel. */
export type FromWorker =
  | { t: "ready"; pid: number }
  /** Asks for the fleet's /metrics (a scrape reached this worker). */
  | { t: "gather"; id: number }
  | { t: "collected"; id: number; json: MetricsJson };

/** What a supervisor tells a worker. */
export type ToWorker = { t: "collect"; id: number } | { t: "gathered"; id: number; text: string };

/** The command that starts this same program again (from source, or the compiled binary). */
export function selfCommand(): string[] {
  // In the binary every bundled module's path is under /$bunfs; argv[1] is that virtual path.
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.execArgv, Bun.main, ...process.argv.slice(2)];
}
