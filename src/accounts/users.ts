import { eq, getTableColumns, sql } from "drizzle-orm";
import type { DatabaseHandle } from "../db/client.ts";
import { keysetAt, newestFirst, olderThan, type Keyset } from "../db/keyset.ts";
import { users, type UserRow } from "../db/schema.ts";
import { pgError, UNIQUE_VIOLATION } from "../db/pg-error.ts";
import { outboxCte, outboxIdsOf, type Committed } from "../invalidation/outbox.ts";

/** Who may register: anyone, nobody, or only the first account (which becomes the admin). */
export type RegistrationPolicy = "open" | "closed" | "first-only";

export type CreateResult = { created: UserRow } | { refused: "closed" | "email-taken" };

/** SQL for `users`. Knows nothing of HTTP, passwords or the cache. */
export type UsersRepo = {
  anyExists(): Promise<boolean>;
  /**
   * Creates an account in one statement: the admin if it is the first, refused if the policy
   * closes registration (decided in the same statement, so two concurrent first registrations
   * cannot both get in as "first"; the one-admin index settles the last race, and the loser is
   * retried against the new state).
   */
  create(input: { id: string; email: string; passwordHash: string }, policy: RegistrationPolicy): Promise<CreateResult>;
  findByEmail(email: string): Promise<UserRow | undefined>;
  findById(id: string): Promise<UserRow | undefined>;
  /** Sets is_active, bumps the version and records the user's invalidation, in one statement. */
  setActive(id: string, active: boolean, afterCommit: (change: Committed) => Promise<void>): Promise<UserRow | undefined>;
  /** Newest first, `limit` rows older than `before`. */
  list(before: Keyset | undefined, limit: number): Promise<Array<UserRow & { keysetAt: string }>>;
};

/** `userKeyPrefix`: the user cache keys' prefix; a user's key is it + id. */
export function createUsersRepo(database: DatabaseHandle, userKeyPrefix: string): UsersRepo {
  const { db, run } = database;
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder("id"))).limit(1).prepare("users_by_id");
  const byEmail = db.select().from(users).where(eq(users.email, sql.placeholder("email"))).limit(1).prepare("users_by_email");

  async function createOnce(input: { id: string; email: string; passwordHash: string }, policy: RegistrationPolicy): Promise<CreateResult> {
    const noneYet = sql`not exists (select 1 from ${users})`;
    const inserted = db.$with("inserted", { id: users.id }).as(sql`
      insert into ${users} (id, email, password_hash, is_admin)
      select ${input.id}::uuid, ${input.email}::text, ${input.passwordHash}::text, ${noneYet}
      where ${policy === "open"}::boolean or (${policy === "first-only"}::boolean and ${noneYet})
      on conflict (email) do nothing
      returning id`);
    // Every part of one statement sees the same snapshot: isFirst is what the insert saw.
    const [r] = await run(() =>
      db
        .with(inserted)
        .select({ created: sql<boolean>`exists (select 1 from ${inserted})`, isFirst: sql<boolean>`${noneYet}` })
        .from(sql`(select 1) as one`),
    );
    if (r?.created) {
      const [created] = await run(() => byId.execute({ id: input.id }));
      if (created) return { created };
    }
    const closed = policy === "closed" || (policy === "first-only" && !r?.isFirst);
    return { refused: closed ? "closed" : "email-taken" };
  }

  return {
    anyExists: () => run(async () => (await db.select({ id: users.id }).from(users).limit(1)).length > 0),
    async create(input, policy) {
      try {
        return await createOnce(input, policy);
      } catch (err) {
        // Another "first" account committed after this statement's snapshot: decide again, now
        // that it exists (closed, or an ordinary account).
        const e = pgError(err);
        if (e?.code !== UNIQUE_VIOLATION || e.constraint !== "users_single_admin_idx") throw err;
        return createOnce(input, policy);
      }
    },
    findByEmail: (email) => run(async () => (await byEmail.execute({ email }))[0]),
    findById: (id) => run(async () => (await byId.execute({ id }))[0]),
    setActive: (id, active, afterCommit) =>
      run(
        async () => {
          const updated = db.$with("updated").as(
            db.update(users).set({ isActive: active, version: sql`${users.version} + 1` }).where(eq(users.id, id)).returning(),
          );
          const invalidated = outboxCte(db, sql`select ${userKeyPrefix} || ${updated.id}::text, ${updated.version} from ${updated}`);
          const [r] = await db.with(updated, invalidated).select({ row: updated._.selectedFields, outboxIds: outboxIdsOf(invalidated) }).from(updated);
          return r && { row: r.row as UserRow, outboxIds: r.outboxIds };
        },
        async (r) => {
          if (!r) return undefined;
          await afterCommit({ invalidations: [{ key: userKeyPrefix + r.row.id, version: r.row.version }], outboxIds: r.outboxIds });
          return r.row;
        },
      ),
    list: (before, limit) =>
      run(() =>
        db
          .select({ ...getTableColumns(users), keysetAt: keysetAt(users.createdAt) })
          .from(users)
          .where(before ? olderThan(users.createdAt, users.id, before) : undefined)
          .orderBy(...newestFirst(users.createdAt, users.id))
          .limit(limit),
      ),
  };
}
