import { timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { csrf } from "hono/csrf";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";
import { MAX_SMALL_BODY_BYTES } from "../http/body-limit.ts";
import { requestSession, sessionCookieValue } from "./session.ts";

export const CSRF_HEADER = "X-CSRF-Token";
export const CSRF_FIELD = "_csrf";

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/;
const FORM_TYPE = /^application\/x-www-form-urlencoded\b/i;

// hono/csrf: `Sec-Fetch-Site: same-origin`, or an `Origin` equal to PUBLIC_URL's (or the
// request's own) origin, for the bodies a cross-site form or no-preflight fetch can send.
const originChecks = new WeakMap<object, ReturnType<typeof csrf>>();
async function checkOrigin(c: Context<AppEnv>): Promise<void> {
  const { config } = c.var.deps;
  let check = originChecks.get(config);
  if (!check) {
    check = csrf(config.PUBLIC_URL ? { origin: new URL(config.PUBLIC_URL).origin } : {});
    originChecks.set(config, check);
  }
  try {
    await check(c, async () => {});
  } catch (err) {
    if (err instanceof HTTPException) throw new ApiError("FORBIDDEN", "Refused: this request came from another site. Nothing was changed.", { reason: "csrf_origin" });
    throw err;
  }
}

/**
 * CSRF protection for whatever a browser authenticates with the session cookie, on every route
 * (pages and API). A request without that cookie carries its credential explicitly (a bearer
 * token, an API key, a delete token in `X-Delete-Token`) or none at all (an anonymous upload):
 * another site has nothing of the victim's to forge with, so it passes untouched.
 *
 * With the cookie, a state-changing request must
 * 1. come from this origin (`checkOrigin`; other bodies need a CORS preflight, which never allows
 *    credentials here);
 * 2. carry the session's token, as the `X-CSRF-Token` header or, from a plain form, an `_csrf`
 *    field — the synchronizer token also stops same-site attackers (a sibling subdomain) that
 *    SameSite=Lax lets through.
 * A cookie that names no (active) session acts for nobody: the origin is checked, and the auth
 * middleware refuses it wherever credentials count (accounts/middleware.ts).
 */
export function csrfGuard() {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (SAFE_METHOD.test(c.req.method) || sessionCookieValue(c) === undefined) return next();
    await checkOrigin(c);
    const session = await requestSession(c);
    if (session && !tokenMatches(await sentToken(c), session.csrfToken)) {
      throw new ApiError("FORBIDDEN", "Refused: the page's security token is missing or out of date. Nothing was changed; reload the page and try again.", { reason: "csrf_token" });
    }
    return next();
  });
}

/**
 * The pages' own forms (sign in, register, sign out, the tool downloads) come from this origin,
 * with or without a session: another site cannot sign a visitor in to an account of its choosing
 * (login CSRF), nor out.
 */
export const sameOriginForm = createMiddleware<AppEnv>(async (c, next) => {
  await checkOrigin(c);
  return next();
});

async function sentToken(c: Context<AppEnv>): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  // Only small url-encoded forms with a declared length are read here (Hono keeps the parsed body
  // for the handler); uploads and fetches send the header.
  if (!FORM_TYPE.test(c.req.header("content-type") ?? "")) return undefined;
  const length = Number(c.req.header("content-length") ?? Number.NaN);
  if (!(length >= 0 && length <= MAX_SMALL_BODY_BYTES)) return undefined;
  const field = (await c.req.parseBody())[CSRF_FIELD];
  return typeof field === "string" ? field : undefined;
}

function tokenMatches(sent: string | undefined, expected: string): boolean {
  if (!sent) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
