import { eq, sql } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { createInFlightLimit } from "../db/in-flight-limit.ts";
import { images, type ImageRow, type NewImageRow } from "../db/schema.ts";

/** SQL for the `images` table. Knows nothing of HTTP or the cache. */
export type ImagesRepo = {
  insert(row: NewImageRow): Promise<ImageRow>;
  findById(id: string): Promise<ImageRow | undefined>;
  /**
   * Deletes the row and runs `fn` (removing the bytes) before committing, so a failure in `fn`
   * rolls the delete back. Returns the deleted row, or undefined if it was already gone.
   */
  deleteWith(id: string, fn: (row: ImageRow) => Promise<void>): Promise<ImageRow | undefined>;
  count(): Promise<number>;
};

/** `maxInFlight`: at most this many queries at once (the pool size); see in-flight-limit.ts. */
export function createImagesRepo(db: Database, opts: { maxInFlight?: number } = {}): ImagesRepo {
  const limited = createInFlightLimit(opts.maxInFlight ?? 10);
  // Hot paths are prepared once: drizzle otherwise rebuilds the SQL for every request.
  const byId = db.select().from(images).where(eq(images.id, sql.placeholder("id"))).limit(1).prepare("images_by_id");

  return {
    insert: (row) =>
      limited(async () => {
        const [inserted] = await db.insert(images).values(row).returning();
        return inserted!;
      }),
    findById: (id) =>
      limited(async () => {
        const [row] = await byId.execute({ id });
        return row;
      }),
    deleteWith: (id, fn) =>
      limited(() =>
        db.transaction(async (tx) => {
          const [row] = await tx.delete(images).where(eq(images.id, id)).returning();
          if (row) await fn(row);
          return row;
        }),
      ),
    count: () =>
      limited(async () => {
        const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(images);
        return r?.n ?? 0;
      }),
  };
}
