import type { Context } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./app-env.ts";
import type { Deps } from "./deps.ts";
import { docsRoutes } from "./docs/routes.ts";
import { ApiError, fromHttpException, isDatabaseUnavailable } from "./errors.ts";
import { healthRoutes } from "./health/routes.ts";
import { methodGuard } from "./http/method-guard.ts";
import { createRouter, ErrorEnvelope } from "./http/openapi.ts";
import { requestContext } from "./http/request-log.ts";
import { imageRoutes } from "./images/routes.ts";
import { metricsRoutes } from "./metrics/routes.ts";
import { thumbnailRoutes } from "./thumbnails/routes.ts";

// What a browser on another origin may send and read (CORS_ORIGINS).
const CORS_ALLOW_HEADERS = ["Content-Type", "X-Delete-Token", "X-Request-Id", "Range", "If-None-Match", "If-Range"];
const CORS_EXPOSE_HEADERS = [
  "Location", "X-Request-Id", "X-Cache", "Cache-Status", "ETag", "Content-Disposition", "Content-Range", "Accept-Ranges", "Retry-After", "Allow",
  "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
];

/** The HTTP application over already-built dependencies. Tests call `createApp(deps).request(...)`. */
export function createApp(deps: Deps) {
  const { config } = deps;
  // strict: false — a trailing slash names the same resource as none (c.req.path has it trimmed).
  const app = createRouter({ strict: false });

  app.use(requestId({ limitLength: 64 }));
  app.use(requestContext(deps));
  if (config.CORS_ORIGINS.length > 0) {
    app.use(
      cors({
        origin: config.CORS_ORIGINS.includes("*") ? "*" : config.CORS_ORIGINS,
        allowMethods: ["GET", "HEAD", "POST", "DELETE"],
        allowHeaders: CORS_ALLOW_HEADERS,
        exposeHeaders: CORS_EXPOSE_HEADERS,
        maxAge: 600,
      }),
    );
  }
  app.use(methodGuard(() => app.routes));

  let document: Record<string, unknown> | undefined;
  app.route("/", docsRoutes({ version: deps.version, publicUrl: config.PUBLIC_URL, document: () => (document ??= openApiDocument()) }));
  app.route("/health", healthRoutes);
  app.route("/api/v1/images", imageRoutes);
  app.route("/api/v1/images", thumbnailRoutes);
  if (config.METRICS_PORT === undefined) app.route("/metrics", metricsRoutes);

  app.openAPIRegistry.register("Error", ErrorEnvelope);
  const openApiDocument = () =>
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "chitram",
        version: deps.version,
        description:
          "Self-hosted image hosting. Every error has one shape, the `Error` schema: `{\"error\": {\"code\", \"message\", \"details\"}}`. " +
          "Every response carries `X-Request-Id`. A known path with a wrong method is 405 METHOD_NOT_ALLOWED with `Allow`; " +
          "an unknown path is 404 NOT_FOUND. HEAD works wherever GET does. A trailing slash is ignored.",
        license: { name: "MIT" },
      },
      ...(config.PUBLIC_URL ? { servers: [{ url: config.PUBLIC_URL }] } : {}),
      tags: [
        { name: "Images", description: "Upload, read and delete images" },
        { name: "Operations", description: "Health" },
        { name: "Documentation", description: "This document and its interactive page" },
      ],
    }) as unknown as Record<string, unknown>;

  app.notFound((c) => {
    // No method in the message: HEAD must answer with GET's Content-Length.
    const err = new ApiError("NOT_FOUND", `No route matches ${c.req.path.slice(0, 200)}`);
    return c.json(err.body(), err.status);
  });

  app.onError((err, c) => renderError(err, c, deps));

  return app;
}

function renderError(err: Error, c: Context<AppEnv>, deps: Deps) {
  let apiError: ApiError;
  if (err instanceof ApiError) {
    apiError = err;
  } else if (isDatabaseUnavailable(err)) {
    deps.logger.warn("database unavailable", { request_id: c.var.requestId, error: String(err) });
    apiError = new ApiError("SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly", { reason: "database_unavailable" }, { "Retry-After": "1" });
  } else if (err instanceof HTTPException && err.status < 500) {
    apiError = fromHttpException(err);
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
  if (apiError.code === "RATE_LIMIT_EXCEEDED") deps.metrics.rateLimited(c.req.routePath);
  if (c.req.method === "POST" && c.req.routePath === UPLOAD_ROUTE) {
    // SERVICE_UNAVAILABLE names a reason of a fixed few (slots, storage, database); other details are free text.
    const reason = apiError.code === "SERVICE_UNAVAILABLE" ? apiError.details.reason : undefined;
    deps.metrics.uploadRefused(typeof reason === "string" ? `${apiError.code}:${reason}` : apiError.code);
  }
  for (const [k, v] of Object.entries(apiError.headers)) c.header(k, v);
  return c.json(apiError.body(), apiError.status);
}

const UPLOAD_ROUTE = "/api/v1/images/upload";

export type App = ReturnType<typeof createApp>;
