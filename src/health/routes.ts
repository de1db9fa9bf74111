import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, errorResponses, requestIdHeader } from "../http/openapi.ts";

const DB_PING_TIMEOUT_MS = 2_000;

const HealthReport = z
  .object({
    status: z.enum(["healthy", "degraded", "unhealthy"]).openapi({ description: "degraded: only the cache is down; unhealthy: the database is down" }),
    version: z.string().openapi({ example: "0.1.0" }),
    database: z.enum(["connected", "disconnected"]),
    cache: z.enum(["connected", "disconnected", "disabled"]),
    storage: z.string().openapi({ example: "local" }),
    rate_limiter: z.enum(["redis", "in-process", "disabled"]),
    upload_concurrency: z.string().openapi({ description: "<active>/<limit> active", example: "0/10 active" }),
  })
  .openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["Operations"],
  summary: "Dependency report",
  responses: {
    200: { description: "Healthy, or degraded (serving without the cache)", headers: requestIdHeader, content: { "application/json": { schema: HealthReport } } },
    503: { description: "Unhealthy: the database is unreachable", headers: requestIdHeader, content: { "application/json": { schema: HealthReport } } },
    ...errorResponses(),
  },
});

export const healthRoutes = createRouter().openapi(healthRoute, async (c) => {
  const { database, cache, storage, rateLimiter, uploadSlots, version } = c.var.deps;
  const dbUp = await Promise.race([
    database.ping().then(() => true, () => false),
    Bun.sleep(DB_PING_TIMEOUT_MS).then(() => false),
  ]);
  const cacheState = cache.state();
  const status = !dbUp ? "unhealthy" : cacheState === "disconnected" ? "degraded" : "healthy";
  c.header("Cache-Control", "no-store");
  const report = {
    status,
    version,
    database: dbUp ? "connected" : "disconnected",
    cache: cacheState,
    storage: storage.backend,
    rate_limiter: rateLimiter.state(),
    upload_concurrency: `${uploadSlots.active()}/${uploadSlots.limit} active`,
  } as const;
  return dbUp ? c.json(report, 200) : c.json(report, 503);
});
