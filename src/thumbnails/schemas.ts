// The thumbnail part of the HTTP contract, in one place: the fields metadata and upload responses
// carry, and what GET /api/v1/images/{id}/thumbnail answers before the thumbnail exists.
import { z } from "zod";
import type { CachedImage } from "../images/image-cache.ts";

export const THUMBNAIL_NOT_READY_MESSAGE = "Thumbnail is not yet available. Try again later.";

export const thumbnailPath = (id: string) => `/api/v1/images/${id}/thumbnail`;

/** Fields of the metadata (and upload) response. `thumbnail_error` is set only when `failed`. */
export const thumbnailFieldsSchema = z.object({
  thumbnail_ready: z.boolean(),
  thumbnail_url: z.string().nullable(),
  thumbnail_status: z.enum(["pending", "ready", "failed"]),
  thumbnail_error: z.string().nullable(),
});
export type ThumbnailFields = z.infer<typeof thumbnailFieldsSchema>;

export function thumbnailFields(row: CachedImage): ThumbnailFields {
  const ready = row.thumbnailKey !== null;
  return {
    thumbnail_ready: ready,
    thumbnail_url: ready ? thumbnailPath(row.id) : null,
    thumbnail_status: ready ? "ready" : row.thumbnailError !== null ? "failed" : "pending",
    thumbnail_error: ready ? null : row.thumbnailError,
  };
}

/** The Content-Disposition file name of a thumbnail (the seed system's `<id>_thumbnail.jpg`). */
export const thumbnailFilename = (id: string) => `${id}_thumbnail.jpg`;
