import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, errorResponses, requestIdHeader } from "../http/openapi.ts";

const CHECK_TIMEOUT_MS = 2_000;

const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true, () => false), Bun.sleep(ms).then(() => false)]);

const HealthReport = z
  .object({
    status: z.enum(["healthy", "degraded", "unhealthy"]).openapi({
      description: "degraded: served from the database because the cache or the invalidation channel is away; unhealthy: the database or the storage cannot be used",
    }),
    version: z.string().openapi({ example: "0.1.0" }),
    database: z.enum(["connected", "disconnected"]),
    cache: z.enum(["connected", "disconnected", "disabled"]),
    invalidations: z.enum(["live", "down"]).openapi({ description: "whether this instance hears every committed cache invalidation (PostgreSQL LISTEN/NOTIFY)" }),
    storage: z.string().openapi({ example: "local" }),
    storage_status: z.enum(["ok", "unavailable"]).openapi({ description: "unavailable: the storage cannot be written to (gone, read-only, full)" }),
    rate_limiter: z.enum(["redis", "in-process", "disabled"]),
    upload_concurrency: z.string().openapi({ description: "<active>/<limit> active", example: "0/10 active" }),
    thumbnails: z
      .object({
        pending: z.number().int().nullable(),
        running: z.number().int().nullable(),
        failed: z.number().int().nullable(),
        workers: z.string().openapi({ description: "this instance's thumbnail Workers: <active>/<size> active", example: "0/1 active" }),
      })
      .openapi({ description: "Thumbnail jobs of the whole fleet (null when the database did not answer)" }),
  })
  .openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["Operations"],
  summary: "Dependency report",
  responses: {
    200: { description: "Healthy, or degraded (serving without the cache)", headers: requestIdHeader, content: { "application/json": { schema: HealthReport } } },
    503: { description: "Unhealthy: the database or the storage cannot be used", headers: requestIdHeader, content: { "application/json": { schema: HealthReport } } },
    ...errorResponses(),
  },
});

export const healthRoutes = createRouter().openapi(healthRoute, async (c) => {
  const { database, cache, storage, rateLimiter, uploadSlots, invalidations, thumbnailJobs, thumbnailPool, version } = c.var.deps;
  const [dbUp, storageProblem, jobCounts] = await Promise.all([
    within(database.ping(), CHECK_TIMEOUT_MS),
    Promise.race([storage.check(), Bun.sleep(CHECK_TIMEOUT_MS).then(() => "no answer")]),
    Promise.race([thumbnailJobs.counts().catch(() => undefined), Bun.sleep(CHECK_TIMEOUT_MS).then(() => undefined)]),
  ]);
  const cacheState = cache.state();
  const channel = invalidations.channelState();
  // Unhealthy: requests fail (no database, or nowhere to keep bytes). Degraded: everything is
  // answered, from the database, because the cache or the invalidation channel is away.
  const healthy = dbUp && !storageProblem;
  const status = !healthy ? "unhealthy" : cacheState === "disconnected" || channel === "down" ? "degraded" : "healthy";
  c.header("Cache-Control", "no-store");
  const report = {
    status,
    version,
    database: dbUp ? "connected" : "disconnected",
    cache: cacheState,
    invalidations: channel,
    storage: storage.backend,
    storage_status: storageProblem ? "unavailable" : "ok",
    rate_limiter: rateLimiter.state(),
    upload_concurrency: `${uploadSlots.active()}/${uploadSlots.limit} active`,
    thumbnails: { ...(jobCounts ?? { pending: null, running: null, failed: null }), workers: `${thumbnailPool.active()}/${thumbnailPool.size} active` },
  } as const;
  return healthy ? c.json(report, 200) : c.json(report, 503);
});
