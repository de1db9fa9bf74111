import type { Leases } from "../db/leases.ts";
import type { ImagesRepo } from "../images/repo.ts";
import type { Logger } from "../logger.ts";
import type { Storage } from "./types.ts";

export type ReconcileReport = {
  scanned: number;
  orphansRemoved: number;
  temporariesRemoved: number;
  /** Ids of images whose original (or thumbnail) is missing from storage; only logged, never "fixed". */
  rowsWithoutFile: string[];
};

/**
 * Keeps storage and rows paired after crashes. Uploads write the file before the row and deletes
 * remove the row before the file, so what a crash can leave behind is only ever a file without a
 * row, or a temporary from an interrupted write: both are removed here once older than the grace
 * period (which exceeds the longest an upload can take between writing its file and committing its
 * row, so a pass never races an upload in flight). A row without its file should be impossible;
 * it is logged, loudly.
 *
 * One instance at a time across the fleet (a lease), at start-up and every `intervalMs`.
 */
export type Reconciler = {
  /** One pass, if the fleet-wide lease is free; undefined when another instance holds it. */
  runOnce(): Promise<ReconcileReport | undefined>;
  start(): void;
  close(): Promise<void>;
};

export type ReconcilerOptions = { graceMs: number; intervalMs: number; holder: string };

const LEASE = "storage-reconciler";
const LEASE_TTL_MS = 10 * 60_000;
const BATCH = 500;
const REPORT_IDS = 20;
// A row whose file is missing from the listing is checked again (it may have been deleted since);
// past this many, the rest are counted unchecked: something larger is wrong, and a round trip per
// row (a HEAD on S3) would only make the pass slow.
const MAX_RECHECKS = 100;

export function createReconciler(storage: Storage, repo: ImagesRepo, leases: Leases, logger: Logger, opts: ReconcilerOptions): Reconciler {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<ReconcileReport | undefined> | undefined;
  let closed = false;

  async function pass(): Promise<ReconcileReport> {
    const startedAt = Date.now();
    const old = (modifiedAtMs: number) => startedAt - modifiedAtMs > opts.graceMs;
    const report: ReconcileReport = { scanned: 0, orphansRemoved: 0, temporariesRemoved: 0, rowsWithoutFile: [] };
    const present = new Set<string>();
    let candidates: string[] = [];

    const sweep = async () => {
      const inUse = await repo.storageKeysInUse(candidates);
      for (const key of candidates) {
        if (inUse.has(key)) continue;
        await storage.delete(key);
        present.delete(key);
        report.orphansRemoved++;
      }
      candidates = [];
    };

    for await (const entry of storage.scan()) {
      report.scanned++;
      if (entry.temporary) {
        if (old(entry.modifiedAtMs)) {
          await storage.removeTemporary(entry.name);
          report.temporariesRemoved++;
        }
        continue;
      }
      present.add(entry.name);
      if (old(entry.modifiedAtMs)) candidates.push(entry.name);
      if (candidates.length >= BATCH) await sweep();
    }
    if (candidates.length) await sweep();

    // Rows whose bytes are missing: a full pass by id, checked again before it is reported.
    let missing = 0;
    let rechecks = 0;
    for (let after: string | undefined; ; ) {
      const page = await repo.keysPage(after, BATCH);
      for (const row of page) {
        if (!old(row.createdAt.getTime())) continue;
        for (const key of [row.storageKey, row.thumbnailKey]) {
          if (key && !present.has(key) && (rechecks++ >= MAX_RECHECKS || !(await storage.exists(key)))) {
            missing++;
            if (report.rowsWithoutFile.length < REPORT_IDS && !report.rowsWithoutFile.includes(row.id)) report.rowsWithoutFile.push(row.id);
          }
        }
      }
      if (page.length < BATCH) break;
      after = page[page.length - 1]!.id;
    }
    if (missing) logger.error("images whose stored bytes are missing", { count: missing, ids: report.rowsWithoutFile });
    logger.info("storage reconciled", { ...report, rowsWithoutFile: missing, ms: Date.now() - startedAt });
    return report;
  }

  async function runOnce(): Promise<ReconcileReport | undefined> {
    running ??= (async () => {
      if (!(await leases.acquire(LEASE, opts.holder, LEASE_TTL_MS))) return undefined;
      try {
        return await pass();
      } finally {
        await leases.release(LEASE, opts.holder).catch(() => {});
      }
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(delayMs: number) {
    if (closed) return;
    timer = setTimeout(async () => {
      await runOnce().catch((err) => logger.warn("storage reconciliation failed; will retry", { error: String(err) }));
      // Jitter spreads a fleet that started together.
      schedule(opts.intervalMs * (0.9 + Math.random() * 0.2));
    }, delayMs);
    timer.unref?.();
  }

  return {
    runOnce,
    start: () => schedule(5_000 + Math.random() * 5_000),
    async close() {
      closed = true;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
