// The thumbnail part of the HTTP contract: the fields metadata and upload responses carry (their
// schema is ImageMetadata in images/schemas.ts), the thumbnail route, and its not-ready answer.
import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses, requestIdHeader } from "../http/openapi.ts";
import type { CachedImage } from "../images/image-cache.ts";

export const THUMBNAIL_NOT_READY_MESSAGE = "Thumbnail is not yet available. Try again later.";

export type ThumbnailFields = {
  thumbnail_ready: boolean;
  thumbnail_url: string | null;
  thumbnail_status: "pending" | "ready" | "failed";
  thumbnail_error: string | null;
};

/** Fields of the metadata (and upload) response; `url` is where the thumbnail is served. `thumbnail_error` only when failed. */
export function thumbnailFields(row: CachedImage, url: string): ThumbnailFields {
  const ready = row.thumbnailKey !== null;
  return {
    thumbnail_ready: ready,
    thumbnail_url: ready ? url : null,
    thumbnail_status: ready ? "ready" : row.thumbnailError !== null ? "failed" : "pending",
    thumbnail_error: ready ? null : row.thumbnailError,
  };
}

/** The Content-Disposition file name of a thumbnail (the seed system's `<id>_thumbnail.jpg`). */
export const thumbnailFilename = (id: string) => `${id}_thumbnail.jpg`;

export const thumbnailRoute = createRoute({
  method: "get",
  path: "/{id}/thumbnail",
  tags: ["Images"],
  summary: "Thumbnail",
  description:
    "A JPEG that fits within 300×300 (aspect kept, never upscaled, transparency on white), made in the background after the upload. " +
    "Same caching as /file: strong ETag, 304 on If-None-Match, 206 on Range. 404 THUMBNAIL_NOT_READY until it exists.",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }) },
  parameters: [
    { name: "Range", in: "header", required: false, schema: { type: "string", example: "bytes=0-99" } },
    { name: "If-None-Match", in: "header", required: false, schema: { type: "string" } },
  ],
  responses: {
    200: { description: "The thumbnail", headers: requestIdHeader, content: { "image/jpeg": { schema: { type: "string", format: "binary" } } } },
    206: { description: "The requested range", headers: requestIdHeader, content: { "image/jpeg": { schema: { type: "string", format: "binary" } } } },
    304: { description: "Not modified (If-None-Match matched)", headers: requestIdHeader },
    ...errorResponses("IMAGE_NOT_FOUND", "THUMBNAIL_NOT_READY", "RANGE_NOT_SATISFIABLE", "SERVICE_UNAVAILABLE"),
  },
});
