import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { TrieRouter } from "hono/router/trie-router";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";

type RouteEntry = { method: string; path: string };

/**
 * A known path with a wrong method is 405 METHOD_NOT_ALLOWED with `Allow`; OPTIONS (without CORS
 * preflight) is 204 with `Allow`; a path no route matches is left to 404. A static route owns its
 * path: GET /api/v1/images/upload is 405 (Allow: POST), not a lookup of an image called "upload"
 * through GET /api/v1/images/{id}.
 *
 * Cheap on the requests that matter: `middleware` only looks a path up in a map of static paths
 * (one Map.get per request); everything else is decided in `notFound`, which runs only when no
 * route answered the method. `routes` is read on first use, when every route has been registered.
 */
export function createMethodGuard(routes: () => readonly RouteEntry[]) {
  let built: { router: TrieRouter<RouteEntry>; staticPaths: Map<string, Set<string>> } | undefined;
  const build = () => {
    const router = new TrieRouter<RouteEntry>();
    const staticPaths = new Map<string, Set<string>>();
    for (const route of routes()) {
      if (route.method === "ALL") continue;
      router.add("ALL", route.path, route);
      if (!/[:*]/.test(route.path)) {
        const methods = staticPaths.get(route.path) ?? new Set<string>();
        methods.add(route.method);
        if (route.method === "GET") methods.add("HEAD");
        staticPaths.set(route.path, methods);
      }
    }
    return { router, staticPaths };
  };

  const refuse = (c: Context<AppEnv>, methods: Set<string>) => {
    const allow = [...methods].sort().join(", ");
    if (c.req.method === "OPTIONS") return c.body(null, 204, { Allow: allow });
    // The message names no method, so HEAD's Content-Length is GET's.
    throw new ApiError("METHOD_NOT_ALLOWED", `${c.req.path.slice(0, 200)} allows only ${allow}`, { allow: [...methods].sort() }, { Allow: allow });
  };

  return {
    middleware: createMiddleware<AppEnv>(async (c, next) => {
      built ??= build();
      const methods = built.staticPaths.get(c.req.path);
      if (!methods || methods.has(c.req.method)) return next();
      return refuse(c, methods);
    }),
    /** From `app.notFound`: a 405 or 204 (OPTIONS) for a path some other method answers; undefined for a true 404. */
    notFound(c: Context<AppEnv>): Response | undefined {
      built ??= build();
      const matched = built.router.match(c.req.method, c.req.path)[0].map(([route]) => route);
      if (matched.length === 0) return undefined;
      const methods = new Set(matched.map((r) => r.method));
      if (methods.has("GET")) methods.add("HEAD");
      return refuse(c, methods);
    },
  };
}
