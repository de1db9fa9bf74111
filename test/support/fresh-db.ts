// An empty database per test, for tests whose answers depend on everything in it: the first
// account becoming the admin, exact tag lists. PostgreSQL: a scratch database of its own;
// PGlite: an in-memory instance of its own. `reset()` empties every table but the shared secrets.
import { sql } from "drizzle-orm";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle } from "../../src/db/client.ts";
import type { DbKind } from "./harness.ts";
import { createScratchDatabase } from "./services.ts";

export type FreshDatabase = { db: DatabaseHandle; reset(): Promise<void>; close(): Promise<void> };

// Like the shared PGlite, one per test process (test files run one after another), reset by each user.
let pglite: Promise<DatabaseHandle> | undefined;

export async function freshDatabase(kind: DbKind, label: string): Promise<FreshDatabase> {
  let db: DatabaseHandle;
  let close = async () => {};
  if (kind === "postgres") {
    const scratch = await createScratchDatabase(label);
    db = createPostgresDatabase(scratch.url);
    close = async () => {
      await db.close();
      await scratch.drop();
    };
  } else {
    pglite ??= createPgliteDatabase(undefined);
    db = await pglite;
  }
  await db.migrate();
  const reset = async () => {
    await db.db.execute(sql`truncate users, sessions, images, tags, image_tags, api_keys, thumbnail_jobs, cache_invalidations cascade`);
  };
  await reset();
  return { db, reset, close };
}
