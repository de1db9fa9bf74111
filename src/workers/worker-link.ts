import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { FromWorker, ToWorker } from "./messages.ts";

const GATHER_TIMEOUT_MS = 3_000;
const ORPHAN_CHECK_MS = 1_000;

/**
 * A worker's side of the supervisor's IPC channel: says when it is ready, answers the
 * supervisor's requests for its metrics, makes /metrics gather the whole fleet's through the
 * supervisor, and shuts down if the supervisor is gone (an orphan must not keep the port).
 */
export function linkToSupervisor(metrics: Metrics, logger: Logger, onOrphaned: () => void) {
  const send = (m: FromWorker) => process.send?.(m);
  let nextId = 1;
  const pending = new Map<number, (text: string) => void>();
  process.on("message", (raw: unknown) => {
    const m = raw as ToWorker;
    if (m.t === "collect") {
      void metrics.json().then(
        (json) => send({ t: "collected", id: m.id, json }),
        (err) => logger.warn("could not collect metrics", { error: String(err) }),
      );
    } else if (m.t === "gathered") {
      pending.get(m.id)?.(m.text);
      pending.delete(m.id);
    }
  });
  metrics.setFleet(
    () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`the supervisor did not answer within ${GATHER_TIMEOUT_MS} ms`));
        }, GATHER_TIMEOUT_MS);
        pending.set(id, (text) => {
          clearTimeout(timer);
          resolve(text);
        });
        send({ t: "gather", id });
      }),
  );
  const parent = process.ppid;
  const orphanCheck = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(orphanCheck);
      logger.warn("supervisor gone; shutting down", { supervisor_pid: parent });
      onOrphaned();
    }
  }, ORPHAN_CHECK_MS);
  orphanCheck.unref?.();
  return { ready: () => send({ t: "ready", pid: process.pid }) };
}
