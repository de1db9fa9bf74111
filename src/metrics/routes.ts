import { Hono } from "hono";
import type { Config } from "../config.ts";
import { StartupError } from "../startup-error.ts";
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

/**
 * /metrics alone on METRICS_PORT (same HOST), so it need not be public: `render` gives this
 * process's metrics, or with WORKERS > 1 the supervisor's sum of every worker's. Throws a
 * StartupError (one line) when the port cannot be bound.
 */
export function listenMetrics(config: Pick<Config, "HOST" | "METRICS_PORT">, render: () => Promise<string>, contentType: string) {
  try {
    return Bun.serve({
      port: config.METRICS_PORT,
      hostname: config.HOST,
      routes: { "/metrics": async () => new Response(await render(), { headers: { "Content-Type": contentType, "Cache-Control": "no-store" } }) },
      fetch: () => new Response("not found\n", { status: 404 }),
    });
  } catch (err) {
    throw new StartupError(`cannot listen on ${config.HOST}:${config.METRICS_PORT} for METRICS_PORT: ${(err as Error).message.split("\n")[0]}`);
  }
}
