import { z } from "zod";
import type { Cache, CacheStatus, Codec } from "../cache/cache.ts";
import type { ImagesRepo } from "./repo.ts";
import type { ImageRow } from "../db/schema.ts";
import { contentDisposition } from "./filename.ts";

// The cached value is the whole row: the file route needs the storage key and hash, and
// metadata responses are projected from it, so one entry serves both routes.
const cachedRow = z.object({
  id: z.string(),
  filename: z.string(),
  storageKey: z.string(),
  contentType: z.string(),
  fileSize: z.number().int().nonnegative(),
  uploadIp: z.string().nullable(),
  // Date.parse instead of z.iso.datetime(): its regex was a visible share of a cache hit.
  createdAt: z.string().transform((s, ctx) => {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "invalid date" });
      return z.NEVER;
    }
    return new Date(ms);
  }),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  userId: z.string().nullable(),
  deleteTokenHash: z.string().nullable(),
  thumbnailKey: z.string().nullable(),
  sha256: z.string(),
});

export const imageRowCodec: Codec<ImageRow> = {
  encode: (row) => JSON.stringify(row),
  decode(raw) {
    try {
      const parsed = cachedRow.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  },
};

export const imageCacheKey = (prefix: string, id: string) => `${prefix}:image:${id}`;

/** Image rows through the cache: the only place that knows how routes, repository and cache meet. */
/** What the file route needs: the immutable facts about an image's bytes, plus its display name. */
export type FileInfo = { storageKey: string; contentType: string; etag: string; disposition: string };

export type ImageLookup = {
  get(id: string): Promise<{ row: ImageRow | undefined; status: CacheStatus }>;
  /**
   * File facts from a small in-process map before Redis or the database. Safe across instances
   * because the bytes behind an id never change and the caller checks the file still exists;
   * a deleted image's file is gone, so a stale entry can only ever lead to a 404.
   */
  fileInfo(id: string): Promise<FileInfo | undefined>;
  remember(row: ImageRow): Promise<void>;
  forget(id: string): Promise<void>;
};

// Bounds: entries live at most FILE_INFO_TTL_MS (a renamed image's Content-Disposition on another
// instance is at most this old) and the map holds at most FILE_INFO_MAX ids (oldest dropped first).
const FILE_INFO_TTL_MS = 60_000;
const FILE_INFO_MAX = 10_000;

export function createImageLookup(repo: ImagesRepo, cache: Cache, prefix: string): ImageLookup {
  const files = new Map<string, { info: FileInfo; until: number }>();
  const get: ImageLookup["get"] = async (id) => {
    const { value, status } = await cache.wrap(imageCacheKey(prefix, id), imageRowCodec, () => repo.findById(id));
    return { row: value, status };
  };
  return {
    get,
    async fileInfo(id) {
      const hit = files.get(id);
      if (hit && hit.until > performance.now()) return hit.info;
      const { row } = await get(id);
      if (!row) return undefined;
      const info = {
        storageKey: row.storageKey,
        contentType: row.contentType,
        etag: `"${row.sha256}"`,
        disposition: contentDisposition(row.filename),
      };
      files.delete(id);
      if (files.size >= FILE_INFO_MAX) files.delete(files.keys().next().value!);
      files.set(id, { info, until: performance.now() + FILE_INFO_TTL_MS });
      return info;
    },
    remember: (row) => cache.set(imageCacheKey(prefix, row.id), imageRowCodec, row),
    forget: (id) => {
      files.delete(id);
      return cache.invalidate(imageCacheKey(prefix, id));
    },
  };
}
