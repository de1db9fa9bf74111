import { bigint, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

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
    sha256: text("sha256").notNull(),
  },
  (t) => [index("images_user_id_idx").on(t.userId), index("images_created_at_idx").on(t.createdAt)],
);

export type ImageRow = typeof images.$inferSelect;
export type NewImageRow = typeof images.$inferInsert;
