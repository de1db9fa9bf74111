import type { Deps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { fileResponse } from "../http/file-response.ts";
import { contentDisposition } from "../images/filename.ts";
import { THUMBNAIL_NOT_READY_MESSAGE, thumbnailFields, thumbnailFilename } from "./schemas.ts";

/**
 * The thumbnail's response, or undefined for an unknown image. The row comes through the caches
 * (version-checked, so a thumbnail finished on another instance shows at once); until the row
 * names a thumbnail the answer is THUMBNAIL_NOT_READY, with the job's state.
 */
export async function serveThumbnail(deps: Pick<Deps, "images" | "storage">, req: Request, id: string): Promise<Response | undefined> {
  const { row } = await deps.images.get(id);
  if (!row) return undefined;
  const object = row.thumbnailKey && row.thumbnailSha256 ? await deps.storage.get(row.thumbnailKey) : undefined;
  if (!object || !row.thumbnailSha256) {
    const { thumbnail_status, thumbnail_error } = thumbnailFields(row, "");
    throw new ApiError("THUMBNAIL_NOT_READY", THUMBNAIL_NOT_READY_MESSAGE, { status: thumbnail_status, reason: thumbnail_error });
  }
  // The thumbnail's size is not in the row, so it comes from the store (a stat, or a HEAD on S3):
  // thumbnails are read far less than originals.
  const res = await fileResponse(
    req,
    { contentType: "image/jpeg", size: object.size, etag: `"${row.thumbnailSha256}"`, disposition: contentDisposition(thumbnailFilename(row.id)) },
    async (range) => object.blob.slice(range.start, range.end + 1),
  );
  if (!res) throw new ApiError("THUMBNAIL_NOT_READY", THUMBNAIL_NOT_READY_MESSAGE, { status: "pending", reason: null });
  return res;
}
