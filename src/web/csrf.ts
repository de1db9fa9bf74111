import { timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";
import { currentSession, SESSION_COOKIE } from "./session.ts";

export const CSRF_HEADER = "X-CSRF-Token";
export const CSRF_FIELD = "_csrf";

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/;
const FORM_TYPE = /^application\/x-www-form-urlencoded\b/i;

/**
 * CSRF protection for whatever a browser authenticates with the session cookie, on every route
 * (pages and API). A request without that cookie carries its credential explicitly (a bearer
 * token, an API key, a delete token in `X-Delete-Token`) or none at all (an anonymous upload):
 * another site has nothing of the victim's to forge with, so it passes untouched.
 *
 * With the cookie, a state-changing request must
 * 1. come from this origin: hono/csrf checks `Sec-Fetch-Site: same-origin` or an `Origin` equal
 *    to PUBLIC_URL's (or the request's) origin, for the content types a cross-site form or
 *    no-preflight fetch can send (others need a CORS preflight, which never allows credentials);
 * 2. carry the session's token, as the `X-CSRF-Token` header or, from a plain form, an `_csrf`
 *    field — the synchronizer token also stops same-site attackers (a sibling subdomain) that
 *    SameSite=Lax lets through.
 * The cookie is SameSite=Lax as well, so most cross-site requests arrive without it anyway.
 */
export function csrfGuard() {
  let sameOrigin: ReturnType<typeof csrf> | undefined;
  return createMiddleware<AppEnv>(async (c, next) => {
    if (SAFE_METHOD.test(c.req.method) || getCookie(c, SESSION_COOKIE) === undefined) return next();
    const publicOrigin = c.var.deps.config.PUBLIC_URL ? new URL(c.var.deps.config.PUBLIC_URL).origin : undefined;
    sameOrigin ??= csrf(publicOrigin ? { origin: publicOrigin } : {});
    try {
      await sameOrigin(c, async () => {});
    } catch (err) {
      if (err instanceof HTTPException) throw new ApiError("FORBIDDEN", "Refused: this request came from another site", { reason: "csrf_origin" });
      throw err;
    }
    const session = await currentSession(c);
    if (session && !tokenMatches(await sentToken(c), session.csrfToken)) {
      throw new ApiError("FORBIDDEN", "Refused: the page's security token is missing or out of date; reload the page and try again", { reason: "csrf_token" });
    }
    return next();
  });
}

async function sentToken(c: Context<AppEnv>): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  // Only small url-encoded forms are read here (Hono keeps the parsed body for the handler);
  // uploads and fetches send the header.
  if (!FORM_TYPE.test(c.req.header("content-type") ?? "")) return undefined;
  const field = (await c.req.parseBody())[CSRF_FIELD];
  return typeof field === "string" ? field : undefined;
}

function tokenMatches(sent: string | undefined, expected: string): boolean {
  if (!sent) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
