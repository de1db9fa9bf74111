import type { Server } from "bun";
import type { App } from "../app.ts";
import type { Deps } from "../deps.ts";
import { L1_HIT } from "../http/cache-status.ts";
import { elapsedMs, logPlainRequest } from "../http/request-log.ts";
import { imageCacheKey, type CachedImage } from "./image-cache.ts";
import { toMetadata } from "./schemas.ts";

const ROUTE = "/api/v1/images/:id";
const CANONICAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The metadata response of an in-process entry, rendered once per entry (it dies with the entry). */
type Rendered = { body: string; bytes: number };

/**
 * Bun's own router in front of the app for the hottest request: `GET /api/v1/images/{id}` whose
 * row is in this process's in-process tier. The answer is the one the app gives (the same body,
 * `Content-Type`, `X-Cache: HIT`, `Cache-Status`, a fresh `X-Request-Id`, the same access-log
 * line and request metrics), prepared when the entry was first served and sent as it is. Any
 * other request, and any that is not plain (no entry usable right now, a non-canonical id, an
 * `X-Request-Id` to echo), goes to the app unchanged, so there is one behaviour, not two.
 * Undefined when there is no in-process tier, or CORS is on (its headers are the app's to add).
 */
export function hotRoutes(deps: Deps, app: App) {
  const { config, cache, metrics } = deps;
  if (!deps.memory.enabled || config.CORS_ORIGINS.length > 0) return undefined;
  const keyPrefix = imageCacheKey(config.CACHE_KEY_PREFIX, "");
  const logRequests = config.ACCESS_LOG;
  // X-Forwarded-For is read only when some proxy is trusted (the resolver ignores it otherwise).
  const readsForwardedFor = config.TRUSTED_PROXIES.length > 0;
  const toApp = (req: Request, server: Server<undefined>) => app.fetch(req, { server });

  return {
    [ROUTE]: {
      GET(req: Request & { params: { id: string } }, server: Server<undefined>): Response | Promise<Response> {
        const startedAt = performance.now();
        const id = req.params.id;
        if (id.length !== 36 || !CANONICAL_ID.test(id) || req.headers.has("x-request-id")) return toApp(req, server);
        const entry = cache.hot<CachedImage>(keyPrefix + id);
        if (!entry) return toApp(req, server);
        metrics.cache.read("l1", "hit");
        let r = entry.rendered as Rendered | undefined;
        if (!r) {
          const body = JSON.stringify(toMetadata(entry.value, config.PUBLIC_URL));
          r = entry.rendered = { body, bytes: Buffer.byteLength(body) };
        }
        const requestId = crypto.randomUUID();
        const res = new Response(r.body, {
          headers: { "Content-Type": "application/json", "X-Cache": "HIT", "Cache-Status": L1_HIT, "X-Request-Id": requestId },
        });
        metrics.request(ROUTE, "GET", 200, (performance.now() - startedAt) / 1000);
        if (logRequests) {
          const forwardedFor = readsForwardedFor ? (req.headers.get("x-forwarded-for") ?? undefined) : undefined;
          const clientIp = deps.clientIp(server.requestIP(req)?.address, forwardedFor);
          logPlainRequest(deps, `/api/v1/images/${id}`, 200, r.bytes, elapsedMs(startedAt), requestId, clientIp);
        }
        return res;
      },
    },
  };
}

export type HotRoutes = ReturnType<typeof hotRoutes>;
