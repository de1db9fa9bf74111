import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { DeleteForm, formatBytes } from "../components.tsx";
import { Layout, pageContext, pageScript } from "../layout.tsx";
import { sendPage } from "../render.ts";
import { afterDelete, deleteMode, loadImage } from "./image.tsx";

/**
 * The delete link an uploader keeps (ShareX's deletion URL): /images/{id}/delete#<token>. The
 * token stays in the fragment, which browsers never send, so it reaches no server or proxy log;
 * this GET only asks. delete.client.js sends the DELETE, with the token in X-Delete-Token.
 */
export async function renderDeletePage(c: Context<AppEnv>, rawId: string): Promise<Response> {
  const { meta, ownerId } = await loadImage(c, rawId);
  const ctx = await pageContext(c);
  const mode = deleteMode(ctx.session, ownerId);
  const pageHref = `${ctx.base}/images/${meta.id}`;
  return sendPage(
    c,
    <Layout ctx={ctx} title={`Delete ${meta.filename}`} script={await pageScript(ctx, "delete.js")}>
      <article class="delete-page">
        <h1 data-done-text="Image deleted">Delete this image?</h1>
        <div class="delete-preview">
          {meta.thumbnail_url ? <img src={meta.thumbnail_url} alt={meta.filename} /> : null}
          <p>
            <a href={pageHref} class="filename">{meta.filename}</a>
            <br />
            {formatBytes(meta.file_size)}
            {meta.width && meta.height ? `, ${meta.width} × ${meta.height} px` : ""}
          </p>
        </div>
        {mode ? (
          <>
            <DeleteForm apiUrl={`${ctx.base}/api/v1/images/${meta.id}`} id={meta.id} mode={mode} filename={meta.filename} {...afterDelete(ctx, mode)} />
            <noscript>
              {mode === "token" ? (
                <p class="notice">
                  Deleting from this page needs JavaScript (the token never leaves your browser otherwise). Without it:{" "}
                  <code>curl -X DELETE -H "X-Delete-Token: …" {ctx.publicBase}/api/v1/images/{meta.id}</code>
                </p>
              ) : (
                <p class="notice">Deleting from this page needs JavaScript.</p>
              )}
            </noscript>
          </>
        ) : (
          <p class="notice">
            This image belongs to an account; only its owner can delete it.
            {ctx.session ? null : (
              <>
                {" "}
                If it is yours, <a href={`${ctx.base}/login?next=${encodeURIComponent(`${ctx.base}/images/${meta.id}/delete`)}`}>sign in</a> to delete it.
              </>
            )}
          </p>
        )}
        <p data-while-present>
          <a href={pageHref}>Keep it and go to the image</a>
        </p>
      </article>
    </Layout>,
  );
}
