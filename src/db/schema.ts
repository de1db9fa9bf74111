import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/**
 * Accounts. `email` is stored lower-cased and trimmed (the unique key); `version` is bumped by
 * every change a cached copy holds (deactivation), so a stale copy is never served. At most one
 * row is the admin: the first account (the partial unique index settles concurrent first
 * registrations).
 */
export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey(),
    email: text("email").notNull().unique(),
    passwordHash: text("password_hash").notNull(),
    isActive: boolean("is_active").notNull().default(true),
    isAdmin: boolean("is_admin").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    version: integer("version").notNull().default(1),
  },
  (t) => [
    uniqueIndex("users_single_admin_idx").on(t.isAdmin).where(sql`${t.isAdmin}`),
    index("users_created_at_idx").on(t.createdAt, t.id),
  ],
);

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
    // The owner; null for anonymous uploads (which have a delete token instead).
    userId: uuid("user_id").references(() => users.id),
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
  (t) => [
    // "My images", newest first, by keyset (created_at, id): one backward index range scan per page.
    index("images_user_created_idx").on(t.userId, t.createdAt, t.id),
    index("images_created_at_idx").on(t.createdAt),
  ],
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

/**
 * API keys: only the SHA-256 of the key is stored (keys are 256 random bits, so a fast hash is
 * enough); `prefix` is the key's first characters, for people to tell keys apart. Revoking deletes
 * the row (with its cache invalidation, in one statement).
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull().unique(),
    scopes: text("scopes").array().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("api_keys_user_id_idx").on(t.userId, t.createdAt)],
);

/**
 * Browser sessions (the pages' `HttpOnly` cookie): only the SHA-256 of the cookie's 256 random bits
 * is stored, like API keys. Signing out deletes the row with its cache invalidation, in one
 * statement; a session also ends at `expires_at`, and with its user's deactivation.
 */
export const sessions = pgTable(
  "sessions",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [index("sessions_user_id_idx").on(t.userId, t.expiresAt)],
);

/** Tags: one row per normalised name (lower-cased, trimmed); `category` is set when it is first made. */
export const tags = pgTable(
  "tags",
  {
    id: uuid("id").primaryKey(),
    name: text("name").notNull().unique(),
    category: text("category"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  // Prefix search (name LIKE 'q%') whatever the database's collation.
  (t) => [index("tags_name_prefix_idx").on(t.name.op("text_pattern_ops"))],
);

/** Which image carries which tag; gone with the image. */
export const imageTags = pgTable(
  "image_tags",
  {
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    tagId: uuid("tag_id")
      .notNull()
      .references(() => tags.id, { onDelete: "cascade" }),
    source: text("source", { enum: ["user", "ai"] }).notNull().default("user"),
    confidence: integer("confidence"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.imageId, t.tagId] }), index("image_tags_tag_id_idx").on(t.tagId, t.imageId)],
);

/**
 * Secrets the fleet shares and nobody configured, e.g. the JWT signing key when JWT_SECRET_KEY is
 * unset: made once by whichever instance starts first, read by every other.
 */
export const appSecrets = pgTable("app_secrets", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

export type ImageRow = typeof images.$inferSelect;
export type NewImageRow = typeof images.$inferInsert;
export type ThumbnailJobRow = typeof thumbnailJobs.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type TagRow = typeof tags.$inferSelect;
