import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { imageNotFound } from "../../errors.ts";
import { imageId } from "../../images/routes.ts";
import { toMetadata, type ImageMetadata } from "../../images/schemas.ts";
import { DeleteForm, formatBytes, formatDate, ShareLinks, TYPE_NAMES } from "../components.tsx";
import { Layout, pageContext, pageScript, type PageContext } from "../layout.tsx";
import { imageLinks } from "../links.ts";
import { basePath, sendPage } from "../render.ts";
import type { Session } from "../session.ts";

type Metadata = z.infer<typeof ImageMetadata>;

/** The image's metadata for a page, or a 404 (the web router renders it as a page). */
export async function loadImage(c: Context<AppEnv>, rawId: string): Promise<{ meta: Metadata; ownerId: string | null }> {
  const id = imageId(rawId);
  const { row } = await c.var.deps.images.get(id);
  if (!row) throw imageNotFound(id);
  // Paths under the pages' base, not PUBLIC_URL's origin: a page loads its pictures from wherever
  // it was itself loaded from (and its CSP allows only that).
  return { meta: toMetadata(row, basePath(c.var.deps.config) || undefined), ownerId: row.userId };
}

/** Owned images are deleted by their owner (or the admin) through the session; others with their token. */
export function deleteMode(session: Session | null, ownerId: string | null): "token" | "owner" | null {
  if (ownerId === null) return "token";
  if (session && (session.user.id === ownerId || session.user.isAdmin)) return "owner";
  return null;
}

const thumbnailState = (m: Metadata) =>
  m.thumbnail_status === "ready" ? "ready" : m.thumbnail_status === "pending" ? "being made" : `could not be made (${m.thumbnail_error ?? "unknown reason"})`;

export const ImageFacts = ({ meta }: { meta: Metadata }) => (
  <dl class="facts">
    <dt>Type</dt>
    <dd>{TYPE_NAMES[meta.content_type] ?? meta.content_type}</dd>
    <dt>Size</dt>
    <dd>{formatBytes(meta.file_size)}</dd>
    {meta.width && meta.height ? (
      <>
        <dt>Dimensions</dt>
        <dd>
          {meta.width} × {meta.height} px
        </dd>
      </>
    ) : null}
    <dt>Uploaded</dt>
    <dd>
      <time datetime={meta.created_at}>{formatDate(meta.created_at)}</time>
    </dd>
    <dt>Thumbnail</dt>
    <dd>{thumbnailState(meta)}</dd>
  </dl>
);

/**
 * The picture at the width of the page. When a thumbnail exists it is shown first (a few KiB,
 * drawn at once) and common.client.js swaps in the original once that has loaded.
 */
export const Picture = ({ meta }: { meta: Metadata }) => (
  <figure class="picture">
    <a href={meta.url}>
      <img
        src={meta.thumbnail_url ?? meta.url}
        data-full={meta.thumbnail_url ? meta.url : undefined}
        alt={meta.filename}
        width={meta.width ?? undefined}
        height={meta.height ?? undefined}
        decoding="async"
      />
    </a>
  </figure>
);

/** Where a delete form sends the person afterwards: an owner back to their images, others to the upload page. */
export const afterDelete = (ctx: PageContext, mode: "token" | "owner") =>
  mode === "owner" && ctx.session ? { afterHref: `${ctx.base}/me`, afterLabel: "Back to my images" } : { afterHref: `${ctx.base}/`, afterLabel: "Upload images" };

export async function renderImagePage(c: Context<AppEnv>, rawId: string): Promise<Response> {
  const { meta, ownerId } = await loadImage(c, rawId);
  const [ctx, tags] = await Promise.all([pageContext(c), c.var.deps.tags.ofImage(meta.id)]);
  const mode = deleteMode(ctx.session, ownerId);
  // Tags are their owner's to change (not the admin's: it may only delete).
  const owner = ctx.session !== null && ctx.session.user.id === ownerId;
  const scripts = [await pageScript(ctx, "delete.js"), ...(owner ? [await pageScript(ctx, "tags.js")] : [])];
  return sendPage(
    c,
    <Layout ctx={ctx} title={meta.filename} script={scripts}>
      <article class="image-page">
        <h1 class="filename">{meta.filename}</h1>
        <Picture meta={meta} />
        <div class="image-side">
          <ImageFacts meta={meta} />
          {owner || tags.length > 0 ? <TagSection ctx={ctx} meta={meta} tags={tags.map((t) => t.name)} editable={owner} /> : null}
          <h2>Links</h2>
          <ShareLinks links={imageLinks(ctx.publicBase, meta)} prefix="link" />
          {mode ? <DeleteSection ctx={ctx} meta={meta} mode={mode} /> : null}
        </div>
      </article>
    </Layout>,
  );
}

const DeleteSection = ({ ctx, meta, mode }: { ctx: PageContext; meta: Metadata; mode: "token" | "owner" }) => (
  <details class="delete-section">
    <summary>Delete this image</summary>
    <DeleteForm apiUrl={`${ctx.base}/api/v1/images/${meta.id}`} id={meta.id} mode={mode} filename={meta.filename} {...afterDelete(ctx, mode)} />
  </details>
);

/** One tag: a link to the owner's images carrying it, and (for the owner) a remove button. */
const TagChip = ({ ctx, name, editable }: { ctx: PageContext; name?: string; editable: boolean }) => (
  <li class="tag-chip" data-tag={name}>
    {editable ? <a href={name ? `${ctx.base}/me?tag=${encodeURIComponent(name)}` : undefined}>{name}</a> : <span>{name}</span>}
    {editable ? (
      <button type="button" class="tag-remove" aria-label={name ? `Remove the tag ${name}` : undefined}>
        <span aria-hidden="true">×</span>
      </button>
    ) : null}
  </li>
);

/** The image's tags; its owner adds and removes them (tags.client.js, through the tag API). */
const TagSection = ({ ctx, meta, tags, editable }: { ctx: PageContext; meta: Metadata; tags: string[]; editable: boolean }) => (
  <section class="image-tags" aria-labelledby="tags-title">
    <h2 id="tags-title">Tags</h2>
    <ul id="tag-list" class="tag-chips" data-api={`${ctx.base}/api/v1/images/${meta.id}/tags`}>
      {tags.map((name) => (
        <TagChip ctx={ctx} name={name} editable={editable} />
      ))}
    </ul>
    {editable ? (
      <>
        <p id="no-tags" class="hint" hidden={tags.length > 0}>
          No tags yet. Tags let you find images again under My images.
        </p>
        <form id="tag-form" class="tag-form" novalidate>
          <label for="tag-input">Add a tag</label>
          <div class="copy-row">
            <input id="tag-input" name="tag" type="text" minlength={2} maxlength={50} autocomplete="off" autocapitalize="none" required aria-describedby="tag-error" />
            <button type="submit" class="button">
              Add
            </button>
          </div>
          <p id="tag-error" class="form-error-text" role="status"></p>
        </form>
        <template id="tag-template">
          <TagChip ctx={ctx} editable={true} />
        </template>
      </>
    ) : null}
  </section>
);
