import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./app-env.ts";
import type { Deps } from "./deps.ts";
import { ApiError, isDatabaseUnavailable } from "./errors.ts";
import { healthRoutes } from "./health/routes.ts";
import { imageRoutes } from "./images/routes.ts";
import { thumbnailRoutes } from "./thumbnails/routes.ts";

/** The HTTP application over already-built dependencies. Tests call `createApp(deps).request(...)`. */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>();

  app.use(requestId({ limitLength: 64 }));
  app.use(async (c, next) => {
    c.set("deps", deps);
    await next();
  });

  app.route("/health", healthRoutes);
  app.route("/api/v1/images", imageRoutes);
  app.route("/api/v1/images", thumbnailRoutes);

  app.notFound((c) => {
    const err = new ApiError("NOT_FOUND", `Route ${c.req.method} ${c.req.path.slice(0, 200)} not found`);
    return c.json(err.body(), err.status);
  });

  app.onError((err, c) => {
    let apiError: ApiError;
    if (err instanceof ApiError) {
      apiError = err;
    } else if (isDatabaseUnavailable(err)) {
      deps.logger.warn("database unavailable", { request_id: c.var.requestId, error: String(err) });
      apiError = new ApiError("SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly", { reason: "database_unavailable" }, { "Retry-After": "1" });
    } else {
      // Never leak a stack or SQL to the client; log it with the request id instead.
      deps.logger.error("unhandled error", {
        request_id: c.var.requestId,
        method: c.req.method,
        path: c.req.path,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
      apiError = new ApiError("INTERNAL_ERROR", "Internal server error", { request_id: c.var.requestId });
    }
    for (const [k, v] of Object.entries(apiError.headers)) c.header(k, v);
    return c.json(apiError.body(), apiError.status);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
