// Who is signed in, for the pages: the seam the account pages (issue 15, part 2, on issue 12's
// accounts) fill in. Today nobody is: `deps.sessions` is `noSessions`, so every page renders for a
// visitor. The cookie's attributes are fixed here already, so the CSRF guard (csrf.ts) and the
// pages are built for them.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../app-env.ts";
import type { Config } from "../config.ts";

export const SESSION_COOKIE = "chitram_session";

export type SessionUser = { id: string; email: string; isAdmin: boolean };

/**
 * A signed-in browser. `csrfToken` is the session's synchronizer token: the layout puts it in
 * `<meta name="csrf-token">`, page scripts send it as `X-CSRF-Token`, forms as `_csrf`.
 */
export type Session = { user: SessionUser; csrfToken: string };

/** Finds the session a cookie value names: null for unknown, expired or signed-out ones. */
export type SessionReader = (cookieValue: string, c: Context<AppEnv>) => Promise<Session | null>;

/** Until accounts exist no cookie names a session. */
export const noSessions: SessionReader = async () => null;

/** The request's session (looked up once per request), or null for a visitor. */
export async function currentSession(c: Context<AppEnv>): Promise<Session | null> {
  if (c.var.session !== undefined) return c.var.session;
  const value = getCookie(c, SESSION_COOKIE);
  const session = value ? await c.var.deps.sessions(value, c) : null;
  c.set("session", session);
  return session;
}

/**
 * HttpOnly (scripts never see it), Secure when PUBLIC_URL is https (chitram itself speaks plain
 * HTTP behind a TLS proxy, so the request cannot tell), SameSite=Lax (other sites' forms and
 * fetches go without it; following a link to chitram keeps it), scoped to PUBLIC_URL's path.
 */
export function sessionCookieOptions(config: Pick<Config, "PUBLIC_URL">) {
  const url = config.PUBLIC_URL ? new URL(config.PUBLIC_URL) : undefined;
  return {
    httpOnly: true,
    secure: url?.protocol === "https:",
    sameSite: "Lax" as const,
    path: url && url.pathname !== "/" ? url.pathname : "/",
  };
}

export function setSessionCookie(c: Context<AppEnv>, value: string, maxAgeSeconds: number): void {
  setCookie(c, SESSION_COOKIE, value, { ...sessionCookieOptions(c.var.deps.config), maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, sessionCookieOptions(c.var.deps.config));
}
