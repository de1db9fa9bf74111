// The image routes' contract: request and response schemas and the route declarations built from
// them. Validation, the handlers' response types and /openapi.json all come from this file.
import { createRoute, z } from "@hono/zod-openapi";
import { ALLOWED_TYPES, type AllowedType } from "../config.ts";
import { thumbnailFields } from "../thumbnails/schemas.ts";
import type { CachedImage } from "./image-cache.ts";
import { bearer, errorResponses, optionalBearer, requestIdHeader } from "../http/openapi.ts";

const MAX_DELETE_TOKEN_CHARS = 256;
const EXAMPLE_ID = "0b6c5f7e-3a8e-4c1e-9d2f-5b7a1c9e8d40";

/** Where an image's resources live: absolute under PUBLIC_URL when set, else root-relative. */
export function imageUrls(publicUrl: string | undefined, id: string) {
  const base = `${publicUrl ?? ""}/api/v1/images/${id}`;
  return { metadata: base, file: `${base}/file`, thumbnail: `${base}/thumbnail` };
}

export const ImageMetadata = z
  .object({
    id: z.uuid(),
    filename: z.string().openapi({ description: "The sanitised original name, for display and Content-Disposition", example: "cat.jpg" }),
    content_type: z.enum(ALLOWED_TYPES).openapi({ description: "Detected from the bytes, not taken from the client" }),
    file_size: z.number().int().nonnegative().openapi({ description: "Bytes", example: 48213 }),
    url: z.string().openapi({
      description: "The bytes (GET …/file); absolute when the server has PUBLIC_URL, else a root-relative path",
      example: `https://img.example.com/api/v1/images/${EXAMPLE_ID}/file`,
    }),
    created_at: z.iso.datetime().openapi({ description: "ISO-8601, UTC", example: "2026-11-28T22:05:30.433Z" }),
    width: z.number().int().positive().nullable().openapi({ description: "Displayed width (EXIF orientation applied); null when unreadable", example: 640 }),
    height: z.number().int().positive().nullable().openapi({ description: "Displayed height; null when unreadable", example: 480 }),
    thumbnail_ready: z.boolean(),
    thumbnail_url: z.string().nullable().openapi({ description: "Absolute under PUBLIC_URL like `url`; null until a thumbnail exists" }),
    thumbnail_status: z.enum(["pending", "ready", "failed"]).openapi({ description: "pending until the background job has made the 300 px JPEG; failed after its last retry" }),
    thumbnail_error: z.string().nullable().openapi({ description: "Why the thumbnail could not be made (only when failed)" }),
  })
  .openapi("ImageMetadata");

export const UploadedImage = ImageMetadata.extend({
  delete_token: z.string().nullable().openapi({
    description: "Shown only in this response (anonymous uploads): send it as X-Delete-Token to delete the image. null for owned images",
    example: "k1BfX0Qm3v9yq2sZr8T4uW6aN5cD7eF1gH3jK5lM7nP",
  }),
  metadata_removed: z.boolean().openapi({
    description: "true when GPS, camera and other EXIF/XMP/IPTC data or comments were removed from the stored bytes (STRIP_METADATA)",
  }),
}).openapi("UploadedImage");

/** The public projection of a row: never the storage key, uploader address, token hash or owner. */
export function toMetadata(row: CachedImage, publicUrl: string | undefined): z.infer<typeof ImageMetadata> {
  const urls = imageUrls(publicUrl, row.id);
  return {
    id: row.id,
    filename: row.filename,
    content_type: row.contentType as AllowedType,
    file_size: row.fileSize,
    url: urls.file,
    created_at: row.createdAt.toISOString(),
    width: row.width,
    height: row.height,
    ...thumbnailFields(row, urls.thumbnail),
  };
}

// Any string is accepted here: a malformed id is answered as IMAGE_NOT_FOUND, like an unknown one.
const ImageIdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid", example: EXAMPLE_ID }),
});

// The multipart body is read by the upload route's own streaming reader (size limit while
// reading, one `file` part); this zod schema documents it, as JSON Schema so that no second
// parser buffers the body for validation.
const UploadForm = z.looseObject({
  file: z.file().describe("One image: JPEG, PNG, GIF or WebP, at most MAX_FILE_SIZE_MB. The type is detected from the bytes."),
});
const { $schema: _, ...uploadFormSchema } = z.toJSONSchema(UploadForm) as Record<string, unknown>;

const rateLimitHeaders = z.object({
  "RateLimit-Limit": z.string().optional().openapi({ description: "Uploads allowed per window (when rate limiting is on)" }),
  "RateLimit-Remaining": z.string().optional(),
  "RateLimit-Reset": z.string().optional().openapi({ description: "Seconds until the window has room again" }),
  "RateLimit-Policy": z.string().optional().openapi({ example: "10;w=60" }),
});

export const uploadRoute = createRoute({
  method: "post",
  path: "/upload",
  tags: ["Images"],
  summary: "Upload an image",
  description:
    "multipart/form-data with exactly one part named `file`. The body is refused while streaming once it passes the size limit (413). " +
    "With `Authorization: Bearer <token or API key with the upload scope>` the image is yours (`delete_token: null`; you delete it with " +
    "the same credentials). Anonymous uploads get a one-time `delete_token`; a server with ALLOW_ANONYMOUS_UPLOADS=false refuses them (401). " +
    "The rate limit counts per user when authenticated, per client address otherwise.",
  security: optionalBearer,
  request: {
    body: {
      required: true,
      content: { "multipart/form-data": { schema: uploadFormSchema } },
    },
  },
  responses: {
    201: {
      description: "Stored",
      headers: requestIdHeader.extend(rateLimitHeaders.shape).extend({
        Location: z.string().openapi({ description: "The metadata URL (absolute under PUBLIC_URL)" }),
      }),
      content: { "application/json": { schema: UploadedImage } },
    },
    ...errorResponses("INVALID_REQUEST", "INVALID_FILE_FORMAT", "UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "FILE_TOO_LARGE", "RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE"),
  },
});

export const metadataRoute = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["Images"],
  summary: "Image metadata",
  request: { params: ImageIdParams },
  responses: {
    200: {
      description: "The image's metadata",
      headers: requestIdHeader.extend({
        "X-Cache": z.enum(["HIT", "MISS", "DISABLED"]).openapi({ description: "HIT from the cache, MISS loaded and cached, DISABLED cache off or unreachable" }),
        "Cache-Status": z.string().openapi({
          description:
            "RFC 9211: which cache tier answered, from Redis (chitram-l2) to this process's in-process tier (chitram-l1): " +
            "`chitram-l1; hit`, `chitram-l2; hit, chitram-l1; fwd=miss`, `chitram-l2; fwd=miss, chitram-l1; fwd=miss` (loaded from the database), " +
            "`fwd=bypass` while a tier cannot be used",
          example: "chitram-l1; hit",
        }),
      }),
      content: { "application/json": { schema: ImageMetadata } },
    },
    ...errorResponses("IMAGE_NOT_FOUND", "SERVICE_UNAVAILABLE"),
  },
});

const binary = { type: "string", format: "binary" } as const;

export const fileRoute = createRoute({
  method: "get",
  path: "/{id}/file",
  tags: ["Images"],
  summary: "Image bytes",
  description: "The stored bytes with a strong ETag and immutable caching. `If-None-Match` gives 304; one `bytes=` Range gives 206.",
  request: { params: ImageIdParams },
  // Documented, not validated: these conditional headers are interpreted by the file response
  // itself, and a schema validator on the hottest route would cost every download.
  parameters: [
    { name: "Range", in: "header", required: false, schema: { type: "string", example: "bytes=0-99" } },
    { name: "If-None-Match", in: "header", required: false, schema: { type: "string" } },
    { name: "If-Range", in: "header", required: false, schema: { type: "string" } },
  ],
  responses: {
    200: {
      description: "The whole file",
      headers: requestIdHeader.extend({
        ETag: z.string().openapi({ description: 'Strong: the SHA-256 of the bytes in quotes' }),
        "Cache-Control": z.string().openapi({ example: "public, max-age=31536000, immutable" }),
        "Content-Disposition": z.string().openapi({ example: 'inline; filename="cat.jpg"' }),
        "Accept-Ranges": z.literal("bytes"),
        "X-Content-Type-Options": z.literal("nosniff"),
      }),
      content: Object.fromEntries(ALLOWED_TYPES.map((t) => [t, { schema: binary }])),
    },
    206: {
      description: "The requested range",
      headers: requestIdHeader.extend({ "Content-Range": z.string().openapi({ example: "bytes 0-99/48213" }) }),
      content: Object.fromEntries(ALLOWED_TYPES.map((t) => [t, { schema: binary }])),
    },
    302: {
      description: "With S3_PRESIGNED_DOWNLOADS: a short-lived presigned URL of the object store, which serves the bytes",
      headers: requestIdHeader.extend({ Location: z.string(), "Cache-Control": z.literal("private, no-store") }),
    },
    304: { description: "Not modified (If-None-Match matched)", headers: requestIdHeader },
    ...errorResponses("IMAGE_NOT_FOUND", "RANGE_NOT_SATISFIABLE", "SERVICE_UNAVAILABLE"),
  },
});

const deleteToken = z.string().max(MAX_DELETE_TOKEN_CHARS).optional();

export const deleteRoute = createRoute({
  method: "delete",
  path: "/{id}",
  tags: ["Images"],
  summary: "Delete an image",
  description:
    "An owned image is deleted by its owner (or the admin) with `Authorization: Bearer <token or API key with the delete scope>`; " +
    "anyone else, and anonymous requests, get 403 FORBIDDEN. " +
    "Anonymous images need the `delete_token` from their upload: preferably in the `X-Delete-Token` header " +
    "(query strings end up in proxy logs and browser history); `?delete_token=` also works. The header wins when both are sent. " +
    "The admin may delete any image without a token.",
  security: optionalBearer,
  request: {
    params: ImageIdParams,
    headers: z.object({ "x-delete-token": deleteToken.openapi({ description: "The delete_token from the upload (preferred form; header names are case-insensitive)" }) }),
    query: z.object({ delete_token: deleteToken.openapi({ description: "Accepted; prefer the X-Delete-Token header" }) }),
  },
  responses: {
    204: { description: "Deleted: metadata, file and cache entries are gone", headers: requestIdHeader },
    ...errorResponses("INVALID_REQUEST", "UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "DELETE_TOKEN_REQUIRED", "INVALID_DELETE_TOKEN", "IMAGE_NOT_FOUND", "SERVICE_UNAVAILABLE"),
  },
});

export const ImagePage = z
  .object({
    images: z.array(ImageMetadata).openapi({ description: "Newest first" }),
    next_cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page; null on the last page" }),
  })
  .openapi("ImagePage");

export const listRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["Images"],
  summary: "My images",
  description:
    "The authenticated user's images, newest first, by cursor: a page continues strictly after the last image of the previous one, " +
    "so uploads and deletes in between never repeat or skip an image. `tag` keeps only images carrying that tag (case-insensitive). " +
    "An API key needs the `read` scope.",
  security: bearer,
  request: {
    query: z.object({
      cursor: z.string().max(200).optional().openapi({ description: "`next_cursor` from the previous page" }),
      limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: "1–100, default 20" }),
      tag: z.string().trim().toLowerCase().min(1).max(50).optional().openapi({ example: "sunset" }),
    }),
  },
  responses: {
    200: { description: "A page of images", headers: requestIdHeader, content: { "application/json": { schema: ImagePage } } },
    ...errorResponses("INVALID_REQUEST", "UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "SERVICE_UNAVAILABLE"),
  },
});
