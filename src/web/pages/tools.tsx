import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { MAX_KEYS_PER_USER } from "../../accounts/api-keys.ts";
import { ApiError } from "../../errors.ts";
import { LinkField } from "../components.tsx";
import { CSRF_FIELD } from "../csrf.ts";
import { Layout, pageContext, type PageContext } from "../layout.tsx";
import { currentSession } from "../session.ts";
import { pageHeaders, publicBase, sendPage } from "../render.ts";
import { SCRIPT_FILENAME, SHAREX_FILENAME, sharexConfig, uploadScript, type ToolOptions } from "../sharex.ts";

/**
 * The tool files' settings for this request. `apiKey` is for the account pages: a new
 * upload-scoped key, created by a signed-in user, baked into the files they download.
 */
export function toolOptions(c: Context<AppEnv>, apiKey?: string): ToolOptions {
  return { base: publicBase(c), absoluteResponses: c.var.deps.config.PUBLIC_URL !== undefined, ...(apiKey ? { apiKey } : {}) };
}

const download = (c: Context<AppEnv>, body: string, type: string, filename: string) =>
  c.body(body, 200, { ...pageHeaders(c.var.deps), "Content-Type": type, "Content-Disposition": `attachment; filename="${filename}"` });

export const sendSharexConfig = (c: Context<AppEnv>, apiKey?: string) =>
  download(c, `${JSON.stringify(sharexConfig(toolOptions(c, apiKey)), null, 2)}\n`, "application/json; charset=utf-8", SHAREX_FILENAME);

export const sendUploadScript = (c: Context<AppEnv>, apiKey?: string) => download(c, uploadScript(toolOptions(c, apiKey)), "text/x-sh; charset=utf-8", SCRIPT_FILENAME);

/** What the downloads are for this visitor: keyed (signed in), anonymous, or none (anonymous uploads are off). */
type ToolMode = "keyed" | "anonymous" | "none";

/** A download: a plain link for visitors; for a signed-in user a form that makes a new upload-scoped key (a state change, so POST with the CSRF token). */
const DownloadButton = ({ ctx, mode, filename }: { ctx: PageContext; mode: ToolMode; filename: string }) => {
  const href = `${ctx.base}/tools/${filename}`;
  if (mode === "keyed" && ctx.session) {
    return (
      <form method="post" action={href} class="download-form">
        <input type="hidden" name={CSRF_FIELD} value={ctx.session.csrfToken} />
        <button type="submit" class="button primary">
          Download {filename} with a new key
        </button>
      </form>
    );
  }
  if (mode === "none") return null;
  return (
    <p>
      <a class="button primary" href={href} download={filename}>
        Download {filename}
      </a>
    </p>
  );
};

export async function renderToolsPage(c: Context<AppEnv>): Promise<Response> {
  const ctx = await pageContext(c);
  const { config } = c.var.deps;
  const mode: ToolMode = ctx.session ? "keyed" : config.ALLOW_ANONYMOUS_UPLOADS ? "anonymous" : "none";
  // What the files hold; for a signed-in user the key is made when they download.
  const options = toolOptions(c, mode === "keyed" ? "chk_…" : undefined);
  const configured = config.PUBLIC_URL !== undefined;
  const signIn = <a href={`${ctx.signInHref}?next=${encodeURIComponent(`${ctx.base}/tools`)}`}>Sign in</a>;
  return sendPage(
    c,
    <Layout ctx={ctx} title="ShareX & scripts" current="tools">
      <h1>Upload from ShareX, Flameshot or the command line</h1>
      {mode === "keyed" ? (
        <p>
          These files send images straight to <strong>{options.base}</strong>, into <a href={`${ctx.base}/me`}>your images</a>. Each download
          makes a new API key that may only upload, named after the file: the <a href={`${ctx.base}/keys`}>API keys</a> page lists and
          revokes them.
        </p>
      ) : mode === "anonymous" ? (
        <p>
          These files send images straight to <strong>{options.base}</strong>, without an account: every upload comes with its delete link.{" "}
          {signIn} to get files that upload into your own images instead.
        </p>
      ) : (
        <p class="notice">This server takes uploads from signed-in users only. {signIn} to get files set up with a key of your own.</p>
      )}
      {configured ? null : (
        <p class="notice warn">
          PUBLIC_URL is not set, so these files use the address this page was opened at. If people reach chitram at another address (a
          proxy, a domain name), set PUBLIC_URL to it and download them again.
        </p>
      )}
      <section class="tool" aria-labelledby="sharex-title">
        <h2 id="sharex-title">ShareX (Windows)</h2>
        <p>
          Download the file and open it: ShareX adds chitram as a custom image uploader. Its deletion URL is each image’s delete page
          {mode === "keyed" ? ", where you delete it while signed in" : ""}.
        </p>
        <DownloadButton ctx={ctx} mode={mode} filename={SHAREX_FILENAME} />
        <details>
          <summary>What is inside</summary>
          <pre><code>{JSON.stringify(sharexConfig(options), null, 2)}</code></pre>
        </details>
      </section>
      <section class="tool" aria-labelledby="script-title">
        <h2 id="script-title">curl and Flameshot (Linux, macOS)</h2>
        <p>
          A small shell script around curl: it prints each image’s direct link and copies it to the clipboard
          {mode === "anonymous" ? ", and prints the delete link" : ""}.
        </p>
        <DownloadButton ctx={ctx} mode={mode} filename={SCRIPT_FILENAME} />
        <pre><code>{`chmod +x ${SCRIPT_FILENAME}\n./${SCRIPT_FILENAME} cat.jpg dog.png\nflameshot gui --raw | ./${SCRIPT_FILENAME}`}</code></pre>
        <p>Or bind <code>flameshot gui --raw | ~/bin/{SCRIPT_FILENAME}</code> to a key.</p>
      </section>
      <section class="tool" aria-labelledby="curl-title">
        <h2 id="curl-title">Just curl</h2>
        {mode !== "anonymous" ? (
          <LinkField
            id="curl-upload"
            label="Upload"
            value={`curl -H "Authorization: Bearer KEY" -F file=@cat.jpg ${options.base}/api/v1/images/upload`}
            hint={mode === "keyed" ? "KEY is an API key with the upload scope, from the API keys page." : "KEY is an API key with the upload scope: sign in to make one."}
          />
        ) : (
          <>
            <LinkField id="curl-upload" label="Upload" value={`curl -F file=@cat.jpg ${options.base}/api/v1/images/upload`} />
            <LinkField
              id="curl-delete"
              label="Delete"
              value={`curl -X DELETE -H "X-Delete-Token: TOKEN" ${options.base}/api/v1/images/ID`}
              hint="ID and TOKEN are the id and delete_token of the upload's JSON answer."
            />
          </>
        )}
        <p>
          Everything else is in the <a href={`${ctx.base}/docs`}>API reference</a>.
        </p>
      </section>
    </Layout>,
  );
}

/**
 * POST /tools/{file}: the file with a new upload-scoped API key of the signed-in user, named after
 * the file (the keys page lists it with when it was made; revoking it turns the file off).
 */
export async function sendKeyedTool(c: Context<AppEnv>, filename: typeof SHAREX_FILENAME | typeof SCRIPT_FILENAME): Promise<Response> {
  const session = await currentSession(c);
  if (!session) throw new ApiError("UNAUTHORIZED", "Sign in first: these files are made with a key of your own.");
  const name = filename === SHAREX_FILENAME ? `ShareX (${SHAREX_FILENAME})` : `Upload script (${SCRIPT_FILENAME})`;
  const created = await c.var.deps.accounts.service.createApiKey(session.user.id, name, ["upload"]);
  if (!created) throw new ApiError("INVALID_REQUEST", `You have ${MAX_KEYS_PER_USER} API keys, the most an account may hold: revoke some on the API keys page first.`);
  return filename === SHAREX_FILENAME ? sendSharexConfig(c, created.key) : sendUploadScript(c, created.key);
}
