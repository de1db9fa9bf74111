// An empty database per test, for tests whose answers depend on everything in it: the first
// account becoming the admin, exact tag lists. PostgreSQL: a scratch database of its own;
// PGlite: an in-memory instance of its own. `reset()` empties every table but the shared secrets.
import { sql } from "drizzle-orm";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle } from "../../src/db/client.ts";
import type { DbKind } from "./harness.ts";
import { createScratchDatabase } from "./services.ts";

export type FreshDatabase = { db: DatabaseHandle; reset(): Promise<void>; close(): Promise<void> };

export async function freshDatabase(kind: DbKind, label: string): Promise<FreshDatabase> {
  let db: DatabaseHandle;
  let drop = async () => {};
  if (kind === "postgres") {
    const scratch = await createScratchDatabase(label);
    db = createPostgresDatabase(scratch.url);
    drop = scratch.drop;
  } else {
    db = await createPgliteDatabase(undefined);
  }
  await db.migrate();
  return {
    db,
    reset: async () => {
      await db.db.execute(sql`truncate users, images, tags, image_tags, api_keys, thumbnail_jobs, cache_invalidations cascade`);
    },
    async close() {
      await db.close();
      await drop();
    },
  };
}
