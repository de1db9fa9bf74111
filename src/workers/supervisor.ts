import type { Server, Subprocess } from "bun";
import { Counter, Gauge, Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { aggregateMetrics, type MetricsJson } from "../metrics/metrics.ts";
import { listenMetrics } from "../metrics/routes.ts";
import { selfCommand, WORKER_ENV, type FromWorker, type ToWorker } from "./messages.ts";

const COLLECT_TIMEOUT_MS = 2_000;
const RESTART_BACKOFF_MIN_MS = 200;
const RESTART_BACKOFF_MAX_MS = 5_000;
/** A worker that ran this long before crashing starts the backoff over. */
const STABLE_MS = 30_000;
const KILL_GRACE_MS = 5_000;

type Slot = { n: number; proc?: Subprocess; ready: boolean; startedAt: number; crashes: number; onReady?: () => void };

/**
 * WORKERS > 1: this process serves nothing itself. It starts WORKERS copies of this program
 * (from source or the binary alike), each a complete chitram listening on PORT with reusePort
 * (the kernel spreads connections), each with its own in-process cache tier kept coherent by the
 * same invalidation channel as separate instances. It:
 *  - starts worker 1 first and the rest once it is ready (worker 1 runs the migrations alone), and
 *    gives up, exit 1, if a worker fails to start (its one-line reason is already on stderr);
 *  - restarts a worker that exits unexpectedly (backoff 0.2 s doubling to 5 s while it keeps
 *    crashing);
 *  - on SIGTERM/SIGINT passes SIGTERM to every worker (each drains its requests), waits for them
 *    (SIGKILL after SHUTDOWN_TIMEOUT_SECONDS + 5 s) and exits 0;
 *  - gathers /metrics from every worker and adds them up, for a scrape of any worker, and serves
 *    them itself on METRICS_PORT when that is set.
 * Per machine, not per worker: only worker 1 runs thumbnail Workers (THUMBNAIL_WORKERS threads;
 * the others get 0 and leave the jobs to it); the reconciler is leased, so whichever runs it, one does.
 */
export async function runSupervisor(config: Config, logger: Logger): Promise<void> {
  const registry = new Registry();
  const restarts = new Counter({ name: "chitram_worker_restarts_total", help: "Worker processes restarted after they exited unexpectedly", registers: [registry] });
  const slots: Slot[] = Array.from({ length: config.WORKERS }, (_, i) => ({ n: i + 1, ready: false, startedAt: 0, crashes: 0 }));
  new Gauge({
    name: "chitram_workers_ready",
    help: "Worker processes serving (WORKERS > 1)",
    registers: [registry],
    collect() {
      this.set(slots.filter((s) => s.ready).length);
    },
  });
  let stopping = false;
  let booting = true;
  let bootFailure: ((code: number) => void) | undefined;
  let collectId = 1;
  const collecting = new Map<number, { parts: MetricsJson[]; waiting: number; done: () => void }>();

  async function gather(): Promise<string> {
    const live = slots.filter((s) => s.ready && s.proc);
    const id = collectId++;
    const parts: MetricsJson[] = [(await registry.getMetricsAsJSON()) as MetricsJson];
    if (live.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, COLLECT_TIMEOUT_MS);
        function done() {
          clearTimeout(timer);
          collecting.delete(id);
          resolve();
        }
        collecting.set(id, { parts, waiting: live.length, done });
        for (const s of live) s.proc!.send({ t: "collect", id } satisfies ToWorker);
      });
    }
    return aggregateMetrics(parts);
  }

  function onMessage(slot: Slot, m: FromWorker) {
    if (m.t === "ready") {
      slot.ready = true;
      slot.onReady?.();
    } else if (m.t === "collected") {
      const c = collecting.get(m.id);
      if (!c) return;
      c.parts.push(m.json);
      if (--c.waiting === 0) c.done();
    } else if (m.t === "gather") {
      void gather().then(
        (text) => slot.proc?.send({ t: "gathered", id: m.id, text } satisfies ToWorker),
        (err) => logger.warn("could not gather metrics", { error: String(err) }),
      );
    }
  }

  function start(slot: Slot): Promise<void> {
    const env: Record<string, string | undefined> = { ...process.env, [WORKER_ENV]: String(slot.n) };
    if (slot.n > 1) env.THUMBNAIL_WORKERS = "0";
    slot.ready = false;
    slot.startedAt = performance.now();
    const proc = Bun.spawn(selfCommand(), {
      env,
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      serialization: "json",
      ipc: (m) => onMessage(slot, m as FromWorker),
    });
    slot.proc = proc;
    const ready = new Promise<void>((resolve) => (slot.onReady = resolve));
    void proc.exited.then((code) => exited(slot, proc, code));
    return ready;
  }

  function exited(slot: Slot, proc: Subprocess, code: number) {
    if (slot.proc !== proc) return;
    const wasReady = slot.ready;
    slot.ready = false;
    slot.proc = undefined;
    if (stopping) return;
    if (booting && !wasReady) {
      bootFailure?.(code === 0 ? 1 : code);
      return;
    }
    if (performance.now() - slot.startedAt > STABLE_MS) slot.crashes = 0;
    const delay = Math.min(RESTART_BACKOFF_MIN_MS * 2 ** slot.crashes, RESTART_BACKOFF_MAX_MS);
    slot.crashes++;
    restarts.inc();
    logger.warn("worker exited; restarting it", { worker: slot.n, pid: proc.pid, exit_code: proc.exitCode, signal: proc.signalCode, restart_in_ms: delay });
    setTimeout(() => {
      if (!stopping) void start(slot);
    }, delay);
  }

  async function stopAll(): Promise<void> {
    const running = slots.flatMap((s) => (s.proc ? [s.proc] : []));
    for (const p of running) p.kill("SIGTERM");
    const graceMs = config.SHUTDOWN_TIMEOUT_SECONDS * 1000 + KILL_GRACE_MS;
    const inTime = await Promise.race([Promise.all(running.map((p) => p.exited)).then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!inTime) {
      logger.warn("workers did not stop in time; killing them", { grace_ms: graceMs });
      for (const p of running) p.kill("SIGKILL");
      await Promise.all(running.map((p) => p.exited));
    }
  }

  let metricsServer: Server<undefined> | undefined;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, workers: slots.filter((s) => s.proc).length });
    await metricsServer?.stop(true);
    await stopAll();
    logger.info("stopped");
    logger.flush?.();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  // Boot: worker 1 alone (migrations), then the others together; any failing to start ends it all.
  const failed = new Promise<number>((resolve) => (bootFailure = resolve));
  const boot = (async () => {
    await start(slots[0]!);
    await Promise.all(slots.slice(1).map(start));
  })();
  const outcome = await Promise.race([boot.then(() => 0), failed]);
  booting = false;
  if (outcome !== 0) {
    stopping = true;
    await stopAll();
    process.exit(outcome);
  }

  if (config.METRICS_PORT !== undefined) {
    try {
      metricsServer = listenMetrics(config, gather, registry.contentType);
    } catch (err) {
      stopping = true;
      await stopAll();
      throw err;
    }
  }
  logger.info("chitram supervising workers", {
    workers: config.WORKERS,
    pids: slots.map((s) => s.proc?.pid),
    port: config.PORT,
    ...(config.METRICS_PORT ? { metrics_port: config.METRICS_PORT } : {}),
  });
}
