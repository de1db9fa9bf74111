import { timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { getConnInfo } from "hono/bun";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import type { AppEnv } from "../app-env.ts";
import { ApiError, imageNotFound } from "../errors.ts";
import { fileResponse } from "../http/file-response.ts";
import { readBody } from "../http/upload-body.ts";
import { validate } from "../http/validate.ts";
import type { CachedImage } from "./image-cache.ts";
import { sha256Hex } from "./service.ts";

// Multipart framing around the file: boundaries, part headers, a filename. Bodies up to the file
// limit plus this are read; anything larger is refused while streaming, before it is all read.
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const MAX_PARTS = 16;
const LARGE_UPLOAD_BYTES = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Canonical (lower-case) id, or a 404: a malformed id is simply not found. */
function imageId(raw: string): string {
  if (raw.length !== 36 || !UUID.test(raw)) throw imageNotFound(raw);
  return raw.toLowerCase();
}

function toMetadata(row: CachedImage) {
  return {
    id: row.id,
    filename: row.filename,
    content_type: row.contentType,
    file_size: row.fileSize,
    created_at: row.createdAt.toISOString(),
    width: row.width,
    height: row.height,
    thumbnail_ready: row.thumbnailKey !== null,
    thumbnail_url: row.thumbnailKey !== null ? `/api/v1/images/${row.id}/thumbnail` : null,
  };
}

/** The client's address (socket peer, or X-Forwarded-For from a trusted proxy), resolved once per request. */
function clientOf(c: Context<AppEnv>): string {
  let ip = c.get("clientIp");
  if (ip === undefined) {
    let peer: string | undefined;
    try {
      peer = getConnInfo(c).remote.address;
    } catch {
      peer = undefined; // in-process requests (tests) have no socket
    }
    ip = c.var.deps.clientIp(peer, c.req.header("x-forwarded-for"));
    c.set("clientIp", ip);
  }
  return ip;
}

/** Refuses a client over its upload rate before any of the body is read; sets RateLimit-* headers. */
const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const { rateLimiter, config } = c.var.deps;
  if (!config.RATE_LIMIT_ENABLED) return next();
  const d = await rateLimiter.check(clientOf(c));
  const headers: Record<string, string> = {
    "RateLimit-Limit": String(d.limit),
    "RateLimit-Remaining": String(d.remaining),
    "RateLimit-Reset": String(d.resetSeconds),
    "RateLimit-Policy": `${d.limit};w=${config.RATE_LIMIT_WINDOW_SECONDS}`,
  };
  if (!d.allowed) {
    throw new ApiError(
      "RATE_LIMIT_EXCEEDED",
      `Upload rate limit exceeded: ${d.limit} per ${config.RATE_LIMIT_WINDOW_SECONDS} s`,
      { limit: d.limit, window_seconds: config.RATE_LIMIT_WINDOW_SECONDS, retry_after: d.retryAfterSeconds },
      { ...headers, "Retry-After": String(d.retryAfterSeconds) },
    );
  }
  await next();
  for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
});

/** Holds one of the instance's upload slots for the whole upload, released whatever happens. */
const uploadSlot = createMiddleware<AppEnv>(async (c, next) => {
  const release = await c.var.deps.uploadSlots.acquire();
  try {
    await next();
  } finally {
    release();
    if (Number(c.req.header("content-length") ?? 0) > LARGE_UPLOAD_BYTES) collectSoon();
  }
});

// A large upload leaves ~3 copies of its body (request buffer, form part, bytes) that only a full
// collection frees; left to the collector's own schedule, 20 concurrent 5 MiB uploads peaked at
// 364 MB RSS (474 MB on a second burst); with a coalesced full GC after them, 230–237 MB.
// A full GC here takes a few ms; uploads finishing together share one.
let collectPending = false;
function collectSoon() {
  if (collectPending) return;
  collectPending = true;
  setImmediate(() => {
    collectPending = false;
    Bun.gc(true);
  });
}

const tooLarge = (maxBytes: number) =>
  new ApiError("FILE_TOO_LARGE", `File exceeds the maximum size of ${maxBytes} bytes`, { max_size_bytes: maxBytes });

/** The upload's single `file` part, read within the size limit and the body deadline. */
async function readSingleFile(c: Context<AppEnv>): Promise<File> {
  const { config } = c.var.deps;
  const type = c.req.header("content-type") ?? "";
  if (!/^multipart\/form-data\s*;\s*.*boundary=/i.test(type)) {
    throw new ApiError("INVALID_REQUEST", "Expected a multipart/form-data body with a `file` field", { field: "file" });
  }
  const body = await readBody(c.req.raw, {
    maxBytes: config.maxFileBytes + MULTIPART_OVERHEAD_BYTES,
    deadlineMs: config.UPLOAD_BODY_TIMEOUT_SECONDS * 1000,
    tooLarge: () => tooLarge(config.maxFileBytes),
  });
  let form: Awaited<ReturnType<Response["formData"]>>;
  try {
    form = await new Response(body, { headers: { "content-type": type } }).formData();
  } catch {
    throw new ApiError("INVALID_REQUEST", "Malformed multipart/form-data body", { field: "file" });
  }
  let parts = 0;
  for (const _ of form.keys()) parts++;
  if (parts > MAX_PARTS) throw new ApiError("INVALID_REQUEST", `Too many form fields (at most ${MAX_PARTS})`, { field: "file" });
  const files = form.getAll("file");
  if (files.length === 0) throw new ApiError("INVALID_REQUEST", "Missing form field `file`", { field: "file" });
  if (files.length > 1) throw new ApiError("INVALID_REQUEST", "Send exactly one `file` field", { field: "file" });
  const file = files[0]!;
  if (typeof file === "string") throw new ApiError("INVALID_REQUEST", "Field `file` must be a file upload", { field: "file" });
  return file;
}

export const imageRoutes = new Hono<AppEnv>()
  .post("/upload", rateLimit, uploadSlot, async (c) => {
    const { config, imageService } = c.var.deps;
    const file = await readSingleFile(c);
    if (file.size === 0) throw new ApiError("INVALID_REQUEST", "The uploaded file is empty", { field: "file" });
    if (file.size > config.maxFileBytes) throw tooLarge(config.maxFileBytes);
    const { row, deleteToken } = await imageService.upload({ bytes: await file.bytes(), filename: file.name, clientIp: clientOf(c) });
    c.header("Location", `/api/v1/images/${row.id}`);
    return c.json({ ...toMetadata(row), url: `/api/v1/images/${row.id}/file`, delete_token: deleteToken }, 201);
  })

  .get("/:id", async (c) => {
    const id = imageId(c.req.param("id"));
    const { row, status } = await c.var.deps.images.get(id);
    c.header("X-Cache", status);
    if (!row) throw imageNotFound(id);
    return c.json(toMetadata(row));
  })

  .get("/:id/file", async (c) => {
    const id = imageId(c.req.param("id"));
    const { images, storage, config } = c.var.deps;
    // Deletes made on any instance reach `fileInfo` through the invalidations; the bytes are not
    // looked up before they are read (with S3 that would be a round trip per download).
    const info = await images.fileInfo(id);
    if (!info) throw imageNotFound(id);
    if (config.S3_PRESIGNED_DOWNLOADS && storage.presignedUrl) {
      const url = storage.presignedUrl(info.storageKey, { expiresInSeconds: config.S3_PRESIGN_EXPIRES_SECONDS, contentType: info.contentType, disposition: info.disposition });
      c.header("Cache-Control", "private, no-store"); // the URL expires; the id's route does not
      return c.redirect(url, 302);
    }
    const res = await fileResponse(c.req.raw, info, (range) =>
      storage.read(info.storageKey, range).catch((err) => {
        c.var.deps.logger.warn("storage read failed", { key: info.storageKey, error: String(err) });
        throw new ApiError("SERVICE_UNAVAILABLE", "Image storage is unavailable; try again shortly", { reason: "storage_unavailable" }, { "Retry-After": "5" });
      }),
    );
    if (!res) {
      images.drop(id); // deleted a moment ago; its invalidation is on its way
      throw imageNotFound(id);
    }
    return res;
  })

  .delete("/:id", validate("query", z.object({ delete_token: z.string().max(256).optional() })), async (c) => {
    const id = imageId(c.req.param("id"));
    const { delete_token: token } = c.req.valid("query");
    await c.var.deps.imageService.remove(id, (row) => {
      if (row.userId !== null || row.deleteTokenHash === null) {
        throw new ApiError("FORBIDDEN", "Only the owner can delete this image");
      }
      if (!token) throw new ApiError("DELETE_TOKEN_REQUIRED", "This image needs its delete_token to be deleted", { field: "delete_token" });
      const given = Buffer.from(sha256Hex(token), "hex");
      const expected = Buffer.from(row.deleteTokenHash, "hex");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new ApiError("INVALID_DELETE_TOKEN", "The delete_token is not valid for this image", { field: "delete_token" });
      }
    });
    return c.body(null, 204);
  });
