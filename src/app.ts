import type { Context } from "hono";
import { cors } from "hono/cors";
import { adminRoutes } from "./accounts/admin-routes.ts";
import { apiKeyRoutes } from "./accounts/api-key-routes.ts";
import { authRoutes } from "./accounts/routes.ts";
import type { AppEnv } from "./app-env.ts";
import type { Deps } from "./deps.ts";
import { docsRoutes } from "./docs/routes.ts";
import { ApiError, toApiError } from "./errors.ts";
import { healthRoutes } from "./health/routes.ts";
import { createMethodGuard } from "./http/method-guard.ts";
import { createRouter, ErrorEnvelope } from "./http/openapi.ts";
import { requestContext } from "./http/request-log.ts";
import { imageRoutes } from "./images/routes.ts";
import { tagRoutes } from "./tags/routes.ts";
import { metricsRoutes } from "./metrics/routes.ts";
import { thumbnailRoutes } from "./thumbnails/routes.ts";
import { csrfGuard } from "./web/csrf.ts";
import { renderErrorPage } from "./web/pages/error.tsx";
import { renderUploadPage } from "./web/pages/upload.tsx";
import { wantsHtml } from "./web/render.ts";
import { webRoutes } from "./web/routes.ts";

// What a browser on another origin may send and read (CORS_ORIGINS).
const CORS_ALLOW_HEADERS = ["Content-Type", "Authorization", "X-Delete-Token", "X-Request-Id", "Range", "If-None-Match", "If-Range"];
const CORS_EXPOSE_HEADERS = [
  "Location", "X-Request-Id", "X-Cache", "Cache-Status", "ETag", "Content-Disposition", "Content-Range", "Accept-Ranges", "Retry-After", "Allow", "WWW-Authenticate",
  "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
];

/** The HTTP application over already-built dependencies. Tests call `createApp(deps).request(...)`. */
export function createApp(deps: Deps) {
  const { config } = deps;
  // strict: false — a trailing slash names the same resource as none (c.req.path has it trimmed).
  const app = createRouter({ strict: false });

  app.use(requestContext(deps));
  if (config.CORS_ORIGINS.length > 0) {
    app.use(
      cors({
        origin: config.CORS_ORIGINS.includes("*") ? "*" : config.CORS_ORIGINS,
        allowMethods: ["GET", "HEAD", "POST", "PATCH", "DELETE"],
        allowHeaders: CORS_ALLOW_HEADERS,
        exposeHeaders: CORS_EXPOSE_HEADERS,
        maxAge: 600,
      }),
    );
  }
  const methods = createMethodGuard(() => app.routes);
  app.use(methods.middleware);
  app.use(csrfGuard());

  let document: Record<string, unknown> | undefined;
  app.route(
    "/",
    docsRoutes({ version: deps.version, publicUrl: config.PUBLIC_URL, document: () => (document ??= openApiDocument()), uploadPage: renderUploadPage }),
  );
  app.route("/health", healthRoutes);
  app.route("/api/v1/images", imageRoutes);
  app.route("/api/v1/images", thumbnailRoutes);
  app.route("/api/v1", tagRoutes);
  app.route("/api/v1/auth", authRoutes);
  app.route("/api/v1/api-keys", apiKeyRoutes);
  app.route("/api/v1/admin", adminRoutes);
  app.route("/", webRoutes);
  if (config.METRICS_PORT === undefined) app.route("/metrics", metricsRoutes);

  app.openAPIRegistry.register("Error", ErrorEnvelope);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "A JWT from /api/v1/auth/login, /register or /token, or an API key (`chk_…`, limited to its scopes)",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "password", {
    type: "oauth2",
    description: "Sign in with email and password (what Swagger UI's Authorize uses)",
    flows: { password: { tokenUrl: `${config.PUBLIC_URL ?? ""}/api/v1/auth/token`, scopes: {} } },
  });
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
        { name: "Images", description: "Upload, read, list and delete images" },
        { name: "Tags", description: "Tag images; browse and search tags" },
        { name: "Accounts", description: "Register, sign in, the signed-in user" },
        { name: "API keys", description: "Keys for scripts and ShareX, limited to scopes" },
        { name: "Admin", description: "Accounts, for the admin" },
        { name: "Operations", description: "Health" },
        { name: "Documentation", description: "This document and its interactive page" },
      ],
    }) as unknown as Record<string, unknown>;

  app.notFound((c) => {
    const wrongMethod = methods.notFound(c);
    if (wrongMethod) return wrongMethod;
    // A browser that followed a wrong link gets a page in words; the API's paths stay JSON.
    if (wantsErrorPage(c)) return renderErrorPage(c, new ApiError("NOT_FOUND", "No page here"));
    // No method in the message: HEAD must answer with GET's Content-Length.
    const err = new ApiError("NOT_FOUND", `No route matches ${c.req.path.slice(0, 200)}`);
    return c.json(err.body(), err.status);
  });

  app.onError((err, c) => renderError(err, c, deps));

  return app;
}

/** A browser outside the API reads errors as a page in words; the API's paths always answer JSON. */
const wantsErrorPage = (c: Context<AppEnv>) => !c.req.path.startsWith("/api/") && wantsHtml(c);

function renderError(err: Error, c: Context<AppEnv>, deps: Deps) {
  const apiError = toApiError(err, c);
  if (apiError.code === "RATE_LIMIT_EXCEEDED") deps.metrics.rateLimited(c.req.routePath);
  if (c.req.method === "POST" && c.req.routePath === UPLOAD_ROUTE) {
    // SERVICE_UNAVAILABLE names a reason of a fixed few (slots, storage, database); other details are free text.
    const reason = apiError.code === "SERVICE_UNAVAILABLE" ? apiError.details.reason : undefined;
    deps.metrics.uploadRefused(typeof reason === "string" ? `${apiError.code}:${reason}` : apiError.code);
  }
  // A browser outside the API (a wrong method on a page, a refused form) reads words, not JSON.
  if (wantsErrorPage(c)) return renderErrorPage(c, apiError);
  for (const [k, v] of Object.entries(apiError.headers)) c.header(k, v);
  // Every 401 tells the client how to authenticate (RFC 9110 requires the challenge).
  if (apiError.status === 401 && !apiError.headers["WWW-Authenticate"]) c.header("WWW-Authenticate", "Bearer");
  return c.json(apiError.body(), apiError.status);
}

const UPLOAD_ROUTE = "/api/v1/images/upload";

export type App = ReturnType<typeof createApp>;
