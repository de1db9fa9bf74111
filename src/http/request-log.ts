import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import type { Deps } from "../deps.ts";
import { clientOf } from "./client-ip.ts";

/**
 * The outermost middleware: puts the dependencies on the context and, once the response exists
 * (errors included), stamps `X-Request-Id` on it, gives HEAD responses the Content-Length their
 * GET would have, and writes one access-log line (ACCESS_LOG). The path is logged without its
 * query string, so a `?delete_token=` never reaches a log.
 */
export function requestContext(deps: Deps) {
  const logRequests = deps.config.ACCESS_LOG;
  return createMiddleware<AppEnv>(async (c, next) => {
    const startedAt = performance.now();
    c.set("deps", deps);
    await next();

    // In place: raw Responses (file downloads) never saw the headers prepared before them.
    const res = c.res;
    res.headers.set("X-Request-Id", c.var.requestId);
    const head = c.req.method === "HEAD";
    let bytes: number | undefined = res.body ? undefined : 0;
    const declared = res.headers.get("content-length");
    if (declared !== null) bytes = Number(declared);
    else if (res.body && (head || logRequests)) {
      // A clone's blob is lazy for files (no read) and ~0.4 µs for JSON; the original is untouched.
      bytes = (await res.clone().blob()).size;
      // Hono answers HEAD with the GET response minus its body; without this Bun would say 0.
      if (head) res.headers.set("Content-Length", String(bytes));
    }
    if (!logRequests) return;
    deps.logger.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: res.status,
      bytes: head ? 0 : (bytes ?? null),
      ms: Math.round((performance.now() - startedAt) * 100) / 100,
      request_id: c.var.requestId,
      client_ip: clientOf(c),
    });
  });
}
