import { and, asc, count, desc, eq, exists, inArray, sql } from "drizzle-orm";
import type { DatabaseHandle } from "../db/client.ts";
import { FOREIGN_KEY_VIOLATION, pgError } from "../db/pg-error.ts";
import { images, imageTags, tags } from "../db/schema.ts";

export type ImageTag = { name: string; category: string | null; source: "user" | "ai"; confidence: number | null };
export type TagInfo = { id: string; name: string; category: string | null; createdAt: Date };
export type TagCount = { name: string; category: string | null; count: number };

/**
 * SQL for tags. Every write is one statement. Listings show tags in use (on at least one image):
 * a tag whose last image was untagged or deleted drops out of them by itself.
 */
export type TagsRepo = {
  ofImage(imageId: string): Promise<ImageTag[]>;
  /** Adds `name` to the image (making the tag if new): the tag, or "duplicate" if the image has it already, or "image-gone". */
  add(imageId: string, name: string, category: string | null): Promise<ImageTag | "duplicate" | "image-gone">;
  /** False when the image does not carry the tag. */
  remove(imageId: string, name: string): Promise<boolean>;
  list(limit: number): Promise<TagInfo[]>;
  popular(limit: number): Promise<TagCount[]>;
  /** Tags whose name starts with `prefix` (already normalised), alphabetically. */
  search(prefix: string, limit: number): Promise<TagInfo[]>;
  /** The tags on `userId`'s images, with how many carry each, alphabetically (the gallery's filter). */
  ofOwner(userId: string, limit: number): Promise<TagCount[]>;
};


/** `%`, `_` and `\` match themselves in a LIKE prefix. */
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

export function createTagsRepo(database: DatabaseHandle): TagsRepo {
  const { db, run } = database;
  const inUse = exists(db.select({ one: sql`1` }).from(imageTags).where(eq(imageTags.tagId, tags.id)));
  const info = { id: tags.id, name: tags.name, category: tags.category, createdAt: tags.createdAt };

  return {
    ofImage: (imageId) =>
      run(() =>
        db
          .select({ name: tags.name, category: tags.category, source: imageTags.source, confidence: imageTags.confidence })
          .from(imageTags)
          .innerJoin(tags, eq(tags.id, imageTags.tagId))
          .where(eq(imageTags.imageId, imageId))
          .orderBy(asc(tags.name)),
      ),

    async add(imageId, name, category) {
      // The tag row is made or, if it exists (also when a concurrent add just made it), returned
      // with its first category; the link is added unless the image already has it.
      const tag = db.$with("tag", { id: tags.id, name: tags.name, category: tags.category }).as(sql`
        insert into ${tags} (id, name, category) values (${crypto.randomUUID()}::uuid, ${name}::text, ${category}::text)
        on conflict (name) do update set name = excluded.name
        returning id, name, category`);
      const link = db.$with("link", { tagId: imageTags.tagId }).as(sql`
        insert into ${imageTags} (image_id, tag_id, source) select ${imageId}::uuid, id, 'user' from ${tag}
        on conflict do nothing
        returning tag_id`);
      try {
        const [r] = await run(() =>
          db.with(tag, link).select({ name: tag.name, category: tag.category, added: sql<boolean>`exists (select 1 from ${link})` }).from(tag),
        );
        if (!r?.added) return "duplicate";
        return { name: r.name, category: r.category, source: "user", confidence: null };
      } catch (err) {
        if (pgError(err)?.code === FOREIGN_KEY_VIOLATION) return "image-gone"; // deleted since its owner was checked
        throw err;
      }
    },

    remove: (imageId, name) =>
      run(async () => {
        const gone = await db
          .delete(imageTags)
          .where(and(eq(imageTags.imageId, imageId), inArray(imageTags.tagId, db.select({ id: tags.id }).from(tags).where(eq(tags.name, name)))))
          .returning({ tagId: imageTags.tagId });
        return gone.length > 0;
      }),

    list: (limit) => run(() => db.select(info).from(tags).where(inUse).orderBy(asc(tags.name)).limit(limit)),

    popular: (limit) =>
      run(() =>
        db
          .select({ name: tags.name, category: tags.category, count: count() })
          .from(imageTags)
          .innerJoin(tags, eq(tags.id, imageTags.tagId))
          .groupBy(tags.id)
          .orderBy(desc(count()), asc(tags.name))
          .limit(limit),
      ),

    ofOwner: (userId, limit) =>
      run(() =>
        db
          .select({ name: tags.name, category: tags.category, count: count() })
          .from(imageTags)
          .innerJoin(images, eq(images.id, imageTags.imageId))
          .innerJoin(tags, eq(tags.id, imageTags.tagId))
          .where(eq(images.userId, userId))
          .groupBy(tags.id)
          .orderBy(asc(tags.name))
          .limit(limit),
      ),

    search: (prefix, limit) =>
      run(() =>
        db
          .select(info)
          .from(tags)
          .where(and(sql`${tags.name} like ${likePrefix(prefix)}`, inUse))
          .orderBy(asc(tags.name))
          .limit(limit),
      ),
  };
}
