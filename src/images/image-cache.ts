import type { Cache, CacheRead, CacheStatus, Codec } from "../cache/cache.ts";
import type { ImageRow } from "../db/schema.ts";
import type { InvalidationLog } from "../invalidation/log.ts";
import { storageKeyOf, thumbnailKeyOf } from "../storage/types.ts";
import { EXTENSIONS } from "./detect.ts";
import { contentDisposition, sanitizeFilename } from "./filename.ts";
import type { ImagesRepo } from "./repo.ts";
import { CANONICAL_UUID, SHA256_HEX, parseJsonObject } from "../untrusted.ts";

/**
 * What the caches hold of an image row: what metadata and file responses need, nothing more
 * (no delete-token hash, no uploader address). `version` orders it against invalidations.
 */
export type CachedImage = Pick<
  ImageRow,
  | "id" | "filename" | "storageKey" | "contentType" | "fileSize" | "createdAt" | "width" | "height" | "userId"
  | "thumbnailKey" | "thumbnailSha256" | "thumbnailError" | "sha256" | "version"
>;

export const toCachedImage = (r: ImageRow): CachedImage => ({
  id: r.id,
  filename: r.filename,
  storageKey: r.storageKey,
  contentType: r.contentType,
  fileSize: r.fileSize,
  createdAt: r.createdAt,
  width: r.width,
  height: r.height,
  userId: r.userId,
  thumbnailKey: r.thumbnailKey,
  thumbnailSha256: r.thumbnailSha256,
  thumbnailError: r.thumbnailError,
  sha256: r.sha256,
  version: r.version,
});

export const imageCacheKey = (prefix: string, id: string) => `${prefix}:image:${id}`;

// The largest file any configuration accepts (MAX_FILE_SIZE_MB ≤ 1024), and dimensions that fit
// the database's integer columns.
const MAX_FILE_BYTES = 1024 * 1024 * 1024;
const MAX_DIMENSION = 2 ** 31 - 1;

// Failure reasons are short, printable text written by this server (see thumbnails/jobs.ts).
const MAX_REASON_CHARS = 500;
const isReason = (v: unknown) => v === null || (typeof v === "string" && v.length > 0 && v.length <= MAX_REASON_CHARS && !/[\u0000-\u001f\u007f]/.test(v));

const isDimension = (v: unknown) => v === null || (Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_DIMENSION);

/**
 * Cached values are untrusted input (anyone who can write to Redis, a bug, a restore from another
 * deployment): a value is used only if it is exactly what this server would have written under
 * that key. The id matches the key; the storage and thumbnail keys are the server's own format for
 * that id (so a value cannot point at another image's bytes); the content type is one the server
 * stores; sizes are bounded; the filename is already sanitised (no control characters, so nothing
 * can reach a header raw). Hand-written rather than zod: this runs on every cache hit.
 */
export function decodeCachedImage(raw: string, expectedId: string): { value: CachedImage; version: number; loadedAtMs: number } | undefined {
  const o = parseJsonObject(raw);
  if (!o) return undefined;
  const { id, filename, storageKey, contentType, fileSize, createdAt, width, height, userId, thumbnailKey, thumbnailSha256, thumbnailError, sha256, version, cachedAt } = o;
  if (id !== expectedId) return undefined;
  if (typeof contentType !== "string" || !Object.hasOwn(EXTENSIONS, contentType)) return undefined;
  if (storageKey !== storageKeyOf(expectedId, EXTENSIONS[contentType as keyof typeof EXTENSIONS])) return undefined;
  if (thumbnailKey !== null && thumbnailKey !== thumbnailKeyOf(expectedId)) return undefined;
  // A thumbnail has both its key and its hash, or neither.
  if (thumbnailKey === null ? thumbnailSha256 !== null : typeof thumbnailSha256 !== "string" || !SHA256_HEX.test(thumbnailSha256)) return undefined;
  if (!isReason(thumbnailError)) return undefined;
  if (typeof filename !== "string" || filename.length > 1024 || sanitizeFilename(filename) !== filename) return undefined;
  if (!Number.isSafeInteger(fileSize) || (fileSize as number) < 1 || (fileSize as number) > MAX_FILE_BYTES) return undefined;
  if (!isDimension(width) || !isDimension(height)) return undefined;
  if (userId !== null && (typeof userId !== "string" || !CANONICAL_UUID.test(userId))) return undefined;
  if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256)) return undefined;
  if (!Number.isSafeInteger(version) || (version as number) < 1) return undefined;
  if (typeof cachedAt !== "number" || !Number.isFinite(cachedAt)) return undefined;
  // Date.parse instead of a datetime regex: the regex was a visible share of a cache hit.
  const created = typeof createdAt === "string" ? Date.parse(createdAt) : Number.NaN;
  if (Number.isNaN(created)) return undefined;
  const value: CachedImage = {
    id: expectedId,
    filename,
    storageKey: storageKey as string,
    contentType,
    fileSize: fileSize as number,
    createdAt: new Date(created),
    width: width as number | null,
    height: height as number | null,
    userId: userId as string | null,
    thumbnailKey: thumbnailKey as string | null,
    thumbnailSha256: thumbnailSha256 as string | null,
    thumbnailError: thumbnailError as string | null,
    sha256,
    version: version as number,
  };
  return { value, version: value.version, loadedAtMs: cachedAt };
}

/** How image rows are stored in the caches under `prefix`. */
export function codecFor(prefix: string): Codec<CachedImage> {
  const idStart = imageCacheKey(prefix, "").length;
  return {
    encode: (image, loadedAtMs) => JSON.stringify({ ...image, cachedAt: loadedAtMs }),
    decode: (raw, key) => decodeCachedImage(raw, key.slice(idStart)),
    version: (image) => image.version,
  };
}

/** What the file route needs: the immutable facts about an image's bytes (its size from the row), plus its display name. */
export type FileInfo = { storageKey: string; contentType: string; size: number; etag: string; disposition: string };

/** Image rows through the cache: the only place that knows how routes, repository and cache meet. */
export type ImageLookup = {
  /** The row through the tiers; `read` says which tier answered (Cache-Status) and holds the in-process entry. */
  get(id: string): Promise<{ row: CachedImage | undefined; status: CacheStatus; read: CacheRead<CachedImage> }>;
  /**
   * File facts from a small in-process map before Redis or the database. The map hears every
   * invalidation through the log (a delete on any instance drops the entry) and is emptied and
   * bypassed while the log is not live.
   */
  fileInfo(id: string): Promise<FileInfo | undefined>;
  /** Populates the caches with a row just written (`loadedAtMs`: before the write). */
  remember(row: ImageRow, loadedAtMs: number): Promise<void>;
  /** Drops this instance's in-process facts for `id` (its bytes turned out to be gone). */
  drop(id: string): void;
};

// Bounds: entries live at most FILE_INFO_TTL_MS (a backstop; invalidations remove them at once)
// and the map holds at most FILE_INFO_MAX ids (oldest dropped first).
const FILE_INFO_TTL_MS = 60_000;
const FILE_INFO_MAX = 10_000;

export function createImageLookup(repo: ImagesRepo, cache: Cache, log: InvalidationLog, prefix: string): ImageLookup {
  const codec = codecFor(prefix);
  const keyPrefix = imageCacheKey(prefix, "");
  const files = new Map<string, { info: FileInfo; until: number }>();
  log.onInvalidate((key) => {
    if (key.startsWith(keyPrefix)) files.delete(key.slice(keyPrefix.length));
  });
  log.onLiveChange((live) => {
    if (!live) files.clear();
  });

  const get: ImageLookup["get"] = async (id) => {
    const read = await cache.wrap(imageCacheKey(prefix, id), codec, async () => {
      const row = await repo.findById(id);
      return row && toCachedImage(row);
    });
    return { row: read.value, status: read.status, read };
  };
  return {
    get,
    async fileInfo(id) {
      const live = log.live();
      const hit = live ? files.get(id) : undefined;
      if (hit && hit.until > performance.now()) return hit.info;
      const { row } = await get(id);
      if (!row) return undefined;
      const info = {
        storageKey: row.storageKey,
        contentType: row.contentType,
        size: row.fileSize,
        etag: `"${row.sha256}"`,
        disposition: contentDisposition(row.filename),
      };
      // Only remembered while every invalidation is heard (checked again: the load took a while).
      if (live && log.live() && log.admits(imageCacheKey(prefix, id), row.version, Date.now())) {
        files.delete(id);
        if (files.size >= FILE_INFO_MAX) files.delete(files.keys().next().value!);
        files.set(id, { info, until: performance.now() + FILE_INFO_TTL_MS });
      }
      return info;
    },
    remember: (row, loadedAtMs) => cache.set(imageCacheKey(prefix, row.id), codec, toCachedImage(row), loadedAtMs),
    drop: (id) => void files.delete(id),
  };
}
