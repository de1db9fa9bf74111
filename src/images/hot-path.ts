import type { Server } from "bun";
import type { App } from "../app.ts";
import type { Deps } from "../deps.ts";
import { apiErrorOf, imageNotFound } from "../errors.ts";
import { cacheStatusHeader, L1_HIT } from "../http/cache-status.ts";
import { bodyBytes, elapsedMs, logPlainRequest } from "../http/request-log.ts";
import { imageCacheKey, type CachedImage } from "./image-cache.ts";
import { toMetadata } from "./schemas.ts";
import { serveFile } from "./serve-file.ts";
import { CANONICAL_UUID } from "../untrusted.ts";

const METADATA_ROUTE = "/api/v1/images/:id";
const FILE_ROUTE = "/api/v1/images/:id/file";

/** The metadata response of an in-process entry, rendered once per entry (it dies with the entry). */
type Rendered = { body: string; bytes: number };

type HotRequest = Request & { params: { id: string } };

/**
 * Bun's own router in front of the app for the two hottest requests, `GET /api/v1/images/{id}`
 * and `GET /api/v1/images/{id}/file`: they need none of the app's middleware (no auth, no CSRF,
 * no body), which cost more than the request itself. The answer is the one the app gives (the
 * same handler code for the file, the same body and headers for the metadata, a fresh
 * `X-Request-Id`, the same access-log line and request metrics); an in-process hit's metadata is
 * prepared when the entry is first served and sent as it is. A request that is not plain (a
 * non-canonical id, an `X-Request-Id` to echo, HEAD or any other method) goes to the app
 * unchanged, so there is one behaviour, not two. Undefined when CORS is on (its headers are the
 * app's to add).
 */
export function hotRoutes(deps: Deps, app: App) {
  const { config, cache, metrics, images, memory } = deps;
  if (config.CORS_ORIGINS.length > 0) return undefined;
  const keyPrefix = imageCacheKey(config.CACHE_KEY_PREFIX, "");
  const logRequests = config.ACCESS_LOG;
  // X-Forwarded-For is read only when some proxy is trusted (the resolver ignores it otherwise).
  const readsForwardedFor = config.TRUSTED_PROXIES.length > 0;
  const toApp = (req: Request, server: Server<undefined>) => app.fetch(req, { server });
  const plain = (req: HotRequest) => {
    const id = req.params.id;
    return id.length === 36 && CANONICAL_UUID.test(id) && !req.headers.has("x-request-id");
  };

  /** Counts a finished request and writes its access-log line, as the app's requestContext does. */
  const finished = (req: HotRequest, server: Server<undefined>, route: string, path: string, status: number, bytes: number, startedAt: number, requestId: string) => {
    metrics.request(route, "GET", status, (performance.now() - startedAt) / 1000);
    if (!logRequests) return;
    const forwardedFor = readsForwardedFor ? (req.headers.get("x-forwarded-for") ?? undefined) : undefined;
    const clientIp = deps.clientIp(server.requestIP(req)?.address, forwardedFor);
    logPlainRequest(deps, path, status, bytes, elapsedMs(startedAt), requestId, clientIp);
  };

  /** The error envelope the app's onError renders, with the headers already decided. */
  const failed = (err: unknown, path: string, requestId: string, headers: Record<string, string>) => {
    const apiError = apiErrorOf(err instanceof Error ? err : new Error(String(err)), deps.logger, { requestId, method: "GET", path });
    const body = JSON.stringify(apiError.body());
    return { res: new Response(body, { status: apiError.status, headers: { ...headers, ...apiError.headers, "Content-Type": "application/json" } }), bytes: Buffer.byteLength(body) };
  };

  return {
    [METADATA_ROUTE]: {
      GET(req: HotRequest, server: Server<undefined>): Response | Promise<Response> {
        const startedAt = performance.now();
        if (!plain(req)) return toApp(req, server);
        const id = req.params.id;
        const path = `/api/v1/images/${id}`;
        const requestId = crypto.randomUUID();
        const entry = cache.hot<CachedImage>(keyPrefix + id);
        if (entry) {
          metrics.cache.read("l1", "hit");
          let r = entry.rendered as Rendered | undefined;
          if (!r) {
            const body = JSON.stringify(toMetadata(entry.value, config.PUBLIC_URL));
            r = entry.rendered = { body, bytes: Buffer.byteLength(body) };
          }
          const res = new Response(r.body, {
            headers: { "Content-Type": "application/json", "X-Cache": "HIT", "Cache-Status": L1_HIT, "X-Request-Id": requestId },
          });
          finished(req, server, METADATA_ROUTE, path, 200, r.bytes, startedAt, requestId);
          return res;
        }
        return images.get(id).then(
          ({ row, status, read }) => {
            const headers = { "X-Cache": status, "Cache-Status": cacheStatusHeader(read, memory.enabled, config.CACHE_ENABLED), "X-Request-Id": requestId };
            let answer: { res: Response; bytes: number };
            if (row) {
              const body = JSON.stringify(toMetadata(row, config.PUBLIC_URL));
              answer = { res: new Response(body, { headers: { ...headers, "Content-Type": "application/json" } }), bytes: Buffer.byteLength(body) };
            } else answer = failed(imageNotFound(id), path, requestId, headers);
            finished(req, server, METADATA_ROUTE, path, answer.res.status, answer.bytes, startedAt, requestId);
            return answer.res;
          },
          (err) => {
            const { res, bytes } = failed(err, path, requestId, { "X-Request-Id": requestId });
            finished(req, server, METADATA_ROUTE, path, res.status, bytes, startedAt, requestId);
            return res;
          },
        );
      },
    },
    [FILE_ROUTE]: {
      GET(req: HotRequest, server: Server<undefined>): Response | Promise<Response> {
        const startedAt = performance.now();
        if (!plain(req)) return toApp(req, server);
        const id = req.params.id;
        const path = `/api/v1/images/${id}/file`;
        const requestId = crypto.randomUUID();
        return serveFile(deps, req, id).then(
          async (res) => {
            res.headers.set("X-Request-Id", requestId);
            finished(req, server, FILE_ROUTE, path, res.status, logRequests ? await bodyBytes(res) : 0, startedAt, requestId);
            return res;
          },
          (err) => {
            const { res, bytes } = failed(err, path, requestId, { "X-Request-Id": requestId });
            finished(req, server, FILE_ROUTE, path, res.status, bytes, startedAt, requestId);
            return res;
          },
        );
      },
    },
  };
}

export type HotRoutes = ReturnType<typeof hotRoutes>;
