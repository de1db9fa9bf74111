import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";

const CHECK_TIMEOUT_MS = 2_000;

const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true, () => false), Bun.sleep(ms).then(() => false)]);

export const healthRoutes = new Hono<AppEnv>().get("/", async (c) => {
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
  return c.json(
    {
      status,
      version,
      database: dbUp ? "connected" : "disconnected",
      cache: cacheState,
      invalidations: channel,
      storage: storage.backend,
      storage_status: storageProblem ? "unavailable" : "ok",
      rate_limiter: rateLimiter.state(),
      upload_concurrency: `${uploadSlots.active()}/${uploadSlots.limit} active`,
      // Jobs of the whole fleet (null when the database did not answer); workers of this instance.
      thumbnails: { ...(jobCounts ?? { pending: null, running: null, failed: null }), workers: `${thumbnailPool.active()}/${thumbnailPool.size} active` },
    },
    healthy ? 200 : 503,
  );
});
