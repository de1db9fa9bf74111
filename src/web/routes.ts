import type { Context } from "hono";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { ApiError, toApiError } from "../errors.ts";
import { accountRoutes } from "./account-routes.ts";
import { WEB_ASSET_NAMES, webAssets, type WebAssetName } from "./assets.ts";
import { sameOriginForm } from "./csrf.ts";
import { renderDeletePage } from "./pages/delete.tsx";
import { renderErrorPage } from "./pages/error.tsx";
import { renderGalleryPage } from "./pages/gallery.tsx";
import { renderImagePage } from "./pages/image.tsx";
import { renderKeysPage } from "./pages/keys.tsx";
import { renderToolsPage, sendKeyedTool, sendSharexConfig, sendUploadScript } from "./pages/tools.tsx";
import { basePath } from "./render.ts";
import { currentSession, type Session } from "./session.ts";
import { SCRIPT_FILENAME, SHAREX_FILENAME } from "./sharex.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";

/** A page for the signed-in user: a visitor is sent to sign in, and then back here. */
const signedIn = (render: (c: Context<AppEnv>, session: Session) => Promise<Response>) => async (c: Context<AppEnv>) => {
  const session = await currentSession(c);
  if (session) return render(c, session);
  const base = basePath(c.var.deps.config);
  const here = new URL(c.req.url);
  c.header("Cache-Control", "no-store");
  return c.redirect(`${base}/login?next=${encodeURIComponent(`${base}${here.pathname}${here.search}`)}`, 303);
};

/**
 * The pages for people (HTML) and what they load. They are not part of the JSON API and not in
 * the OpenAPI document (test/openapi.test.ts checks the document against every other route);
 * `/` is, as it answers JSON to programs and the upload page to browsers (docs/routes.ts).
 */
export const webRoutes = new Hono<AppEnv>()
  .route("/", accountRoutes)
  .get("/me", signedIn(renderGalleryPage))
  .get("/keys", signedIn(renderKeysPage))
  .get("/images/:id", (c) => renderImagePage(c, c.req.param("id")))
  .get("/images/:id/delete", (c) => renderDeletePage(c, c.req.param("id")))
  .get("/tools", (c) => renderToolsPage(c))
  // GET: the anonymous files; POST (signed in): the files with a new upload-scoped key.
  .get(`/tools/${SHAREX_FILENAME}`, (c) => sendSharexConfig(c))
  .get(`/tools/${SCRIPT_FILENAME}`, (c) => sendUploadScript(c))
  .post(`/tools/${SHAREX_FILENAME}`, sameOriginForm, (c) => sendKeyedTool(c, SHAREX_FILENAME))
  .post(`/tools/${SCRIPT_FILENAME}`, sameOriginForm, (c) => sendKeyedTool(c, SCRIPT_FILENAME))
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
