import { eq, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { images, type ImageRow, type NewImageRow } from "./schema.ts";

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

export function createImagesRepo(db: Database): ImagesRepo {
  // Hot paths are prepared once: drizzle otherwise rebuilds the SQL for every request.
  const byId = db.select().from(images).where(eq(images.id, sql.placeholder("id"))).limit(1).prepare("images_by_id");

  return {
    async insert(row) {
      const [inserted] = await db.insert(images).values(row).returning();
      return inserted!;
    },
    async findById(id) {
      const [row] = await byId.execute({ id });
      return row;
    },
    async deleteWith(id, fn) {
      return db.transaction(async (tx) => {
        const [row] = await tx.delete(images).where(eq(images.id, id)).returning();
        if (row) await fn(row);
        return row;
      });
    },
    async count() {
      const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(images);
      return r?.n ?? 0;
    },
  };
}
