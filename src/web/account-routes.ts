// Signing in, registering and signing out from the pages: plain HTML forms (they work without
// JavaScript), answered with a redirect (303) once the session cookie is set, or with the form
// again and what went wrong in words. The rules are the API's own (accounts/service.ts: the same
// answer for an unknown email and a wrong password, the same sign-in limits).
import type { Context } from "hono";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { Email, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from "../accounts/schemas.ts";
import { ApiError } from "../errors.ts";
import { smallBody } from "../http/body-limit.ts";
import { clientOf } from "../http/client-ip.ts";
import { sameOriginForm } from "./csrf.ts";
import { renderLoginPage, renderRegisterPage, type FormState } from "./pages/sign-in.tsx";
import { basePath, type PageStatus } from "./render.ts";
import { currentSession, signIn, signOut } from "./session.ts";

// A path of this site, with its query: the only places a sign-in sends the browser on to.
const LOCAL_PATH = /^\/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const MAX_NEXT_CHARS = 512;

/** Where to go after signing in: `raw` if it is a page of this site (under its base), else undefined. */
export function safeNext(raw: unknown, base: string): string | undefined {
  if (typeof raw !== "string" || raw.length > MAX_NEXT_CHARS || !LOCAL_PATH.test(raw)) return undefined;
  if (!raw.startsWith(`${base}/`) || /^\/(login|register|logout)\b/.test(raw.slice(base.length))) return undefined;
  return raw;
}

/** A 303 to a page of this site, never stored by a cache (it may set or clear the session cookie). */
const seeOther = (c: Context<AppEnv>, location: string) => {
  c.header("Cache-Control", "no-store");
  return c.redirect(location, 303);
};

const text = (v: unknown) => (typeof v === "string" ? v : "");

/** The API's refusals, in words, for the forms (anything else is an error page). */
function formError(err: unknown): { error: string; status: PageStatus; field?: "email" | "password" } | undefined {
  if (!(err instanceof ApiError)) return undefined;
  switch (err.code) {
    case "INVALID_CREDENTIALS":
      return { error: "The email or the password is not right. Check both and try again.", status: 401 };
    case "USER_INACTIVE":
      return { error: "This account has been deactivated by the server's admin.", status: 401 };
    case "EMAIL_EXISTS":
      return { error: "There is already an account with this email. Sign in instead, or use another email.", status: 400, field: "email" };
    case "REGISTRATION_CLOSED":
      return { error: "Registration is closed on this server.", status: 403 };
    case "RATE_LIMIT_EXCEEDED":
      return { error: `Too many attempts. Wait ${err.details.retry_after ?? "a few"} seconds, then try again.`, status: 429 };
    case "SERVICE_UNAVAILABLE":
      return { error: "The server is busy or briefly unavailable. Try again in a moment.", status: 503 };
    default:
      return undefined;
  }
}

type Form = { email: string; password: string; next: string | undefined };

async function readForm(c: Context<AppEnv>): Promise<Form> {
  const body = await c.req.parseBody();
  return { email: text(body.email).trim(), password: text(body.password), next: safeNext(body.next, basePath(c.var.deps.config)) };
}

/**
 * Runs a sign-in or registration: on success the browser is signed in and sent on; a refusal the
 * form can explain renders the form again (with the email kept and the status of the API's answer).
 */
async function attempt(
  c: Context<AppEnv>,
  form: Form,
  render: typeof renderLoginPage,
  run: (email: string) => Promise<{ id: string }>,
  after: string,
): Promise<Response> {
  try {
    await c.var.deps.accounts.loginLimits.checkClient(clientOf(c));
    const email = Email.safeParse(form.email);
    if (!email.success) return render(c, { ...form, error: "Enter your email address, like ann@example.com.", field: "email" }, 400);
    const user = await run(email.data);
    await signIn(c, user.id);
    return seeOther(c, form.next ?? after);
  } catch (err) {
    const refusal = formError(err);
    if (!refusal) throw err;
    for (const [k, v] of Object.entries((err as ApiError).headers)) if (k !== "WWW-Authenticate") c.header(k, v);
    return render(c, { email: form.email, next: form.next, error: refusal.error, field: refusal.field }, refusal.status);
  }
}

/** /login, /register and /logout. Mounted by the web router. */
export const accountRoutes = new Hono<AppEnv>()
  .get("/login", async (c) => {
    const next = safeNext(c.req.query("next"), basePath(c.var.deps.config));
    if (await currentSession(c)) return seeOther(c, next ?? `${basePath(c.var.deps.config)}/me`);
    const notice = c.req.query("signed_out") !== undefined ? "You have signed out." : next ? "Sign in to go on to that page." : undefined;
    return renderLoginPage(c, { next, notice });
  })

  .post("/login", sameOriginForm, smallBody, async (c) => {
    const form = await readForm(c);
    const { accounts } = c.var.deps;
    return attempt(
      c,
      form,
      renderLoginPage,
      async (email) => {
        if (!form.password || form.password.length > MAX_PASSWORD_CHARS) throw new ApiError("INVALID_CREDENTIALS", "Invalid email or password");
        await accounts.loginLimits.checkAccount(email);
        return accounts.service.checkPassword(email, form.password);
      },
      `${basePath(c.var.deps.config)}/me`,
    );
  })

  .get("/register", async (c) => {
    const next = safeNext(c.req.query("next"), basePath(c.var.deps.config));
    if (await currentSession(c)) return seeOther(c, next ?? `${basePath(c.var.deps.config)}/`);
    return renderRegisterPage(c, { next });
  })

  .post("/register", sameOriginForm, smallBody, async (c) => {
    const form = await readForm(c);
    if (form.password.length < MIN_PASSWORD_CHARS || form.password.length > MAX_PASSWORD_CHARS) {
      return renderRegisterPage(c, { email: form.email, next: form.next, error: `Choose a password of ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters.`, field: "password" }, 400);
    }
    // New accounts start on the upload page: there is nothing under My images yet.
    return attempt(c, form, renderRegisterPage, (email) => c.var.deps.accounts.service.createAccount(email, form.password), `${basePath(c.var.deps.config)}/`);
  })

  // The CSRF guard has checked the form's token when the cookie names a session.
  .post("/logout", sameOriginForm, async (c) => {
    await signOut(c);
    return seeOther(c, `${basePath(c.var.deps.config)}/login?signed_out`);
  });
