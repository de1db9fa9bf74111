import { and, asc, inArray, isNull, lt, sql } from "drizzle-orm";
import type { Database, DatabaseHandle } from "../db/client.ts";
import { cacheInvalidations } from "../db/schema.ts";
import type { Invalidation } from "./log.ts";

/** The channel every instance LISTENs on; each committed invalidation is NOTIFYed on it. */
export const INVALIDATION_CHANNEL = "chitram_invalidations";

// What a transaction handle and the database have in common (drizzle's tx type is awkward to name).
type Executor = Pick<Database, "insert">;

/**
 * Records invalidations inside the caller's transaction: the outbox rows commit (and their
 * NOTIFY is delivered) exactly when the change does, and never without it.
 */
export async function recordInvalidations(tx: Executor, invs: Invalidation[]): Promise<number[]> {
  if (invs.length === 0) return [];
  const rows = await tx
    .insert(cacheInvalidations)
    .values(invs.map((i) => ({ cacheKey: i.key, version: i.version })))
    .returning({
      id: cacheInvalidations.id,
      // NOTIFY is transactional: delivered on commit, dropped on rollback. Payload: "<version|-> <key>".
      notified: sql<string>`pg_notify(${INVALIDATION_CHANNEL}, coalesce(${cacheInvalidations.version}::text, '-') || ' ' || ${cacheInvalidations.cacheKey})`,
    });
  return rows.map((r) => r.id);
}

/** SQL over the outbox for the relay and the listener's catch-up. Knows nothing of Redis. */
export type OutboxRepo = {
  /** Invalidations not yet confirmed in Redis, oldest first. */
  unapplied(limit: number): Promise<Array<{ id: number; key: string }>>;
  markApplied(ids: number[]): Promise<void>;
  /** Every invalidation younger than `ageMs` (catch-up after the channel was lost, re-apply after Redis lost data). */
  recent(ageMs: number): Promise<Invalidation[]>;
  /** Deletes invalidations older than `ageMs`; returns how many. */
  prune(ageMs: number): Promise<number>;
  backlog(): Promise<number>;
};

export function createOutboxRepo(database: DatabaseHandle): OutboxRepo {
  const { db, run } = database;
  const t = cacheInvalidations;
  const olderThan = (ageMs: number) => sql`now() - make_interval(secs => ${ageMs / 1000})`;
  return {
    unapplied: (limit) =>
      run(() => db.select({ id: t.id, key: t.cacheKey }).from(t).where(isNull(t.appliedAt)).orderBy(asc(t.id)).limit(limit)),
    markApplied: (ids) =>
      run(async () => {
        if (ids.length) await db.update(t).set({ appliedAt: sql`now()` }).where(and(inArray(t.id, ids), isNull(t.appliedAt)));
      }),
    recent: (ageMs) =>
      run(async () => {
        const rows = await db
          .select({ key: t.cacheKey, version: t.version })
          .from(t)
          .where(sql`${t.createdAt} > ${olderThan(ageMs)}`)
          .orderBy(asc(t.id));
        return rows;
      }),
    prune: (ageMs) =>
      run(async () => {
        const gone = await db.delete(t).where(lt(t.createdAt, olderThan(ageMs))).returning({ id: t.id });
        return gone.length;
      }),
    backlog: () =>
      run(async () => {
        const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(t).where(isNull(t.appliedAt));
        return r?.n ?? 0;
      }),
  };
}
