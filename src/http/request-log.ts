import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import type { Deps } from "../deps.ts";
import { clientOf } from "./client-ip.ts";

/** What one access-log line says. The path is logged without its query string (no `?delete_token=` in a log). */
export type AccessLogEntry = { method: string; path: string; status: number; bytes: number; ms: number; request_id: string; client_ip: string };

// The time field changes once per millisecond; at tens of thousands of requests a second most
// lines reuse the previous one's.
let isoMs = 0;
let iso = "";
const nowIso = () => {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
};
const q = JSON.stringify;

/**
 * One access-log line: the logger's JSON line shape (`time`, `level`, `msg`, then the fields),
 * written directly rather than through JSON.stringify of an object, which was a visible share of
 * a cache hit. Written through the logger, whose info lines go out in batches.
 */
export function logRequest(deps: Pick<Deps, "logger">, e: AccessLogEntry) {
  deps.logger.infoLine(
    `{"time":"${nowIso()}","level":"info","msg":"request","method":${q(e.method)},"path":${q(e.path)},"status":${e.status},"bytes":${e.bytes},` +
      `"ms":${e.ms},"request_id":${q(e.request_id)},"client_ip":${q(e.client_ip)}}`,
  );
}

/**
 * The same line, for a caller whose string fields need no escaping and are ASCII: a GET, a path
 * made of a canonical id, a request id it generated (a UUID) and an address from the socket.
 */
export function logPlainRequest(deps: Pick<Deps, "logger">, path: string, status: number, bytes: number, ms: number, requestId: string, clientIp: string) {
  deps.logger.infoLine(
    `{"time":"${nowIso()}","level":"info","msg":"request","method":"GET","path":"${path}","status":${status},"bytes":${bytes},` +
      `"ms":${ms},"request_id":"${requestId}","client_ip":"${clientIp}"}`,
    true,
  );
}

/**
 * The bytes a response's body will send: its Content-Length, else its size. A clone's blob is
 * lazy for files (no read) and ~0.4 µs for JSON; the response itself is untouched.
 */
export async function bodyBytes(res: Response): Promise<number> {
  const declared = res.headers.get("content-length");
  if (declared !== null) return Number(declared);
  return res.body ? (await res.clone().blob()).size : 0;
}

/** Milliseconds since `startedAt` (performance.now()), to 0.01 ms, as the access log shows them. */
export const elapsedMs = (startedAt: number) => Math.round((performance.now() - startedAt) * 100) / 100;

const MAX_REQUEST_ID_CHARS = 64;
const REQUEST_ID = /^[\w\-=]+$/;

/** The route label of /metrics for a request no route answered. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * The outermost middleware: puts the dependencies and the request id on the context and, once the response exists
 * (errors included), stamps `X-Request-Id` on it, gives HEAD responses the Content-Length their
 * GET would have, counts it in /metrics by route pattern and status, and writes one access-log
 * line (ACCESS_LOG).
 */
export function requestContext(deps: Deps) {
  const logRequests = deps.config.ACCESS_LOG;
  return createMiddleware<AppEnv>(async (c, next) => {
    const startedAt = performance.now();
    c.set("deps", deps);
    // The request id: a well-formed X-Request-Id from the client (proxies set one), else a new one.
    const given = c.req.header("x-request-id");
    c.set("requestId", given && given.length <= MAX_REQUEST_ID_CHARS && REQUEST_ID.test(given) ? given : crypto.randomUUID());
    await next();
    // The pattern of the route that answered (never the raw path: ids would explode the labels).
    const route = c.req.routePath;
    deps.metrics.request(route === "*" || route === "/*" ? UNMATCHED_ROUTE : route, c.req.method, c.res.status, (performance.now() - startedAt) / 1000);

    // In place: raw Responses (file downloads) never saw the headers prepared before them.
    const res = c.res;
    res.headers.set("X-Request-Id", c.var.requestId);
    const head = c.req.method === "HEAD";
    // Hono answers HEAD with the GET response minus its body; without this Bun would say 0.
    if (head && res.body && !res.headers.has("content-length")) res.headers.set("Content-Length", String(await bodyBytes(res)));
    if (!logRequests) return;
    logRequest(deps, {
      method: c.req.method,
      path: c.req.path,
      status: res.status,
      bytes: head ? 0 : await bodyBytes(res),
      ms: elapsedMs(startedAt),
      request_id: c.var.requestId,
      client_ip: clientOf(c),
    });
  });
}
