import { createHash } from "node:crypto";
import type { Invalidations } from "../invalidation/invalidations.ts";
import type { Logger } from "../logger.ts";
import type { Storage } from "../storage/types.ts";
import { thumbnailKeyOf } from "../storage/types.ts";
import type { SourceFormat } from "./codecs.ts";
import type { ClaimedJob, RowChange, ThumbnailJobs } from "./jobs.ts";
import { ThumbnailFailure, type ThumbnailPool } from "./pool.ts";

/**
 * This instance's share of the thumbnail work, a background component started and stopped with
 * the server: claims as many due jobs as the pool has free Workers, makes each thumbnail in the
 * pool, stores it, and commits the row change (with its invalidation) or the failure. Jobs are
 * looked for every `pollMs`, and at once when this instance queued one (`wake`) or finished one.
 */
export type ThumbnailRunner = {
  start(): void;
  wake(): void;
  /** Claims and finishes one round of due jobs (tests drive the runner with it); returns how many ran. */
  runOnce(): Promise<number>;
  requeue(imageIds: string[] | "all-failed"): Promise<string[]>;
  inFlight(): number;
  close(): Promise<void>;
};

export type RunnerOptions = {
  holder: string;
  /** Per-job time limit in the Worker. */
  timeoutMs: number;
  maxAttempts: number;
  pollMs?: number;
  /** First retry delay; doubled each attempt (±20%), at most `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
};

export type RunnerDeps = { jobs: ThumbnailJobs; pool: ThumbnailPool; storage: Storage; invalidations: Invalidations; logger: Logger };

const FORMATS: Record<string, SourceFormat> = { "image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp" };

/**
 * How long a claimed job is this holder's: the Worker's time limit plus room to store the
 * thumbnail and commit. A holder that dies frees its jobs when this runs out.
 */
export const leaseMsFor = (timeoutMs: number) => timeoutMs + Math.max(5_000, timeoutMs / 2);

export function createThumbnailRunner(d: RunnerDeps, opts: RunnerOptions): ThumbnailRunner {
  const { jobs, pool, storage, invalidations, logger } = d;
  const pollMs = opts.pollMs ?? 1_000;
  const leaseMs = leaseMsFor(opts.timeoutMs);
  const running = new Set<Promise<void>>();
  let closed = false;
  let started = false;
  let wakeUp: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let claimFailing = false;

  const committed = (change: RowChange) => invalidations.committed(change.invalidations, change.outboxIds);

  function backoffMs(attempts: number): number {
    const base = Math.min((opts.backoffMs ?? 2_000) * 2 ** (attempts - 1), opts.maxBackoffMs ?? 10 * 60_000);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  async function process(job: ClaimedJob): Promise<void> {
    const startedAt = performance.now();
    const fields = { image_id: job.imageId, attempt: job.attempts };
    logger.info("thumbnail job started", fields);
    const key = thumbnailKeyOf(job.imageId);
    try {
      const format = FORMATS[job.contentType];
      if (!format) throw new ThumbnailFailure(`no thumbnail for content type ${job.contentType}`, true);
      // The size is the row's: one read, no stat (a HEAD on S3) first.
      const body = await storage.read(job.storageKey, { start: 0, end: job.fileSize - 1 });
      if (!body) {
        if (!(await jobs.imageExists(job.imageId))) return; // deleted meanwhile: its job went with it
        throw new ThumbnailFailure("the original is missing from storage", false);
      }
      const made = await pool.run(format, new Uint8Array(await new Response(body).arrayBuffer()), opts.timeoutMs);
      await storage.put(key, made.jpeg);
      const sha256 = createHash("sha256").update(made.jpeg).digest("hex");
      const outcome = await jobs.complete(job.imageId, opts.holder, { key, sha256 }, committed);
      if (outcome === "lost") {
        // Only remove the file if its image is gone: if another instance took the job over, the
        // file (the same bytes) is that instance's too.
        if (!(await jobs.imageExists(job.imageId))) await storage.delete(key);
        logger.info("thumbnail job no longer ours", { ...fields, image_exists: await jobs.imageExists(job.imageId).catch(() => null) });
        return;
      }
      logger.info("thumbnail made", { ...fields, ms: Math.round(performance.now() - startedAt), width: made.width, height: made.height, bytes: made.jpeg.length });
    } catch (err) {
      const failure = err instanceof ThumbnailFailure ? err : new ThumbnailFailure(err instanceof Error ? err.message : String(err), false);
      const final = failure.permanent || job.attempts >= opts.maxAttempts;
      try {
        if (final) await jobs.fail(job.imageId, opts.holder, failure.message, committed);
        else await jobs.retry(job.imageId, opts.holder, failure.message, backoffMs(job.attempts));
      } catch (recordErr) {
        // The lease runs out and the job is taken again; nothing is lost.
        logger.warn("could not record a thumbnail job's failure; it runs again when its lease expires", { ...fields, error: String(recordErr) });
      }
      logger.warn(final ? "thumbnail job failed for good" : "thumbnail job failed; will retry", { ...fields, reason: failure.message, permanent: failure.permanent });
    }
  }

  /** Claims what the pool can take now and starts it; returns the started jobs. */
  async function claimAndStart(): Promise<Array<Promise<void>>> {
    const free = pool.size - running.size;
    if (free <= 0 || closed) return [];
    let claimed: ClaimedJob[];
    try {
      claimed = await jobs.claim(opts.holder, free, leaseMs);
      if (claimFailing) logger.info("thumbnail jobs can be claimed again");
      claimFailing = false;
    } catch (err) {
      if (!claimFailing) logger.warn("cannot claim thumbnail jobs; retrying", { error: String(err) });
      claimFailing = true;
      return [];
    }
    return claimed.map((job) => {
      const p = process(job).finally(() => {
        running.delete(p);
        wakeUp?.();
      });
      running.add(p);
      return p;
    });
  }

  async function run(): Promise<void> {
    while (!closed) {
      const batch = await claimAndStart();
      if (batch.length > 0 && running.size < pool.size) continue; // there may be more due
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          wakeUp = undefined;
          resolve();
        }
        wakeUp = done;
      });
    }
  }

  return {
    start() {
      if (started || pool.size === 0) return;
      started = true;
      loop = run().catch((err) => logger.error("thumbnail runner stopped", { error: String(err) }));
    },
    wake: () => wakeUp?.(),
    async runOnce() {
      const batch = await claimAndStart();
      await Promise.all(batch);
      return batch.length;
    },
    requeue: async (imageIds) => {
      const ids = await jobs.requeue(imageIds, committed);
      wakeUp?.();
      return ids;
    },
    inFlight: () => running.size,
    async close() {
      closed = true;
      wakeUp?.();
      await loop;
      // Jobs still in their Worker are abandoned: their leases run out and they run again elsewhere.
      await pool.close();
      await Promise.allSettled([...running]);
    },
  };
}
