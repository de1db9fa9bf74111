import { and, asc, eq, inArray, lte, or, sql, type SQL } from "drizzle-orm";
import type { WithSubqueryWithSelection } from "drizzle-orm/pg-core";
import type { DatabaseHandle } from "../db/client.ts";
import { images, thumbnailJobs } from "../db/schema.ts";
import type { Invalidation } from "../invalidation/log.ts";
import { outboxCte, outboxIdsOf, type Committed } from "../invalidation/outbox.ts";

/** A job this instance holds (its lease runs until `lockedUntil`), with what it needs of the image. */
export type ClaimedJob = { imageId: string; attempts: number; storageKey: string; contentType: string; fileSize: number };

/** Every state change that shows in metadata changes the image row: its new version, for the caches. */
export type RowChange = Committed;

export type JobCounts = { pending: number; running: number; failed: number };

/**
 * SQL over `thumbnail_jobs` (see db/schema.ts). Knows nothing of codecs or storage. Every change
 * of a job that changes what metadata shows (made, failed for good, re-queued) updates the image
 * row in the same SQL statement: `version + 1` and an outbox invalidation, so every instance's
 * caches drop their copy the moment it commits. Each is one statement (CTEs), atomic without a
 * client-side transaction (see invalidation/outbox.ts for why).
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
  complete(imageId: string, holder: string, thumbnail: { key: string; sha256: string }, afterCommit: (change: RowChange) => Promise<void>): Promise<"done" | "lost">;
  /** Another attempt after `retryInMs`. */
  retry(imageId: string, holder: string, reason: string, retryInMs: number): Promise<void>;
  /** No more attempts: the job stays `failed` with `reason`, which the row shows as `thumbnailError`. */
  fail(imageId: string, holder: string, reason: string, afterCommit: (change: RowChange) => Promise<void>): Promise<void>;
  /** Failed jobs (all, or these images') start again from their first attempt; returns the image ids. */
  requeue(imageIds: string[] | "all-failed", afterCommit: (change: RowChange) => Promise<void>): Promise<string[]>;
  imageExists(imageId: string): Promise<boolean>;
  counts(): Promise<JobCounts>;
  /** The job of one image, for tests and operators. */
  find(imageId: string): Promise<{ state: string; attempts: number; lastError: string | null } | undefined>;
};

const MAX_REASON_CHARS = 300;

/** Reasons are shown in metadata: one printable line, bounded. */
export const cleanReason = (reason: string) => reason.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, MAX_REASON_CHARS) || "unknown error";

/** `imageKeyPrefix`: the image cache keys' prefix (`imageCacheKey(prefix, "")`); a row's key is it + id. */
export function createThumbnailJobs(database: DatabaseHandle, imageKeyPrefix: string): ThumbnailJobs {
  const { db, run } = database;
  const j = thumbnailJobs;
  const after = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;
  const held = (imageId: string, holder: string) => and(eq(j.imageId, imageId), eq(j.lockedBy, holder), eq(j.state, "running"));
  const bumpVersion = { version: sql`${images.version} + 1` };

  /**
   * Runs `WITH <jobs>, updated AS (update images … where id in jobs), invalidated AS (outbox)`:
   * `jobs` is the job change (a CTE returning `id`), `set` what the image row gets. Returns the
   * changed rows' invalidations and outbox ids, or undefined when nothing changed.
   */
  /**
   * The image rows a job change touches, locked first. Deleting an image locks its row and then
   * (ON DELETE CASCADE) its job's; a job change that locked the job first and the image second
   * deadlocked with it (13 times in 300 concurrent complete+delete pairs). Same order, no cycle.
   */
  const lockImages = (where: SQL | undefined) => db.$with("image").as(db.select({ id: images.id }).from(images).where(where).for("update"));

  async function changeRows(
    [image, jobs]: [ReturnType<typeof lockImages>, WithSubqueryWithSelection<{ id: typeof j.imageId }, string>],
    set: Record<string, SQL | string | null>,
  ): Promise<RowChange | undefined> {
    const updated = db.$with("updated").as(
      db
        .update(images)
        .set({ ...set, ...bumpVersion })
        .where(inArray(images.id, db.select({ id: jobs.id }).from(jobs)))
        .returning({ id: images.id, version: images.version }),
    );
    const invalidated = outboxCte(db, sql`select ${imageKeyPrefix} || ${updated.id}::text, ${updated.version} from ${updated}`);
    const rows = await db
      .with(image, jobs, updated, invalidated)
      .select({ id: updated.id, version: updated.version, outboxIds: outboxIdsOf(invalidated) })
      .from(updated);
    if (rows.length === 0) return undefined;
    const invalidations: Invalidation[] = rows.map((r) => ({ key: imageKeyPrefix + r.id, version: r.version }));
    return { invalidations, outboxIds: rows[0]!.outboxIds };
  }

  return {
    claim: (holder, limit, leaseMs) =>
      run(async () => {
        const due = db.$with("due").as(
          db
            .select({ id: j.imageId })
            .from(j)
            .where(or(and(eq(j.state, "pending"), lte(j.runAfter, sql`now()`)), and(eq(j.state, "running"), lte(j.lockedUntil, sql`now()`))))
            .orderBy(asc(j.runAfter))
            .limit(limit)
            .for("update", { skipLocked: true }),
        );
        const claimed = db.$with("claimed").as(
          db
            .update(j)
            .set({ state: "running", attempts: sql`${j.attempts} + 1`, lockedBy: holder, lockedUntil: after(leaseMs), updatedAt: sql`now()` })
            .where(inArray(j.imageId, db.select({ id: due.id }).from(due)))
            .returning({ imageId: j.imageId, attempts: j.attempts }),
        );
        return db
          .with(due, claimed)
          .select({ imageId: claimed.imageId, attempts: claimed.attempts, storageKey: images.storageKey, contentType: images.contentType, fileSize: images.fileSize })
          .from(claimed)
          .innerJoin(images, eq(images.id, claimed.imageId));
      }),

    complete: (imageId, holder, thumbnail, afterCommit) =>
      run(
        () => {
          const image = lockImages(eq(images.id, imageId));
          const job = db.$with("job").as(
            db.delete(j).where(and(held(imageId, holder), inArray(j.imageId, db.select({ id: image.id }).from(image)))).returning({ id: j.imageId }),
          );
          return changeRows([image, job], { thumbnailKey: thumbnail.key, thumbnailSha256: thumbnail.sha256, thumbnailError: null });
        },
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

    fail: (imageId, holder, reason, afterCommit) =>
      run(
        () => {
          const why = cleanReason(reason);
          const image = lockImages(eq(images.id, imageId));
          const job = db.$with("job").as(
            db
              .update(j)
              .set({ state: "failed", lockedBy: null, lockedUntil: null, lastError: why, updatedAt: sql`now()` })
              .where(and(held(imageId, holder), inArray(j.imageId, db.select({ id: image.id }).from(image))))
              .returning({ id: j.imageId }),
          );
          return changeRows([image, job], { thumbnailError: why });
        },
        async (change) => {
          if (change) await afterCommit(change);
        },
      ),

    requeue: (imageIds, afterCommit) =>
      run(
        () => {
          const which = imageIds === "all-failed" ? eq(j.state, "failed") : and(eq(j.state, "failed"), inArray(j.imageId, imageIds));
          const image = lockImages(inArray(images.id, db.select({ id: j.imageId }).from(j).where(which)));
          const jobs = db.$with("job").as(
            db
              .update(j)
              .set({ state: "pending", attempts: 0, runAfter: sql`now()`, lastError: null, lockedBy: null, lockedUntil: null, updatedAt: sql`now()` })
              .where(and(which, inArray(j.imageId, db.select({ id: image.id }).from(image))))
              .returning({ id: j.imageId }),
          );
          return changeRows([image, jobs], { thumbnailError: null });
        },
        async (change) => {
          if (!change) return [];
          await afterCommit(change);
          return change.invalidations.map((i) => i.key.slice(imageKeyPrefix.length));
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
