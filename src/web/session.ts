// Who is signed in, for the pages and the API routes their scripts call: the session cookie, what
// it names (accounts/sessions.ts), and signing in and out. The CSRF guard (csrf.ts) and the auth
// middleware (accounts/middleware.ts) read the session through here.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CachedUser } from "../accounts/user-cache.ts";
import type { AppEnv } from "../app-env.ts";
import type { Config } from "../config.ts";

export const SESSION_COOKIE = "chitram_session";
/** The name under https at the root: the `__Host-` prefix makes browsers refuse it from sibling subdomains (cookie tossing). */
export const HOST_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export type SessionUser = CachedUser;

/**
 * A session. `csrfToken` is its synchronizer token: the layout puts it in
 * `<meta name="csrf-token">`, page scripts send it as `X-CSRF-Token`, forms as `_csrf`.
 */
export type Session = { user: SessionUser; csrfToken: string };

/** Finds the session a cookie value names, whoever's it is (a deactivated user's too): null for unknown, expired or ended ones. */
export type SessionReader = (cookieValue: string) => Promise<Session | null>;

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

/** `__Host-chitram_session` when the cookie can carry the prefix (Secure, Path=/), else `chitram_session`. */
export function sessionCookieName(config: Pick<Config, "PUBLIC_URL">): string {
  const o = sessionCookieOptions(config);
  return o.secure && o.path === "/" ? HOST_SESSION_COOKIE : SESSION_COOKIE;
}

/** The session cookie's value as sent, or undefined. */
export const sessionCookieValue = (c: Context<AppEnv>) => getCookie(c, sessionCookieName(c.var.deps.config));

/** The session the request's cookie names (looked up once per request), whoever's it is; null: no cookie, or no such session. */
export async function requestSession(c: Context<AppEnv>): Promise<Session | null> {
  if (c.var.session !== undefined) return c.var.session;
  const value = sessionCookieValue(c);
  const session = value ? await c.var.deps.sessions(value) : null;
  c.set("session", session);
  return session;
}

/** The signed-in user's session: null for a visitor, and for a session whose account was deactivated. */
export async function currentSession(c: Context<AppEnv>): Promise<Session | null> {
  const session = await requestSession(c);
  return session?.user.isActive ? session : null;
}

export function setSessionCookie(c: Context<AppEnv>, value: string, maxAgeSeconds: number): void {
  const { config } = c.var.deps;
  setCookie(c, sessionCookieName(config), value, { ...sessionCookieOptions(config), maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  const { config } = c.var.deps;
  const options = sessionCookieOptions(config);
  // hono/cookie checks the prefix's rules on deletion too.
  deleteCookie(c, sessionCookieName(config), options);
}

/**
 * Signs the browser in as `userId`: a new session (a new cookie value on every sign-in, so a value
 * planted before cannot become signed in), ending the one it held before.
 */
export async function signIn(c: Context<AppEnv>, userId: string): Promise<void> {
  const { sessions } = c.var.deps.accounts;
  const previous = sessionCookieValue(c);
  if (previous) await sessions.end(previous);
  const { token, maxAgeSeconds } = await sessions.start(userId);
  setSessionCookie(c, token, maxAgeSeconds);
  c.set("session", null); // this request goes on as it came in; the next one is signed in
}

/** Ends the browser's session on every instance and removes its cookie. */
export async function signOut(c: Context<AppEnv>): Promise<void> {
  const value = sessionCookieValue(c);
  if (value) await c.var.deps.accounts.sessions.end(value);
  clearSessionCookie(c);
  c.set("session", null);
}
