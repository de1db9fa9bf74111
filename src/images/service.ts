import { createHash, randomBytes } from "node:crypto";
import type { Config } from "../config.ts";
import type { ImageRow } from "../db/schema.ts";
import { ApiError, imageNotFound, isDatabaseUnavailable, mayHaveReachedDatabase } from "../errors.ts";
import type { Invalidation } from "../invalidation/log.ts";
import type { Invalidations } from "../invalidation/invalidations.ts";
import type { Logger } from "../logger.ts";
import { storageKeyOf } from "../storage/types.ts";
import type { Storage } from "../storage/types.ts";
import { inspectImage } from "./detect.ts";
import { stripMetadata } from "./metadata.ts";
import { structuralProblem } from "./structure.ts";
import { sanitizeFilename } from "./filename.ts";
import { imageCacheKey, type ImageLookup } from "./image-cache.ts";
import type { ImagesRepo } from "./repo.ts";

export const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/**
 * Uploads and deletes: the two writes that must keep rows and files paired whatever fails.
 *  - Upload writes the file, then the row. A row is never written without its file; if the row's
 *    commit outcome is unknown (the connection dropped at commit), the insert is retried
 *    idempotently until PostgreSQL says whether it exists, and the file is only removed when the
 *    row certainly does not. If that cannot be known in time, the file stays for the reconciler.
 *  - Delete removes the row (with its invalidations, in one transaction), then the files after
 *    the commit. A crash in between leaves files without a row, which the reconciler sweeps.
 */
export type ImageService = {
  /**
   * Stores the image (its metadata removed first when STRIP_METADATA is on) with its thumbnail job.
   * `metadataRemoved`: the stored bytes are not the uploaded ones because metadata was taken out.
   */
  /** `userId`: the owner (no delete token then: the owner deletes with their credentials). */
  upload(input: { bytes: Uint8Array; filename: string | undefined; clientIp: string; userId?: string }): Promise<{ row: ImageRow; deleteToken: string | null; metadataRemoved: boolean }>;
  /** Deletes after `authorize(row)` (which throws to refuse), checked against the database, not a cache. */
  remove(id: string, authorize: (row: ImageRow) => void): Promise<void>;
};

export type ImageServiceDeps = {
  config: Config;
  repo: ImagesRepo;
  storage: Storage;
  images: ImageLookup;
  invalidations: Invalidations;
  logger: Logger;
  /** How long an upload keeps retrying a row insert whose outcome is unknown: 2 query deadlines. */
  insertBudgetMs: number;
  /** Called after an upload committed its thumbnail job (the runner looks for work at once). */
  onJobQueued?: () => void;
};

class OutcomeUnknown extends Error {
  override name = "OutcomeUnknown";
}

export function createImageService(d: ImageServiceDeps): ImageService {
  const { config, repo, storage, images, invalidations, logger } = d;
  const { insertBudgetMs } = d;
  const invalidationsOf = (id: string): Invalidation[] => [{ key: imageCacheKey(config.CACHE_KEY_PREFIX, id), version: null }];

  /**
   * Inserts the row. A failure that certainly wrote nothing (refused, or never sent) is final; an
   * attempt that may have committed (connection lost mid-call, deadline passed while running) is
   * retried idempotently until the database says whether the row exists, within the budget.
   */
  async function insertRow(row: Parameters<ImagesRepo["insert"]>[0]): Promise<ImageRow> {
    const until = performance.now() + insertBudgetMs;
    let maybeCommitted = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await repo.insert(row);
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw maybeCommitted ? new OutcomeUnknown(String(err), { cause: err }) : err;
        if (!maybeCommitted && !mayHaveReachedDatabase(err)) throw err;
        maybeCommitted = true;
        const backoffMs = Math.min(50 * 2 ** attempt, 1_000);
        if (performance.now() + backoffMs > until) throw new OutcomeUnknown(String(err), { cause: err });
        await Bun.sleep(backoffMs);
      }
    }
  }

  /** After the row's delete committed: this instance and Redis forget it, then the bytes go. */
  async function finishDelete(row: ImageRow, outboxIds: number[]) {
    await invalidations.committed(invalidationsOf(row.id), outboxIds);
    for (const key of [row.storageKey, row.thumbnailKey]) {
      if (!key) continue;
      await storage.delete(key).catch((err) => logger.warn("could not remove a deleted image's file; the reconciler will", { key, error: String(err) }));
    }
  }

  return {
    async upload({ bytes: uploaded, filename, clientIp, userId }) {
      const image = await inspectImage(uploaded, { allowed: config.ALLOWED_CONTENT_TYPES, maxPixels: config.MAX_IMAGE_PIXELS });
      // What is stored is what file_size, sha256 and the ETag describe.
      const stripped = config.STRIP_METADATA ? stripMetadata(image.format, uploaded) : { bytes: uploaded, removed: [] };
      const bytes = stripped.bytes;
      if (stripped.removed.length > 0 && structuralProblem(image.format, bytes)) {
        throw new Error(`removing metadata broke the ${image.format} structure: ${structuralProblem(image.format, bytes)}`);
      }
      const id = crypto.randomUUID();
      const storageKey = storageKeyOf(id, image.ext);
      const deleteToken = userId ? null : randomBytes(32).toString("base64url");
      try {
        await storage.put(storageKey, bytes);
      } catch (err) {
        logger.error("storage write failed", { key: storageKey, error: String(err) });
        throw new ApiError("SERVICE_UNAVAILABLE", "Image storage is unavailable; try again shortly", { reason: "storage_unavailable" }, { "Retry-After": "5" });
      }
      const loadedAtMs = Date.now();
      let row: ImageRow;
      try {
        row = await insertRow({
          id,
          filename: sanitizeFilename(filename),
          storageKey,
          contentType: image.contentType,
          fileSize: bytes.byteLength,
          uploadIp: clientIp,
          width: image.width,
          height: image.height,
          userId: userId ?? null,
          deleteTokenHash: deleteToken === null ? null : sha256Hex(deleteToken),
          sha256: sha256Hex(bytes),
        });
      } catch (err) {
        if (err instanceof OutcomeUnknown) {
          // The row may yet exist: removing the file now could leave a row without its file.
          logger.warn("upload outcome unknown; its file stays until the reconciler finds no row for it", { id, error: err.message });
          throw new ApiError("SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly", { reason: "database_unavailable" }, { "Retry-After": "1" });
        }
        await storage.delete(storageKey).catch(() => {}); // certainly no row: no file either
        throw err;
      }
      d.onJobQueued?.();
      await images.remember(row, loadedAtMs);
      return { row, deleteToken, metadataRemoved: stripped.removed.length > 0 };
    },

    async remove(id, authorize) {
      const current = await repo.findById(id);
      if (!current) throw imageNotFound(id);
      authorize(current);
      let deleted: Awaited<ReturnType<ImagesRepo["delete"]>>;
      try {
        deleted = await repo.delete(id, invalidationsOf(id), finishDelete);
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        // The commit's answer may have been lost. If the row is gone, the delete happened (the
        // outbox row and its NOTIFY committed with it): finish it. If it is still there, the
        // delete failed or may still commit; its files stay, and the reconciler removes them then.
        const after = await repo.findById(id).catch(() => current);
        if (after) throw err;
        await finishDelete(current, []);
        return;
      }
      if (!deleted) throw imageNotFound(id);
    },
  };
}
