import { z } from "zod";
import type { Cache, CacheStatus, Codec } from "../cache/cache.ts";
import type { ImagesRepo } from "../db/images-repo.ts";
import type { ImageRow } from "../db/schema.ts";

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
export type ImageLookup = {
  get(id: string): Promise<{ row: ImageRow | undefined; status: CacheStatus }>;
  remember(row: ImageRow): Promise<void>;
  forget(id: string): Promise<void>;
};

export function createImageLookup(repo: ImagesRepo, cache: Cache, prefix: string): ImageLookup {
  return {
    async get(id) {
      const { value, status } = await cache.wrap(imageCacheKey(prefix, id), imageRowCodec, () => repo.findById(id));
      return { row: value, status };
    },
    remember: (row) => cache.set(imageCacheKey(prefix, row.id), imageRowCodec, row),
    forget: (id) => cache.invalidate(imageCacheKey(prefix, id)),
  };
}
