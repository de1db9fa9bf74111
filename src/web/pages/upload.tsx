import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { formatBytes, LINK_LABELS, TYPE_NAMES } from "../components.tsx";
import { Layout, pageContext, pageScript, type PageContext } from "../layout.tsx";
import { sendPage } from "../render.ts";

/**
 * One upload in the list, cloned by upload.client.js for each file: the markup stays here, the
 * script fills in text and values (never markup) and gives the fields unique ids.
 */
const UploadItemTemplate = () => (
  <template id="upload-item">
    <li class="upload-item" data-state="uploading">
      <a class="upload-media" tabindex={-1}>
        <img class="upload-thumb" alt="" width="96" height="96" />
      </a>
      <div class="upload-body">
        <p class="upload-title">
          <span class="upload-name"></span> <span class="upload-size"></span>
        </p>
        <progress class="upload-progress" max="100" value="0"></progress>
        <p class="upload-status" role="status"></p>
        <div class="upload-done" hidden>
          <div class="share-links">
            {LINK_LABELS.map(([key, label]) => (
              <div class="link-field" data-field={key}>
                <label>{label}</label>
                <div class="copy-row">
                  <input type="text" readonly spellcheck={false} autocomplete="off" />
                  <button type="button" class="button copy" aria-label={`Copy ${label}`}>Copy</button>
                </div>
              </div>
            ))}
            <div class="link-field keep" data-field="delete">
              <label>Delete link — keep it</label>
              <div class="copy-row">
                <input type="text" readonly spellcheck={false} autocomplete="off" />
                <button type="button" class="button copy" aria-label="Copy Delete link">Copy</button>
              </div>
              <p class="hint">The only way to delete this image later. Opening it asks before anything is deleted.</p>
            </div>
          </div>
        </div>
      </div>
    </li>
  </template>
);

function Uploader({ ctx, maxBytes, types }: { ctx: PageContext; maxBytes: number; types: string[] }) {
  const names = types.map((t) => TYPE_NAMES[t] ?? t);
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names[0];
  return (
    <section class="uploader" aria-labelledby="upload-title">
      <form id="upload-form" class="dropzone" data-api={`${ctx.base}/api/v1/images/upload`} data-max-bytes={String(maxBytes)} data-types={types.join(",")} data-type-names={list}>
        <svg class="dropzone-icon" aria-hidden="true" viewBox="0 0 24 24" width="40" height="40">
          <path d="M12 3l5 5h-3v6h-4V8H7zM5 17h14v3H5z" fill="currentColor" />
        </svg>
        <p class="dropzone-text">Drop images here or paste them (Ctrl+V / ⌘V)</p>
        <label class="button primary file-button">
          Choose images
          <input id="file-input" class="visually-hidden" type="file" name="file" accept={types.join(",")} multiple />
        </label>
        <p class="hint" id="upload-limits">
          {list}, up to {formatBytes(maxBytes)} each. Several at once are fine.
        </p>
      </form>
      <noscript>
        <p class="notice">
          Uploading from this page needs JavaScript. Without it: <code>curl -F file=@cat.jpg {ctx.publicBase}/api/v1/images/upload</code>
        </p>
      </noscript>
    </section>
  );
}

/** `/` for browsers: pick, drop or paste images, watch them upload, copy their links. */
export async function renderUploadPage(c: Context<AppEnv>): Promise<Response> {
  const { config } = c.var.deps;
  const ctx = await pageContext(c);
  const anonymous = ctx.session === null;
  const canUpload = !anonymous || config.ALLOW_ANONYMOUS_UPLOADS;
  // Signing in from here comes back here.
  const signInHere = `${ctx.base}/login?next=${encodeURIComponent(`${ctx.base}/`)}`;
  const registration = canUpload ? undefined : await c.var.deps.accounts.service.registrationOpen();
  return sendPage(
    c,
    <Layout ctx={ctx} title="Upload images" current="upload" script={await pageScript(ctx, "upload.js")}>
      <h1 id="upload-title">Upload images</h1>
      {canUpload ? (
        <>
          <Uploader ctx={ctx} maxBytes={config.maxFileBytes} types={config.ALLOWED_CONTENT_TYPES} />
          {anonymous ? (
            <p class="notice">
              You are uploading without an account. Each image gets a <strong>delete link</strong>: keep it, it is the only way to delete the
              image later. Or <a href={signInHere}>sign in</a> to keep your uploads in your account.
            </p>
          ) : (
            <p class="notice">
              Your uploads are yours: find, tag and delete them under <a href={`${ctx.base}/me`}>My images</a>.
            </p>
          )}
        </>
      ) : (
        <p class="notice">
          This server takes uploads from signed-in users only. <a href={signInHere}>Sign in</a>
          {registration?.open ? (
            <>
              {" "}
              (or <a href={`${ctx.base}/register?next=${encodeURIComponent(`${ctx.base}/`)}`}>create an account</a>)
            </>
          ) : null}{" "}
          to upload.
        </p>
      )}
      <section id="results" class="results" aria-labelledby="results-title" hidden>
        <h2 id="results-title">Uploads</h2>
        <ol id="upload-list" class="upload-list"></ol>
      </section>
      <UploadItemTemplate />
    </Layout>,
  );
}
