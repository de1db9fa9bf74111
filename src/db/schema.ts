import { sql } from "drizzle-orm";
import { bigint, bigserial, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const images = pgTable(
  "images",
  {
    id: uuid("id").primaryKey(),
    filename: text("filename").notNull(),
    storageKey: text("storage_key").notNull().unique(),
    contentType: text("content_type").notNull(),
    fileSize: bigint("file_size", { mode: "number" }).notNull(),
    uploadIp: text("upload_ip"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    width: integer("width"),
    height: integer("height"),
    // Users arrive in a later issue; nullable until then, indexed for "my images".
    userId: uuid("user_id"),
    deleteTokenHash: text("delete_token_hash"),
    thumbnailKey: text("thumbnail_key"),
    // The thumbnail's bytes (its ETag); set together with thumbnail_key.
    thumbnailSha256: text("thumbnail_sha256"),
    // Why the thumbnail could not be made, once its job has failed for good (null otherwise).
    thumbnailError: text("thumbnail_error"),
    sha256: text("sha256").notNull(),
    // Bumped by every update that changes what a cached copy holds; cached copies carry it, so a
    // copy older than an invalidation this instance has heard of is never served.
    version: integer("version").notNull().default(1),
  },
  (t) => [index("images_user_id_idx").on(t.userId), index("images_created_at_idx").on(t.createdAt)],
);

/**
 * The invalidation outbox: written in the same transaction as the change it invalidates, so a
 * committed change always has its invalidation, whatever crashes afterwards. `version` is the
 * entity's version after the change, or null when the entity is gone for good.
 */
export const cacheInvalidations = pgTable(
  "cache_invalidations",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    cacheKey: text("cache_key").notNull(),
    version: integer("version"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    appliedAt: timestamp("applied_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    index("cache_invalidations_created_at_idx").on(t.createdAt),
    index("cache_invalidations_unapplied_idx").on(t.id).where(sql`${t.appliedAt} is null`),
  ],
);

/** Fleet-wide leases: at most one instance at a time runs a singleton task (e.g. the reconciler). */
export const leases = pgTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
});

/**
 * Durable thumbnail jobs: one per image still waiting for its thumbnail, inserted in the upload's
 * transaction, claimed with FOR UPDATE SKIP LOCKED, deleted when the thumbnail is made. `running`
 * jobs carry a lease (`locked_by`, `locked_until`): a holder that dies lets the lease run out and
 * another instance takes the job again. `failed` jobs stay, with their reason, until re-queued.
 */
export const thumbnailJobs = pgTable(
  "thumbnail_jobs",
  {
    imageId: uuid("image_id")
      .primaryKey()
      .references(() => images.id, { onDelete: "cascade" }),
    state: text("state", { enum: ["pending", "running", "failed"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    runAfter: timestamp("run_after", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    lockedBy: text("locked_by"),
    lockedUntil: timestamp("locked_until", { withTimezone: true, mode: "date" }),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("thumbnail_jobs_due_idx").on(t.runAfter).where(sql`${t.state} = 'pending'`),
    index("thumbnail_jobs_leased_idx").on(t.lockedUntil).where(sql`${t.state} = 'running'`),
    index("thumbnail_jobs_state_idx").on(t.state),
  ],
);

export type ImageRow = typeof images.$inferSelect;
export type NewImageRow = typeof images.$inferInsert;
export type ThumbnailJobRow = typeof thumbnailJobs.$inferSelect;
