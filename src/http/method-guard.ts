import { createMiddleware } from "hono/factory";
import { TrieRouter } from "hono/router/trie-router";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";

type RouteEntry = { method: string; path: string };

/**
 * Answers a known path with a wrong method as 405 METHOD_NOT_ALLOWED with `Allow`, and OPTIONS
 * (without CORS preflight) as 204 with `Allow`. Paths no route matches fall through to 404.
 * A static route owns its path: GET /api/v1/images/upload is 405 (Allow: POST), not a lookup of
 * an image called "upload" through GET /api/v1/images/{id}.
 * `routes` is read on the first request, when every route has been registered.
 */
export function methodGuard(routes: () => readonly RouteEntry[]) {
  let router: TrieRouter<RouteEntry> | undefined;
  const build = () => {
    const r = new TrieRouter<RouteEntry>();
    for (const route of routes()) if (route.method !== "ALL") r.add("ALL", route.path, route);
    return r;
  };

  return createMiddleware<AppEnv>(async (c, next) => {
    router ??= build();
    const path = c.req.path;
    const matched = router.match(c.req.method, path)[0].map(([route]) => route);
    if (matched.length === 0) return next();
    const exact = matched.filter((r) => r.path === path);
    const methods = new Set((exact.length ? exact : matched).map((r) => r.method));
    if (methods.has("GET")) methods.add("HEAD");
    if (methods.has(c.req.method)) return next();
    const allow = [...methods].sort().join(", ");
    if (c.req.method === "OPTIONS") return c.body(null, 204, { Allow: allow });
    // The message names no method, so HEAD's Content-Length is GET's.
    throw new ApiError("METHOD_NOT_ALLOWED", `${path.slice(0, 200)} allows only ${allow}`, { allow: [...methods].sort() }, { Allow: allow });
  });
}
