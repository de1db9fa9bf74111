import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { ApiError, toApiError } from "../errors.ts";
import { WEB_ASSET_NAMES, webAssets, type WebAssetName } from "./assets.ts";
import { renderDeletePage } from "./pages/delete.tsx";
import { renderErrorPage } from "./pages/error.tsx";
import { renderImagePage } from "./pages/image.tsx";
import { renderToolsPage, sendSharexConfig, sendUploadScript } from "./pages/tools.tsx";
import { SCRIPT_FILENAME, SHAREX_FILENAME } from "./sharex.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * The pages for people (HTML) and what they load. They are not part of the JSON API and not in
 * the OpenAPI document (test/openapi.test.ts checks the document against every other route);
 * `/` is, as it answers JSON to programs and the upload page to browsers (docs/routes.ts).
 * Account pages (login, register, /me, API keys) join this router.
 */
export const webRoutes = new Hono<AppEnv>()
  .get("/images/:id", (c) => renderImagePage(c, c.req.param("id")))
  .get("/images/:id/delete", (c) => renderDeletePage(c, c.req.param("id")))
  .get("/tools", (c) => renderToolsPage(c))
  .get(`/tools/${SHAREX_FILENAME}`, (c) => sendSharexConfig(c))
  .get(`/tools/${SCRIPT_FILENAME}`, (c) => sendUploadScript(c))
  .get("/assets/:name", async (c) => {
    const name = c.req.param("name");
    if (!(WEB_ASSET_NAMES as string[]).includes(name)) throw new ApiError("NOT_FOUND", `No asset called ${name.slice(0, 64)}`);
    const asset = (await webAssets())[name as WebAssetName];
    const etag = `"${asset.version}"`;
    const headers = {
      "Cache-Control": c.req.query("v") === asset.version ? IMMUTABLE : "no-cache",
      ETag: etag,
      "X-Content-Type-Options": "nosniff",
      "Cross-Origin-Resource-Policy": "same-origin",
    };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(asset.bytes, 200, { ...headers, "Content-Type": asset.type });
  })
  // Errors in words, as a page; the same classification (and logging) as the API's envelope.
  .onError((err, c) => renderErrorPage(c, toApiError(err, c)));
