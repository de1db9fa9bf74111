import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "./logger.ts";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./app-env.ts";

/** Every code the API answers with, and its HTTP status (the OpenAPI document is generated from this table). */
export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  INVALID_FILE_FORMAT: 400,
  EMAIL_EXISTS: 400,
  FILE_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  USER_INACTIVE: 401,
  FORBIDDEN: 403,
  REGISTRATION_CLOSED: 403,
  DELETE_TOKEN_REQUIRED: 403,
  INVALID_DELETE_TOKEN: 403,
  IMAGE_NOT_FOUND: 404,
  THUMBNAIL_NOT_READY: 404,
  TAG_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  API_KEY_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMIT_EXCEEDED: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export type ErrorBody = { error: { code: ErrorCode; message: string; details: Record<string, unknown> } };

/** The one error type: routes and middleware throw it, `app.onError` renders the envelope. */
export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(ERROR_STATUS[code], { message });
    this.code = code;
    this.details = details;
    this.headers = headers;
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export const imageNotFound = (id: string) =>
  // Echo at most a short, printable prefix of what the client sent.
  new ApiError("IMAGE_NOT_FOUND", `Image with ID '${printable(id)}' not found`);

/** At most a short, printable prefix of what a client sent, for echoing in a message. */
export function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/**
 * True for errors that mean "the database cannot be reached or did not answer in time" rather
 * than "the query is wrong": connection refused/reset/timeouts from postgres.js, our own query
 * deadline, the server's statement timeout, and server shutdown states.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "ConnectionRefused", "ConnectionClosed", "QUERY_DEADLINE"].includes(code)) return true;
      // SQLSTATE class 08 (connection exception), 57P0x (admin/crash shutdown, cannot connect now).
      // 57014: canceled by statement_timeout (the server's side of the query deadline).
      if (/^08...$/.test(code) || /^57P0[1-4]$/.test(code) || code === "57014") return true;
    }
  }
  return false;
}

/**
 * For a database-unavailable error: could the statement have reached the server (and so have
 * committed)? False only when it certainly never left: the connection was refused or never
 * established, or the call was still waiting for a pool slot.
 */
export function mayHaveReachedDatabase(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, sent } = e as { code?: unknown; sent?: unknown };
    if (code === "QUERY_DEADLINE") return sent === true;
    if (typeof code === "string" && ["ECONNREFUSED", "CONNECT_TIMEOUT", "ENOTFOUND", "EHOSTUNREACH", "ConnectionRefused"].includes(code)) return false;
  }
  return true;
}

/**
 * Hono's own HTTPExceptions (malformed bodies in its validators, for instance) in our envelope,
 * so no error reaches a client in another shape.
 */
export function fromHttpException(err: HTTPException): ApiError {
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "FILE_TOO_LARGE",
    415: "INVALID_REQUEST",
    416: "RANGE_NOT_SATISFIABLE",
    503: "SERVICE_UNAVAILABLE",
  };
  const code = byStatus[err.status] ?? (err.status < 500 ? "INVALID_REQUEST" : "INTERNAL_ERROR");
  return new ApiError(code, code === "INTERNAL_ERROR" ? "Internal server error" : err.message || code);
}

/**
 * Any error a handler threw, as the ApiError the client gets (JSON from the API, a page from the
 * web router): unavailable databases become 503, Hono's own exceptions keep their status, and
 * anything else is logged with the request id and becomes a 500 that leaks nothing.
 */
export function toApiError(err: Error, c: Context<AppEnv>): ApiError {
  return apiErrorOf(err, c.var.deps.logger, { requestId: c.var.requestId, method: c.req.method, path: c.req.path });
}

/** `toApiError` for callers without a Hono context (the hot routes in images/hot-path.ts). */
export function apiErrorOf(err: Error, logger: Logger, request: { requestId: string; method: string; path: string }): ApiError {
  if (err instanceof ApiError) return err;
  if (isDatabaseUnavailable(err)) {
    logger.warn("database unavailable", { request_id: request.requestId, error: String(err) });
    return new ApiError("SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly", { reason: "database_unavailable" }, { "Retry-After": "1" });
  }
  if (err instanceof HTTPException && err.status < 500) return fromHttpException(err);
  // Never leak a stack or SQL to the client; log it with the request id instead.
  logger.error("unhandled error", {
    request_id: request.requestId,
    method: request.method,
    path: request.path,
    error: err.stack ?? err.message,
  });
  return new ApiError("INTERNAL_ERROR", "Internal server error", { request_id: request.requestId });
}
