import type { Context } from "hono";
import { accepts } from "hono/accepts";
import type { AppEnv } from "../app-env.ts";
import type { Deps } from "../deps.ts";

/** Where the pages live: the path part of PUBLIC_URL (a proxy may mount chitram under one), else the root. */
export function basePath(config: Deps["config"]): string {
  return config.PUBLIC_URL ? new URL(config.PUBLIC_URL).pathname.replace(/\/+$/, "") : "";
}

/**
 * The origin people reach chitram at, for links they copy and for the tool files: PUBLIC_URL
 * when set. Without it, the address the browser used (the request's own Host: a browser cannot
 * be made to send another site's); responses built from it are never stored (`no-store`).
 */
export function publicBase(c: Context<AppEnv>): string {
  return c.var.deps.config.PUBLIC_URL ?? new URL(c.req.url).origin;
}

/** True when the client asks for a page (browsers' Accept) rather than JSON (curl's `*∕*`, programs). */
export function wantsHtml(c: Context<AppEnv>): boolean {
  return accepts(c, { header: "Accept", supports: ["application/json", "text/html"], default: "application/json" }) === "text/html";
}

// With S3_PRESIGNED_DOWNLOADS, /file answers 302 to the object store: images must be allowed to
// load from there (CSP checks the redirect's target too).
const imageOrigins = new WeakMap<Deps, string>();
function extraImageSource(deps: Deps): string {
  let origin = imageOrigins.get(deps);
  if (origin === undefined) {
    origin = "";
    if (deps.config.S3_PRESIGNED_DOWNLOADS && deps.storage.presignedUrl) {
      origin = ` ${new URL(deps.storage.presignedUrl("00000000-0000-0000-0000-000000000000.png", { expiresInSeconds: 1, contentType: "image/png", disposition: "inline" })).origin}`;
    }
    imageOrigins.set(deps, origin);
  }
  return origin;
}

/**
 * The pages' policy: scripts, styles and fetches from this server only, no inline script or
 * style (the pages have none), images from here (and local previews of files being uploaded),
 * no plugins, frames or <base>; DOM sinks that parse HTML from strings are refused too (Trusted
 * Types with no policy: the scripts build nodes, they never assign markup).
 */
export function pageCsp(deps: Deps): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' blob:${extraImageSource(deps)}`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join("; ");
}

/** Headers of every page and tool download. */
export function pageHeaders(deps: Deps): Record<string, string> {
  return {
    "Content-Security-Policy": pageCsp(deps),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    // Pages show who is signed in and carry its CSRF token: never kept by a shared cache.
    "Cache-Control": "no-store",
  };
}

export type PageStatus = 200 | 400 | 401 | 403 | 404 | 405 | 429 | 500 | 503;

/** Sends a rendered page (hono/jsx) with the page headers. */
export async function sendPage(c: Context<AppEnv>, page: unknown, status: PageStatus = 200): Promise<Response> {
  const html = `<!doctype html>${String(await page)}`;
  return c.html(html, status, { ...pageHeaders(c.var.deps), Vary: "Accept, Cookie" });
}
