import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { LinkField } from "../components.tsx";
import { Layout, pageContext } from "../layout.tsx";
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

export async function renderToolsPage(c: Context<AppEnv>): Promise<Response> {
  const ctx = await pageContext(c);
  const options = toolOptions(c);
  const configured = c.var.deps.config.PUBLIC_URL !== undefined;
  return sendPage(
    c,
    <Layout ctx={ctx} title="ShareX & scripts" current="tools">
      <h1>Upload from ShareX, Flameshot or the command line</h1>
      <p>
        These files send images straight to <strong>{options.base}</strong>
        {ctx.session ? null : ", without an account: every upload comes with its delete link"}.
      </p>
      {configured ? null : (
        <p class="notice warn">
          PUBLIC_URL is not set, so these files use the address this page was opened at. If people reach chitram at another address (a
          proxy, a domain name), set PUBLIC_URL to it and download them again.
        </p>
      )}
      <section class="tool" aria-labelledby="sharex-title">
        <h2 id="sharex-title">ShareX (Windows)</h2>
        <p>Download the file and open it: ShareX adds chitram as a custom image uploader. Its deletion URL is each image’s delete page.</p>
        <p>
          <a class="button primary" href={`${ctx.base}/tools/${SHAREX_FILENAME}`} download={SHAREX_FILENAME}>
            Download {SHAREX_FILENAME}
          </a>
        </p>
        <details>
          <summary>What is inside</summary>
          <pre><code>{JSON.stringify(sharexConfig(options), null, 2)}</code></pre>
        </details>
      </section>
      <section class="tool" aria-labelledby="script-title">
        <h2 id="script-title">curl and Flameshot (Linux, macOS)</h2>
        <p>A small shell script around curl: it prints each image’s direct link, copies it to the clipboard, and prints the delete link.</p>
        <p>
          <a class="button primary" href={`${ctx.base}/tools/${SCRIPT_FILENAME}`} download={SCRIPT_FILENAME}>
            Download {SCRIPT_FILENAME}
          </a>
        </p>
        <pre><code>{`chmod +x ${SCRIPT_FILENAME}\n./${SCRIPT_FILENAME} cat.jpg dog.png\nflameshot gui --raw | ./${SCRIPT_FILENAME}`}</code></pre>
        <p>Or bind <code>flameshot gui --raw | ~/bin/{SCRIPT_FILENAME}</code> to a key.</p>
      </section>
      <section class="tool" aria-labelledby="curl-title">
        <h2 id="curl-title">Just curl</h2>
        <LinkField id="curl-upload" label="Upload" value={`curl -F file=@cat.jpg ${options.base}/api/v1/images/upload`} />
        <LinkField
          id="curl-delete"
          label="Delete"
          value={`curl -X DELETE -H "X-Delete-Token: TOKEN" ${options.base}/api/v1/images/ID`}
          hint="ID and TOKEN are the id and delete_token of the upload's JSON answer."
        />
        <p>
          Everything else is in the <a href={`${ctx.base}/docs`}>API reference</a>.
        </p>
      </section>
    </Layout>,
  );
}
