import { and, eq, lt, or, sql } from "drizzle-orm";
import type { DatabaseHandle } from "./client.ts";
import { leases } from "./schema.ts";

/**
 * Fleet-wide mutual exclusion for singleton background tasks, as rows rather than advisory locks:
 * it needs no connection held for the task's duration, works the same on PGlite, and a holder that
 * dies simply lets its lease expire.
 */
export type Leases = {
  /** Takes `name` for `ttlMs` if it is free, expired, or already ours. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
};

export function createLeases(database: DatabaseHandle): Leases {
  const { db, run } = database;
  const until = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;
  return {
    acquire: (name, holder, ttlMs) =>
      run(async () => {
        const rows = await db
          .insert(leases)
          .values({ name, holder, expiresAt: until(ttlMs) })
          .onConflictDoUpdate({
            target: leases.name,
            set: { holder, expiresAt: until(ttlMs) },
            setWhere: or(lt(leases.expiresAt, sql`now()`), eq(leases.holder, holder)),
          })
          .returning({ holder: leases.holder });
        return rows.length === 1;
      }),
    release: (name, holder) =>
      run(async () => {
        // '-infinity', not now(): the next acquire's now() may be the very same timestamp.
        await db.update(leases).set({ expiresAt: sql`'-infinity'::timestamptz` }).where(and(eq(leases.name, name), eq(leases.holder, holder)));
      }),
  };
}
