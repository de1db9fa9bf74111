import type { Deps } from "../deps.ts";
import { ApiError, imageNotFound } from "../errors.ts";
import { fileResponse } from "../http/file-response.ts";

/**
 * The answer to `GET /api/v1/images/{id}/file` for a canonical id: the bytes (ETag, 304, one
 * range), or a presigned redirect with S3_PRESIGNED_DOWNLOADS. Throws IMAGE_NOT_FOUND, or
 * SERVICE_UNAVAILABLE when storage cannot be read. Shared by the app's route and the hot route.
 */
export async function serveFile(deps: Pick<Deps, "images" | "storage" | "config" | "logger">, req: Request, id: string): Promise<Response> {
  const { images, storage, config } = deps;
  // Deletes made on any instance reach `fileInfo` through the invalidations; the bytes are not
  // looked up before they are read (with S3 that would be a round trip per download).
  const info = await images.fileInfo(id);
  if (!info) throw imageNotFound(id);
  if (config.S3_PRESIGNED_DOWNLOADS && storage.presignedUrl) {
    const url = storage.presignedUrl(info.storageKey, { expiresInSeconds: config.S3_PRESIGN_EXPIRES_SECONDS, contentType: info.contentType, disposition: info.disposition });
    // The URL expires; the id's route does not.
    return new Response(null, { status: 302, headers: { Location: url, "Cache-Control": "private, no-store" } });
  }
  const res = await fileResponse(req, info, (range) =>
    storage.read(info.storageKey, range).catch((err) => {
      deps.logger.warn("storage read failed", { key: info.storageKey, error: String(err) });
      throw new ApiError("SERVICE_UNAVAILABLE", "Image storage is unavailable; try again shortly", { reason: "storage_unavailable" }, { "Retry-After": "5" });
    }),
  );
  if (!res) {
    images.drop(id); // deleted a moment ago; its invalidation is on its way
    throw imageNotFound(id);
  }
  return res;
}
