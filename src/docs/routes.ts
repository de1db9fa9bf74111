import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { wantsHtml } from "../web/render.ts";
import { createRouter, errorResponses, requestIdHeader } from "../http/openapi.ts";
import { DOCS_ASSETS, DOCS_CSP, docsPage, type DocsAsset } from "./assets.ts";

const ASSET_NAMES = Object.keys(DOCS_ASSETS) as [DocsAsset, ...DocsAsset[]];

const ApiIndex = z
  .object({
    name: z.literal("chitram"),
    version: z.string(),
    docs: z.string().openapi({ description: "The interactive API reference", example: "/docs" }),
    openapi: z.string().openapi({ example: "/openapi.json" }),
    health: z.string().openapi({ example: "/health" }),
  })
  .openapi("ApiIndex");

const indexRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["Documentation"],
  summary: "Where things are (JSON), or the upload page (browsers)",
  description:
    "Content-negotiated: a client whose `Accept` prefers `text/html` (a browser) gets the upload page; everything else, " +
    "`*/*` and no `Accept` included, gets the JSON index. The other web pages (`/images/{id}`, `/tools`, …) are for people and not part of this document.",
  responses: {
    200: {
      description: "Links to the documentation, the OpenAPI document and the health report; or the upload page",
      headers: requestIdHeader.extend({ Vary: z.string().openapi({ description: "Accept (and Cookie for the page)", example: "Accept" }) }),
      content: { "application/json": { schema: ApiIndex }, "text/html": { schema: z.string() } },
    },
    ...errorResponses(),
  },
});

const openapiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["Documentation"],
  summary: "This OpenAPI 3.1 document",
  description: "Generated from the zod schemas the routes validate with.",
  responses: {
    200: {
      description: "The document",
      headers: requestIdHeader,
      content: { "application/json": { schema: z.record(z.string(), z.unknown()).openapi({ description: "An OpenAPI 3.1 document" }) } },
    },
    ...errorResponses(),
  },
});

const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Documentation"],
  summary: "Interactive API reference",
  description: "Swagger UI, served from this server with its assets embedded: it works offline and references no other host.",
  responses: {
    200: { description: "An HTML page", headers: requestIdHeader, content: { "text/html": { schema: z.string() } } },
    ...errorResponses(),
  },
});

const assetRoute = createRoute({
  method: "get",
  path: "/docs/{asset}",
  tags: ["Documentation"],
  summary: "An asset of the docs page",
  request: { params: z.object({ asset: z.enum(ASSET_NAMES).openapi({ param: { name: "asset", in: "path" } }) }) },
  responses: {
    200: {
      description: "The script or style sheet",
      headers: requestIdHeader,
      content: { "text/javascript": { schema: z.string() }, "text/css": { schema: z.string() } },
    },
    ...errorResponses("INVALID_REQUEST"),
  },
});

/**
 * `/` (JSON index, or the upload page for browsers), `/openapi.json`, `/docs` and its assets. `document` builds the OpenAPI document of the
 * whole app (called once, after every route is registered); `publicUrl` prefixes the page's links.
 */
export function docsRoutes(opts: {
  version: string;
  publicUrl: string | undefined;
  document: () => Record<string, unknown>;
  uploadPage: (c: Context<AppEnv>) => Promise<Response>;
}) {
  const base = opts.publicUrl ?? "";
  return createRouter()
    .openapi(indexRoute, async (c) => {
      c.header("Vary", "Accept");
      if (wantsHtml(c)) return (await opts.uploadPage(c)) as never;
      return c.json({ name: "chitram" as const, version: opts.version, docs: `${base}/docs`, openapi: `${base}/openapi.json`, health: `${base}/health` }, 200);
    })
    .openapi(openapiRoute, (c) => c.json(opts.document(), 200))
    .openapi(docsRoute, (c) => c.html(docsPage(base), 200, { "Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache" }))
    .openapi(assetRoute, (c) => {
      const asset = DOCS_ASSETS[c.req.valid("param").asset];
      return new Response(asset.body(), { headers: { "Content-Type": asset.type, "Cache-Control": "public, max-age=3600" } });
    });
}
