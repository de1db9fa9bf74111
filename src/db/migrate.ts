import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { MigrationMeta } from "drizzle-orm/migrator";
import type { Database } from "./client.ts";
import { migrations } from "./migrations.gen.ts";

// Any constant works; it only has to be the same for every chitram instance.
const MIGRATION_LOCK_ID = 7_240_313_001;

/** The embedded migrations in the shape drizzle's own `readMigrationFiles` produces from `drizzle/`. */
export function embeddedMigrationMetas(): MigrationMeta[] {
  return migrations.map((m) => ({
    sql: m.sql.split("--> statement-breakpoint"),
    bps: m.breakpoints,
    folderMillis: m.when,
    hash: createHash("sha256").update(m.sql).digest("hex"),
  }));
}

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so instances that start
 * together apply them once. `db` must be a single connection (the lock is per session).
 */
export async function runMigrations(db: Database): Promise<void> {
  await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`);
  try {
    // drizzle's dialect migrator is what `migrate()` from "drizzle-orm/*/migrator" calls after reading files.
    const internals = db as unknown as { dialect: { migrate(m: MigrationMeta[], s: unknown, c: object): Promise<void> }; session: unknown };
    await internals.dialect.migrate(embeddedMigrationMetas(), internals.session, {});
  } finally {
    await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
  }
}
