import { timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { unauthorized, type Principal } from "../accounts/authenticator.ts";
import { auth, principalOf } from "../accounts/middleware.ts";
import type { AppEnv } from "../app-env.ts";
import type { ImageRow } from "../db/schema.ts";
import { ApiError, imageNotFound } from "../errors.ts";
import { cacheStatusHeader } from "../http/cache-status.ts";
import { clientOf } from "../http/client-ip.ts";
import { cursorParam, pageOf } from "../http/pagination.ts";
import { createRouter } from "../http/openapi.ts";
import { readBody } from "../http/upload-body.ts";
import { sha256Hex } from "./service.ts";
import { toCachedImage } from "./image-cache.ts";
import { serveFile } from "./serve-file.ts";
import { deleteRoute, fileRoute, imageUrls, listRoute, metadataRoute, toMetadata, uploadRoute } from "./schemas.ts";

// Multipart framing around the file: boundaries, part headers, a filename. Bodies up to the file
// limit plus this are read; anything larger is refused while streaming, before it is all read.
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const MAX_PARTS = 16;
const LARGE_UPLOAD_BYTES = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Canonical (lower-case) id, or a 404: a malformed id is simply not found. */
export function imageId(raw: string): string {
  if (raw.length !== 36 || !UUID.test(raw)) throw imageNotFound(raw);
  return raw.toLowerCase();
}

/** ALLOW_ANONYMOUS_UPLOADS=false: an upload without credentials is refused before its body is read. */
const anonymousGate = createMiddleware<AppEnv>(async (c, next) => {
  if (!principalOf(c) && !c.var.deps.config.ALLOW_ANONYMOUS_UPLOADS) throw unauthorized("Uploads need an account on this server: send Authorization: Bearer <token or API key>");
  await next();
});

/**
 * Refuses an uploader over its rate before any of the body is read; sets RateLimit-* headers.
 * Counted per user when authenticated (all their tokens and keys together), per client address otherwise.
 */
const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const { rateLimiter, config } = c.var.deps;
  if (!config.RATE_LIMIT_ENABLED) return next();
  const principal = principalOf(c);
  const d = await rateLimiter.check(principal ? `user:${principal.user.id}` : clientOf(c));
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

/**
 * May `principal` (or an anonymous request with `token`) delete `row`? Throws the refusal.
 * The admin may delete any image (the lost-token case); an owned image only by its owner;
 * an anonymous one with its delete token.
 */
function authorizeDelete(row: ImageRow, principal: Principal | undefined, token: string | undefined) {
  if (principal?.user.isAdmin) return;
  if (row.userId !== null || row.deleteTokenHash === null) {
    if (principal && principal.user.id === row.userId) return;
    throw new ApiError("FORBIDDEN", "Only the owner can delete this image");
  }
  if (!token) throw new ApiError("DELETE_TOKEN_REQUIRED", "This image needs its delete_token (X-Delete-Token header) to be deleted", { field: "delete_token" });
  const given = Buffer.from(sha256Hex(token), "hex");
  const expected = Buffer.from(row.deleteTokenHash, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ApiError("INVALID_DELETE_TOKEN", "The delete_token is not valid for this image", { field: "delete_token" });
  }
}

export const imageRoutes = createRouter()
  .openapi({ ...listRoute, middleware: [auth({ required: true, scope: "read" })] as const }, async (c) => {
    const { repo, config } = c.var.deps;
    const { cursor, limit, tag } = c.req.valid("query");
    const rows = await repo.listOwned(principalOf(c)!.user.id, { before: cursorParam(cursor), limit: limit + 1, tag });
    const { page, nextCursor } = pageOf(rows, limit);
    return c.json({ images: page.map((r) => toMetadata(toCachedImage(r), config.PUBLIC_URL)), next_cursor: nextCursor }, 200);
  })

  .openapi({ ...uploadRoute, middleware: [auth({ required: false, scope: "upload" }), anonymousGate, rateLimit, uploadSlot] as const }, async (c) => {
    const { config, imageService } = c.var.deps;
    const file = await readSingleFile(c);
    if (file.size === 0) throw new ApiError("INVALID_REQUEST", "The uploaded file is empty", { field: "file" });
    if (file.size > config.maxFileBytes) throw tooLarge(config.maxFileBytes);
    const { row, deleteToken, metadataRemoved } = await imageService.upload({
      bytes: await file.bytes(),
      filename: file.name,
      clientIp: clientOf(c),
      userId: principalOf(c)?.user.id,
    });
    c.var.deps.metrics.uploaded(row.fileSize);
    c.header("Location", imageUrls(config.PUBLIC_URL, row.id).metadata);
    return c.json({ ...toMetadata(row, config.PUBLIC_URL), delete_token: deleteToken, metadata_removed: metadataRemoved }, 201);
  })

  .openapi(metadataRoute, async (c) => {
    const id = imageId(c.req.valid("param").id);
    const { images, memory, config } = c.var.deps;
    const { row, status, read } = await images.get(id);
    c.header("X-Cache", status);
    c.header("Cache-Status", cacheStatusHeader(read, memory.enabled, config.CACHE_ENABLED));
    if (!row) throw imageNotFound(id);
    return c.json(toMetadata(row, c.var.deps.config.PUBLIC_URL), 200);
  })

  .openapi(fileRoute, async (c) => serveFile(c.var.deps, c.req.raw, imageId(c.req.valid("param").id)))

  .openapi({ ...deleteRoute, middleware: [auth({ required: false, scope: "delete" })] as const }, async (c) => {
    const id = imageId(c.req.valid("param").id);
    // The header is the preferred form (query strings end up in logs); it wins when both are sent.
    const token = c.req.valid("header")["x-delete-token"] || c.req.valid("query").delete_token;
    // Authorised against the database, not the cache.
    const principal = principalOf(c);
    await c.var.deps.imageService.remove(id, (row) => authorizeDelete(row, principal, token));
    return c.body(null, 204);
  });
