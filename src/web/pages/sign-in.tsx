import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from "../../accounts/schemas.ts";
import { Layout, pageContext, type PageContext } from "../layout.tsx";
import { sendPage, type PageStatus } from "../render.ts";

export type FormState = {
  email?: string;
  /** What went wrong, in words; shown above the fields and announced. */
  error?: string;
  /** Which field the error is about (it gets focus and aria-invalid). */
  field?: "email" | "password";
  /** Where to go once signed in (already checked: a path of this site). */
  next?: string;
  notice?: string;
};

const FormError = ({ state }: { state: FormState }) =>
  state.error ? (
    <div class="form-error" id="form-error" role="alert">
      <p>{state.error}</p>
    </div>
  ) : null;

/** The fields both forms share; the password's autocomplete tells password managers which it is. */
const CredentialFields = ({ state, newPassword }: { state: FormState; newPassword: boolean }) => {
  const invalid = (f: "email" | "password") => (state.error && (state.field === f || (!state.field && f === "password")) ? "true" : undefined);
  const describedBy = (f: "email" | "password", hint?: string) => [invalid(f) ? "form-error" : null, hint ?? null].filter(Boolean).join(" ") || undefined;
  // Focus where the person has something to do: the field in error, else the first empty one.
  const focusEmail = state.field === "email" || !state.email;
  return (
    <>
      <div class="field">
        <label for="email">Email</label>
        <input
          id="email"
          name="email"
          type="email"
          inputmode="email"
          autocomplete={newPassword ? "email" : "username"}
          autocapitalize="none"
          spellcheck={false}
          required
          maxlength={254}
          value={state.email ?? ""}
          autofocus={focusEmail}
          aria-invalid={invalid("email")}
          aria-describedby={describedBy("email")}
        />
      </div>
      <div class="field">
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete={newPassword ? "new-password" : "current-password"}
          required
          minlength={newPassword ? MIN_PASSWORD_CHARS : undefined}
          maxlength={MAX_PASSWORD_CHARS}
          autofocus={!focusEmail}
          aria-invalid={invalid("password")}
          aria-describedby={describedBy("password", newPassword ? "password-hint" : undefined)}
        />
        {newPassword ? (
          <p class="hint" id="password-hint">
            {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters. A few words you will remember are better than a short jumble.
          </p>
        ) : null}
      </div>
    </>
  );
};

const NextField = ({ state }: { state: FormState }) => (state.next ? <input type="hidden" name="next" value={state.next} /> : null);

export async function renderLoginPage(c: Context<AppEnv>, state: FormState = {}, status: PageStatus = 200, ctx?: PageContext): Promise<Response> {
  ctx ??= await pageContext(c);
  const { open } = await c.var.deps.accounts.service.registrationOpen();
  const registerHref = `${ctx.base}/register${state.next ? `?next=${encodeURIComponent(state.next)}` : ""}`;
  return sendPage(
    c,
    <Layout ctx={{ ...ctx, signInHref: null }} title="Sign in">
      <div class="account-page">
        <h1>Sign in</h1>
        {state.notice ? (
          <p class="notice" role="status">
            {state.notice}
          </p>
        ) : null}
        <form method="post" action={`${ctx.base}/login`} class="account-form">
          <FormError state={state} />
          <CredentialFields state={state} newPassword={false} />
          <NextField state={state} />
          <div class="actions">
            <button type="submit" class="button primary wide">
              Sign in
            </button>
          </div>
        </form>
        <p class="account-switch">
          {open ? (
            <>
              No account yet? <a href={registerHref}>Create one</a>
            </>
          ) : (
            "This server does not take new accounts; its admin can tell you more."
          )}
        </p>
      </div>
    </Layout>,
    status,
  );
}

export async function renderRegisterPage(c: Context<AppEnv>, state: FormState = {}, status: PageStatus = 200, ctx?: PageContext): Promise<Response> {
  ctx ??= await pageContext(c);
  const { open, first } = await c.var.deps.accounts.service.registrationOpen();
  const signInHref = `${ctx.base}/login${state.next ? `?next=${encodeURIComponent(state.next)}` : ""}`;
  if (!open) {
    return sendPage(
      c,
      <Layout ctx={ctx} title="Registration is closed">
        <div class="account-page">
          <h1>Registration is closed</h1>
          <p>This server does not take new accounts. Its admin can make one for you, or open registration.</p>
          <p>
            Have an account? <a href={signInHref}>Sign in</a>
          </p>
        </div>
      </Layout>,
      403,
    );
  }
  return sendPage(
    c,
    <Layout ctx={{ ...ctx, signInHref: null }} title="Create an account">
      <div class="account-page">
        <h1>Create an account</h1>
        <p>With an account your uploads are yours: you find them under My images, tag them, delete them without a delete link, and give ShareX or scripts keys of their own.</p>
        {first ? <p class="notice">This is the first account on this server: it becomes the admin.</p> : null}
        <form method="post" action={`${ctx.base}/register`} class="account-form">
          <FormError state={state} />
          <CredentialFields state={state} newPassword={true} />
          <NextField state={state} />
          <div class="actions">
            <button type="submit" class="button primary wide">
              Create account
            </button>
          </div>
        </form>
        <p class="account-switch">
          Already have an account? <a href={signInHref}>Sign in</a>
        </p>
      </div>
    </Layout>,
    status,
  );
}
