import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";

/**
 * GET /metrics: Prometheus' text format (this process's metrics, or the whole fleet's with
 * WORKERS > 1). Operational, not part of the JSON API: it is left out of the OpenAPI document
 * (test/openapi.test.ts names it as the one undocumented route), and with METRICS_PORT it is
 * served only on that port.
 */
export const metricsRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const { metrics } = c.var.deps;
  return c.body(await metrics.render(), 200, { "Content-Type": metrics.contentType, "Cache-Control": "no-store" });
});
