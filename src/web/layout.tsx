import type { Context } from "hono";
import type { Child, FC } from "hono/jsx";
import type { AppEnv } from "../app-env.ts";
import { assetUrl, type WebAssetName } from "./assets.ts";
import { CSRF_FIELD } from "./csrf.ts";
import { basePath, publicBase } from "./render.ts";
import { clearSessionCookie, currentSession, sessionCookieValue, type Session } from "./session.ts";

/** What every page needs to know about the request, gathered once by `pageContext`. */
export type PageContext = {
  /** Path prefix of the pages' own links (PUBLIC_URL's path, or empty). */
  base: string;
  /** Absolute base of links people copy (render.ts `publicBase`). */
  publicBase: string;
  version: string;
  session: Session | null;
  /** Where a visitor signs in (the nav offers it); null on the sign-in pages themselves. */
  signInHref: string | null;
  assets: { css: string; common: string; icon: string };
};

export async function pageContext(c: Context<AppEnv>): Promise<PageContext> {
  const { config, version } = c.var.deps;
  const base = basePath(config);
  const [css, common, icon] = await Promise.all([assetUrl(base, "app.css"), assetUrl(base, "common.js"), assetUrl(base, "icon.svg")]);
  const session = await currentSession(c);
  // A cookie that names no active session (expired, signed out elsewhere, account deactivated):
  // the page is a visitor's, and the browser forgets the cookie, so its scripts act as a visitor's.
  if (!session && sessionCookieValue(c) !== undefined) clearSessionCookie(c);
  return { base, publicBase: publicBase(c), version, session, signInHref: `${base}/login`, assets: { css, common, icon } };
}

export type NavKey = "upload" | "me" | "keys" | "tools";

type NavItem = { key: NavKey; href: string; label: string; /** What phones show, where the label does not fit. */ short?: string };

/** The main navigation: the signed-in user's pages appear with a session. */
export function navItems(ctx: PageContext): NavItem[] {
  const items: NavItem[] = [{ key: "upload", href: `${ctx.base}/`, label: "Upload" }];
  if (ctx.session) {
    items.push({ key: "me", href: `${ctx.base}/me`, label: "My images" }, { key: "keys", href: `${ctx.base}/keys`, label: "API keys" });
  }
  items.push({ key: "tools", href: `${ctx.base}/tools`, label: "ShareX & scripts", short: "Tools" });
  return items;
}

const Account: FC<{ ctx: PageContext }> = ({ ctx }) => {
  if (ctx.session) {
    return (
      <div class="account">
        <span class="account-email">{ctx.session.user.email}</span>
        <form method="post" action={`${ctx.base}/logout`}>
          <input type="hidden" name={CSRF_FIELD} value={ctx.session.csrfToken} />
          <button type="submit" class="link-button">Sign out</button>
        </form>
      </div>
    );
  }
  if (ctx.signInHref) return <div class="account"><a href={ctx.signInHref}>Sign in</a></div>;
  return null;
};

export const Layout: FC<{ ctx: PageContext; title: string; current?: NavKey; script?: string | string[]; children?: Child }> = ({ ctx, title, current, script, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="color-scheme" content="light dark" />
      <title>{`${title} · chitram`}</title>
      <link rel="icon" href={ctx.assets.icon} type="image/svg+xml" />
      <link rel="stylesheet" href={ctx.assets.css} />
      {ctx.session ? <meta name="csrf-token" content={ctx.session.csrfToken} /> : null}
      <script src={ctx.assets.common} defer></script>
      {(Array.isArray(script) ? script : script ? [script] : []).map((src) => (
        <script src={src} defer></script>
      ))}
    </head>
    <body data-base={ctx.base} data-public-base={ctx.publicBase}>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="site-header">
        <a class="brand" href={`${ctx.base}/`}>
          <img src={ctx.assets.icon} alt="" width="28" height="28" />
          <span>chitram</span>
        </a>
        <nav aria-label="Main">
          <ul>
            {navItems(ctx).map((item) => (
              <li>
                <a href={item.href} aria-current={item.key === current ? "page" : undefined}>
                  {item.short ? (
                    <>
                      <span class="label-long">{item.label}</span>
                      <span class="label-short">{item.short}</span>
                    </>
                  ) : (
                    item.label
                  )}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <Account ctx={ctx} />
      </header>
      <main id="main" tabindex={-1}>{children}</main>
      <footer class="site-footer">
        <p>
          chitram {ctx.version} · <a href={`${ctx.base}/docs`}>API reference</a>
        </p>
      </footer>
    </body>
  </html>
);

/** A page script's versioned link. */
export const pageScript = (ctx: PageContext, name: Extract<WebAssetName, `${string}.js`>) => assetUrl(ctx.base, name);
