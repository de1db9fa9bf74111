import { and, asc, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import type { WithSubquery } from "drizzle-orm/subquery";
import type { Database, DatabaseHandle } from "../db/client.ts";
import { cacheInvalidations } from "../db/schema.ts";
import type { Invalidation } from "./log.ts";

/** A committed change to cached rows: what to tell the invalidation log, and the outbox rows that carry it. */
export type Committed = { invalidations: Invalidation[]; outboxIds: number[] };

/** The channel every instance LISTENs on; each committed invalidation is NOTIFYed on it. */
export const INVALIDATION_CHANNEL = "chitram_invalidations";

/**
 * Records invalidations as part of the change's own statement: a CTE that inserts outbox rows
 * (whose NOTIFY is delivered on commit) only if `guard` — the change's CTE, e.g. the `delete …
 * returning` — touched a row. Changes and their invalidations are one statement, atomic without a
 * client-side transaction: postgres.js 3.4.9 mishandles connections lost inside `begin()` (an
 * uncatchable crash on its own ROLLBACK, porsager/postgres#1208; a dead transaction's statements
 * running in the next one, #1216), and a single statement leaves nothing to roll back.
 */
export function recordInvalidationsWith(db: Database, guard: WithSubquery, invs: Invalidation[]) {
  if (invs.length === 0) return outboxCte(db, sql`select null::text, null::int where false`);
  const values = sql.join(
    invs.map((i) => sql`(${i.key}::text, ${i.version}::int)`),
    sql`, `,
  );
  return outboxCte(db, sql`select v.cache_key, v.version from (values ${values}) as v(cache_key, version) where exists (select 1 from ${guard})`);
}

/** The outbox insert as a CTE over `rows`, a select of (cache_key, version); see recordInvalidationsWith. */
export function outboxCte(db: Database, rows: SQL) {
  return db.$with("invalidated", { id: cacheInvalidations.id }).as(
    // NOTIFY is transactional: delivered on commit, dropped on rollback. Payload: "<version|-> <key>".
    sql`insert into ${cacheInvalidations} (cache_key, version) ${rows} returning id, pg_notify(${INVALIDATION_CHANNEL}, coalesce(version::text, '-') || ' ' || cache_key)`,
  );
}

/** The ids the outbox CTE inserted, as a selected field of the statement's final select. */
export const outboxIdsOf = (cte: ReturnType<typeof outboxCte>) =>
  sql<number[]>`(select coalesce(array_agg(${cte.id}), '{}') from ${cte})`.mapWith((v: unknown) => (v as Array<string | number>).map(Number));

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
