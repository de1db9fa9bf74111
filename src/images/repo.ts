import { and, asc, eq, exists, getTableColumns, gt, inArray, or, sql } from "drizzle-orm";
import type { Database, DatabaseHandle } from "../db/client.ts";
import { keysetAt, newestFirst, olderThan, type Keyset } from "../db/keyset.ts";
import { images, imageTags, tags, thumbnailJobs, type ImageRow, type NewImageRow } from "../db/schema.ts";
import type { Invalidation } from "../invalidation/log.ts";
import { outboxIdsOf, recordInvalidationsWith } from "../invalidation/outbox.ts";
import { isThumbnailKey } from "../storage/types.ts";

/** SQL for the `images` table. Knows nothing of HTTP or the cache. */
export type ImagesRepo = {
  /**
   * Inserts the row and its thumbnail job in one transaction, idempotently by id: if a row with
   * this id already exists (an earlier attempt committed, with its job, but its answer was lost) it
   * is returned instead and no second job is made. A retry after a lost answer waits on
   * PostgreSQL's unique index for the earlier attempt to commit or roll back, so the answer is
   * never "missing" while that attempt may still commit.
   */
  insert(row: NewImageRow): Promise<ImageRow>;
  findById(id: string): Promise<ImageRow | undefined>;
  /**
   * Deletes the row and records `invalidations` in the same statement, then runs `afterCommit`
   * (removing files: a file without a row is harmless and swept, a row without its file is not).
   * `afterCommit` runs once the commit succeeds even if the caller's deadline has passed. Returns
   * the deleted row and the outbox ids, or undefined if it was already gone.
   */
  delete(
    id: string,
    invalidations: Invalidation[],
    afterCommit?: (row: ImageRow, outboxIds: number[]) => Promise<void>,
  ): Promise<{ row: ImageRow; outboxIds: number[] } | undefined>;
  /**
   * An owner's images, newest first: `limit` rows older than `before` (keyset pagination over
   * the (user_id, created_at, id) index), only those carrying `tag` when given.
   */
  listOwned(userId: string, opts: { before?: Keyset; limit: number; tag?: string }): Promise<Array<ImageRow & { keysetAt: string }>>;
  /** Which of these storage keys belong to an image (as original or thumbnail). */
  storageKeysInUse(keys: string[]): Promise<Set<string>>;
  /** Rows ordered by id after `afterId`, for a full pass over the table (reconciler). */
  keysPage(afterId: string | undefined, limit: number): Promise<Array<Pick<ImageRow, "id" | "storageKey" | "thumbnailKey" | "createdAt">>>;
  count(): Promise<number>;
};

/** The query behind `listOwned` (exported so tests can ask PostgreSQL how it runs it). */
export function ownedPage(db: Database, userId: string, { before, limit, tag }: { before?: Keyset; limit: number; tag?: string }) {
  const tagged = tag
    ? exists(
        db
          .select({ one: sql`1` })
          .from(imageTags)
          .innerJoin(tags, eq(tags.id, imageTags.tagId))
          .where(and(eq(imageTags.imageId, images.id), eq(tags.name, tag))),
      )
    : undefined;
  return db
    .select({ ...getTableColumns(images), keysetAt: keysetAt(images.createdAt) })
    .from(images)
    .where(and(eq(images.userId, userId), before ? olderThan(images.createdAt, images.id, before) : undefined, tagged))
    .orderBy(...newestFirst(images.createdAt, images.id))
    .limit(limit);
}

export function createImagesRepo(database: DatabaseHandle): ImagesRepo {
  const { db, run } = database;
  // Hot paths are prepared once: drizzle otherwise rebuilds the SQL for every request.
  const byId = db.select().from(images).where(eq(images.id, sql.placeholder("id"))).limit(1).prepare("images_by_id");

  return {
    insert: (row) =>
      run(async () => {
        // One statement: the row and its thumbnail job, the job only if the row is new.
        const inserted = db.$with("inserted").as(db.insert(images).values(row).onConflictDoNothing({ target: images.id }).returning());
        const job = db.$with("job", { imageId: thumbnailJobs.imageId }).as(
          sql`insert into ${thumbnailJobs} (image_id) select id from ${inserted} returning image_id`,
        );
        const [created] = await db.with(inserted, job).select().from(inserted);
        if (created) return created as ImageRow;
        const [existing] = await byId.execute({ id: row.id });
        if (!existing || existing.storageKey !== row.storageKey) throw new Error(`image id ${row.id} is taken by another image`);
        return existing;
      }),
    findById: (id) =>
      run(async () => {
        const [row] = await byId.execute({ id });
        return row;
      }),
    delete: (id, invalidations, afterCommit) =>
      run(
        async () => {
          const deleted = db.$with("deleted").as(db.delete(images).where(eq(images.id, id)).returning());
          const invalidated = recordInvalidationsWith(db, deleted, invalidations);
          const [r] = await db
            .with(deleted, invalidated)
            .select({ row: deleted._.selectedFields, outboxIds: outboxIdsOf(invalidated) })
            .from(deleted);
          return r && { row: r.row as ImageRow, outboxIds: r.outboxIds };
        },
        async (deleted) => {
          if (deleted && afterCommit) await afterCommit(deleted.row, deleted.outboxIds);
          return deleted;
        },
      ),
    listOwned: (userId, opts) => run(() => ownedPage(db, userId, opts)),
    storageKeysInUse: (keys) =>
      run(async () => {
        // Originals by their unique key; thumbnails (`<id>.thumb.jpg`) by their image's id.
        const originals = keys.filter((k) => !isThumbnailKey(k));
        const thumbIds = keys.filter(isThumbnailKey).map((k) => k.slice(0, 36));
        const conditions = [
          ...(originals.length ? [inArray(images.storageKey, originals)] : []),
          ...(thumbIds.length ? [inArray(images.id, thumbIds)] : []),
        ];
        if (conditions.length === 0) return new Set<string>();
        const rows = await db
          .select({ storageKey: images.storageKey, thumbnailKey: images.thumbnailKey })
          .from(images)
          .where(or(...conditions));
        const used = new Set<string>();
        for (const r of rows) {
          used.add(r.storageKey);
          if (r.thumbnailKey) used.add(r.thumbnailKey);
        }
        return used;
      }),
    keysPage: (afterId, limit) =>
      run(() =>
        db
          .select({ id: images.id, storageKey: images.storageKey, thumbnailKey: images.thumbnailKey, createdAt: images.createdAt })
          .from(images)
          .where(afterId ? gt(images.id, afterId) : undefined)
          .orderBy(asc(images.id))
          .limit(limit),
      ),
    count: () =>
      run(async () => {
        const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(images);
        return r?.n ?? 0;
      }),
  };
}
