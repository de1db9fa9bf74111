import { and, asc, eq, inArray, lte, or, sql } from "drizzle-orm";
import type { DatabaseHandle } from "../db/client.ts";
import { images, thumbnailJobs } from "../db/schema.ts";
import type { Invalidation } from "../invalidation/log.ts";
import { recordInvalidations } from "../invalidation/outbox.ts";

/** A job this instance holds (its lease runs until `lockedUntil`), with what it needs of the image. */
export type ClaimedJob = { imageId: string; attempts: number; storageKey: string; contentType: string };

/** Every state change that shows in metadata changes the image row: its new version, for the caches. */
export type RowChange = { invalidations: Invalidation[]; outboxIds: number[] };

export type JobCounts = { pending: number; running: number; failed: number };

/**
 * SQL over `thumbnail_jobs` (see db/schema.ts). Knows nothing of codecs or storage. Every change
 * of a job that changes what metadata shows (made, failed for good, re-queued) updates the image
 * row in the same transaction: `version + 1` and an outbox invalidation, so every instance's
 * caches drop their copy the moment it commits.
 */
export type ThumbnailJobs = {
  /**
   * Takes up to `limit` due jobs: pending ones whose time has come, and running ones whose holder
   * let the lease run out (it died). FOR UPDATE SKIP LOCKED: concurrent claimers never take the
   * same job.
   */
  claim(holder: string, limit: number, leaseMs: number): Promise<ClaimedJob[]>;
  /**
   * The thumbnail is stored: the job goes, the row gets `thumbnailKey`. "lost" when this holder no
   * longer has the job (the lease ran out and another took it, or the image was deleted; `imageGone`
   * tells which), "done" otherwise.
   */
  complete(imageId: string, holder: string, thumbnail: { key: string; sha256: string }, invalidation: (version: number) => Invalidation, afterCommit: (change: RowChange) => Promise<void>): Promise<"done" | "lost">;
  /** Another attempt after `retryInMs`. */
  retry(imageId: string, holder: string, reason: string, retryInMs: number): Promise<void>;
  /** No more attempts: the job stays `failed` with `reason`, which the row shows as `thumbnailError`. */
  fail(imageId: string, holder: string, reason: string, invalidation: (version: number) => Invalidation, afterCommit: (change: RowChange) => Promise<void>): Promise<void>;
  /** Failed jobs (all, or these images') start again from their first attempt; returns the image ids. */
  requeue(imageIds: string[] | "all-failed", invalidation: (id: string, version: number) => Invalidation, afterCommit: (change: RowChange) => Promise<void>): Promise<string[]>;
  imageExists(imageId: string): Promise<boolean>;
  counts(): Promise<JobCounts>;
  /** The job of one image, for tests and operators. */
  find(imageId: string): Promise<{ state: string; attempts: number; lastError: string | null } | undefined>;
};

const MAX_REASON_CHARS = 300;

/** Reasons are shown in metadata: one printable line, bounded. */
export const cleanReason = (reason: string) => reason.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, MAX_REASON_CHARS) || "unknown error";

export function createThumbnailJobs(database: DatabaseHandle): ThumbnailJobs {
  const { db, run } = database;
  const j = thumbnailJobs;
  const after = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;
  const held = (imageId: string, holder: string) => and(eq(j.imageId, imageId), eq(j.lockedBy, holder), eq(j.state, "running"));
  const bumpVersion = { version: sql`${images.version} + 1` };

  return {
    claim: (holder, limit, leaseMs) =>
      run(() =>
        db.transaction(async (tx) => {
          const due = tx
            .select({ id: j.imageId })
            .from(j)
            .where(or(and(eq(j.state, "pending"), lte(j.runAfter, sql`now()`)), and(eq(j.state, "running"), lte(j.lockedUntil, sql`now()`))))
            .orderBy(asc(j.runAfter))
            .limit(limit)
            .for("update", { skipLocked: true });
          const claimed = await tx
            .update(j)
            .set({ state: "running", attempts: sql`${j.attempts} + 1`, lockedBy: holder, lockedUntil: after(leaseMs), updatedAt: sql`now()` })
            .where(inArray(j.imageId, due))
            .returning({ imageId: j.imageId, attempts: j.attempts });
          if (claimed.length === 0) return [];
          const rows = await tx
            .select({ id: images.id, storageKey: images.storageKey, contentType: images.contentType })
            .from(images)
            .where(inArray(images.id, claimed.map((c) => c.imageId)));
          const byId = new Map(rows.map((r) => [r.id, r]));
          return claimed.flatMap((c) => {
            const row = byId.get(c.imageId);
            return row ? [{ imageId: c.imageId, attempts: c.attempts, storageKey: row.storageKey, contentType: row.contentType }] : [];
          });
        }),
      ),

    complete: (imageId, holder, thumbnail, invalidation, afterCommit) =>
      run(
        () =>
          db.transaction(async (tx) => {
            const [job] = await tx.delete(j).where(held(imageId, holder)).returning({ id: j.imageId });
            if (!job) return undefined;
            const [row] = await tx
              .update(images)
              .set({ thumbnailKey: thumbnail.key, thumbnailSha256: thumbnail.sha256, thumbnailError: null, ...bumpVersion })
              .where(eq(images.id, imageId))
              .returning({ version: images.version });
            if (!row) return undefined;
            const invalidations = [invalidation(row.version)];
            return { invalidations, outboxIds: await recordInvalidations(tx, invalidations) };
          }),
        async (change) => {
          if (!change) return "lost" as const;
          await afterCommit(change);
          return "done" as const;
        },
      ),

    retry: (imageId, holder, reason, retryInMs) =>
      run(async () => {
        await db
          .update(j)
          .set({ state: "pending", runAfter: after(retryInMs), lockedBy: null, lockedUntil: null, lastError: cleanReason(reason), updatedAt: sql`now()` })
          .where(held(imageId, holder));
      }),

    fail: (imageId, holder, reason, invalidation, afterCommit) =>
      run(
        () =>
          db.transaction(async (tx) => {
            const why = cleanReason(reason);
            const [job] = await tx
              .update(j)
              .set({ state: "failed", lockedBy: null, lockedUntil: null, lastError: why, updatedAt: sql`now()` })
              .where(held(imageId, holder))
              .returning({ id: j.imageId });
            if (!job) return undefined;
            const [row] = await tx.update(images).set({ thumbnailError: why, ...bumpVersion }).where(eq(images.id, imageId)).returning({ version: images.version });
            if (!row) return undefined;
            const invalidations = [invalidation(row.version)];
            return { invalidations, outboxIds: await recordInvalidations(tx, invalidations) };
          }),
        async (change) => {
          if (change) await afterCommit(change);
        },
      ),

    requeue: (imageIds, invalidation, afterCommit) =>
      run(
        () =>
          db.transaction(async (tx) => {
            const which = imageIds === "all-failed" ? eq(j.state, "failed") : and(eq(j.state, "failed"), inArray(j.imageId, imageIds));
            const jobs = await tx
              .update(j)
              .set({ state: "pending", attempts: 0, runAfter: sql`now()`, lastError: null, lockedBy: null, lockedUntil: null, updatedAt: sql`now()` })
              .where(which)
              .returning({ id: j.imageId });
            if (jobs.length === 0) return { ids: [] as string[], change: undefined };
            const rows = await tx
              .update(images)
              .set({ thumbnailError: null, ...bumpVersion })
              .where(inArray(images.id, jobs.map((r) => r.id)))
              .returning({ id: images.id, version: images.version });
            const invalidations = rows.map((r) => invalidation(r.id, r.version));
            return { ids: rows.map((r) => r.id), change: { invalidations, outboxIds: await recordInvalidations(tx, invalidations) } };
          }),
        async ({ ids, change }) => {
          if (change) await afterCommit(change);
          return ids;
        },
      ),

    imageExists: (imageId) =>
      run(async () => (await db.select({ id: images.id }).from(images).where(eq(images.id, imageId)).limit(1)).length === 1),

    counts: () =>
      run(async () => {
        const rows = await db.select({ state: j.state, n: sql<number>`count(*)::int` }).from(j).groupBy(j.state);
        const counts: JobCounts = { pending: 0, running: 0, failed: 0 };
        for (const r of rows) counts[r.state] = r.n;
        return counts;
      }),

    find: (imageId) =>
      run(async () => {
        const [row] = await db.select({ state: j.state, attempts: j.attempts, lastError: j.lastError }).from(j).where(eq(j.imageId, imageId));
        return row;
      }),
  };
}
