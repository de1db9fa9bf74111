import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";
import { CSRF_HEADER } from "../web/csrf.ts";
import { requestSession, sessionCookieValue } from "../web/session.ts";
import type { Scope } from "./api-keys.ts";
import { ALL_SCOPES, inactive, unauthorized, type Principal } from "./authenticator.ts";

export type AuthRule = {
  /** Without credentials: 401 (true) or anonymous (false). */
  required: boolean;
  /** What an API key must be allowed to do here (a JWT or a session may do everything). */
  scope?: Scope;
  /** Only a signed-in user (a token or a browser session), never an API key: managing keys, administration. */
  tokenOnly?: boolean;
  admin?: boolean;
};

/** The principal the auth middleware resolved; undefined for anonymous requests. */
export const principalOf = (c: { var: { auth: Principal | undefined } }) => c.var.auth;

/**
 * The pages' session, for a request without `Authorization`. A request that comes with the session
 * cookie, or with the CSRF token only a signed-in page sends, acts for that session or not at all:
 * a signed-out, expired or ended session (the page was loaded before, or the browser signed out in
 * another tab) is a 401, never an anonymous upload nobody can delete. The CSRF guard (web/csrf.ts)
 * has already checked the request's origin and token.
 */
async function sessionPrincipal(c: Context<AppEnv>): Promise<Principal | undefined> {
  if (sessionCookieValue(c) === undefined && c.req.header(CSRF_HEADER) === undefined) return undefined;
  const session = await requestSession(c);
  if (!session) throw unauthorized("You are signed out (or your sign-in has expired): sign in again", "invalid_token");
  if (!session.user.isActive) throw inactive();
  return { user: session.user, via: "session", scopes: ALL_SCOPES };
}

/**
 * Authenticates the request (see Authenticator; without `Authorization`, the browser session) and
 * enforces `rule` before the handler or any body is read.
 */
export function auth(rule: AuthRule) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization");
    const principal = (await c.var.deps.accounts.authenticator.authenticate(header)) ?? (header ? undefined : await sessionPrincipal(c));
    c.set("auth", principal);
    if (!principal) {
      if (rule.required) throw unauthorized("Not authenticated");
      return next();
    }
    if (rule.tokenOnly && principal.via === "api_key") {
      throw new ApiError("FORBIDDEN", "This needs a signed-in user's token, not an API key", { required: "user_token" });
    }
    if (rule.scope && !principal.scopes.has(rule.scope)) {
      throw new ApiError("FORBIDDEN", `This API key lacks the '${rule.scope}' scope`, { required_scope: rule.scope });
    }
    if (rule.admin && !principal.user.isAdmin) throw new ApiError("FORBIDDEN", "Only the admin can do this");
    return next();
  });
}
