import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";

const DB_PING_TIMEOUT_MS = 2_000;

export const healthRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const { database, cache, storage, rateLimiter, uploadSlots, version } = c.var.deps;
  const dbUp = await Promise.race([
    database.ping().then(() => true, () => false),
    Bun.sleep(DB_PING_TIMEOUT_MS).then(() => false),
  ]);
  const cacheState = cache.state();
  const status = !dbUp ? "unhealthy" : cacheState === "disconnected" ? "degraded" : "healthy";
  c.header("Cache-Control", "no-store");
  return c.json(
    {
      status,
      version,
      database: dbUp ? "connected" : "disconnected",
      cache: cacheState,
      storage: storage.backend,
      rate_limiter: rateLimiter.state(),
      upload_concurrency: `${uploadSlots.active()}/${uploadSlots.limit} active`,
    },
    dbUp ? 200 : 503,
  );
});
