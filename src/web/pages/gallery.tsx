import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env.ts";
import { ApiError } from "../../errors.ts";
import { toCachedImage } from "../../images/image-cache.ts";
import { toMetadata, type ImageMetadata } from "../../images/schemas.ts";
import { cursorParam, pageOf } from "../../http/pagination.ts";
import { TagName } from "../../tags/schemas.ts";
import { formatBytes, formatDate } from "../components.tsx";
import { Layout, pageContext, pageScript, type PageContext } from "../layout.tsx";
import { imageLinks } from "../links.ts";
import { basePath, sendPage } from "../render.ts";
import type { Session } from "../session.ts";

type Metadata = z.infer<typeof ImageMetadata>;

/** Images per page, on the server's first page and each one the script loads as the list scrolls. */
export const GALLERY_PAGE_SIZE = 24;
const MAX_FILTER_TAGS = 100;

/**
 * One image in the gallery. The page's <template> holds an empty one that gallery.client.js clones
 * for the pages it loads (filling in text, attributes and values, never markup).
 */
const Card = ({ ctx, meta }: { ctx: PageContext; meta?: Metadata }) => {
  const page = meta ? `${ctx.base}/images/${meta.id}` : undefined;
  return (
    <li class="card" data-image-id={meta?.id}>
      <a class="card-media" href={page} tabindex={-1} aria-hidden="true">
        <img
          src={meta ? (meta.thumbnail_url ?? meta.url) : undefined}
          alt=""
          width={meta?.width ?? undefined}
          height={meta?.height ?? undefined}
          loading="lazy"
          decoding="async"
        />
      </a>
      <div class="card-body">
        <a class="card-title" href={page}>
          {meta?.filename}
        </a>
        <p class="card-meta">
          <time datetime={meta?.created_at}>{meta ? formatDate(meta.created_at) : ""}</time>
          <span class="card-size">{meta ? formatBytes(meta.file_size) : ""}</span>
        </p>
        <div class="card-actions" data-while-idle>
          <button type="button" class="button small copy" data-copy-text={meta ? imageLinks(ctx.publicBase, meta).file : undefined} aria-label={meta ? `Copy the direct link of ${meta.filename}` : undefined}>
            Copy link
          </button>
          <button type="button" class="button small quiet-danger" data-delete aria-label={meta ? `Delete ${meta.filename}` : undefined}>
            Delete
          </button>
        </div>
        <div class="card-confirm" hidden>
          <p class="card-question">Delete it for good?</p>
          <div class="card-actions">
            <button type="button" class="button small danger" data-confirm>
              Delete
            </button>
            <button type="button" class="button small" data-cancel>
              Keep
            </button>
          </div>
        </div>
        <p class="card-status" role="status"></p>
      </div>
    </li>
  );
};

function TagFilter({ ctx, tags, current }: { ctx: PageContext; tags: Array<{ name: string; count: number }>; current: string | undefined }) {
  if (tags.length === 0) return null;
  return (
    <nav class="tag-filter" aria-label="Filter by tag">
      <ul>
        <li>
          <a href={`${ctx.base}/me`} aria-current={current === undefined ? "page" : undefined}>
            All
          </a>
        </li>
        {tags.map((t) => (
          <li>
            <a href={`${ctx.base}/me?tag=${encodeURIComponent(t.name)}`} aria-current={t.name === current ? "page" : undefined}>
              {t.name} <span class="tag-count">{t.count}</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** `/me`: the signed-in user's images, newest first, with infinite scroll over the cursor API. */
export async function renderGalleryPage(c: Context<AppEnv>, session: Session): Promise<Response> {
  const { repo, tags, config } = c.var.deps;
  const rawTag = c.req.query("tag");
  let tag: string | undefined;
  if (rawTag !== undefined) {
    const parsed = TagName.safeParse(rawTag);
    if (!parsed.success) throw new ApiError("INVALID_REQUEST", "That is not a tag name: tags are 2 to 50 characters.");
    tag = parsed.data;
  }
  // ?cursor= is the "Load more" link's, for browsers without JavaScript (the script loads pages in place).
  const before = cursorParam(c.req.query("cursor"));
  const userId = session.user.id;
  const [rows, ownTags, ctx] = await Promise.all([
    repo.listOwned(userId, { before, limit: GALLERY_PAGE_SIZE + 1, tag }),
    tags.ofOwner(userId, MAX_FILTER_TAGS),
    pageContext(c),
  ]);
  const { page, nextCursor } = pageOf(rows, GALLERY_PAGE_SIZE);
  // Paths under the pages' base, as on the image page: pictures load from where the page did.
  const images = page.map((r) => toMetadata(toCachedImage(r), basePath(config) || undefined));
  const title = tag ? `My images tagged ${tag}` : "My images";
  return sendPage(
    c,
    <Layout ctx={ctx} title={title} current="me" script={await pageScript(ctx, "gallery.js")}>
      <div class="page-head">
        <h1>{tag ? <>My images tagged <span class="tag-name">{tag}</span></> : "My images"}</h1>
        <a class="button primary" href={`${ctx.base}/`}>
          Upload images
        </a>
      </div>
      <TagFilter ctx={ctx} tags={ownTags} current={tag} />
      <ul
        id="gallery"
        class="gallery"
        aria-label={title}
        data-api={`${ctx.base}/api/v1/images`}
        data-page-size={String(GALLERY_PAGE_SIZE)}
        data-tag={tag}
        data-next-cursor={nextCursor ?? undefined}
      >
        {images.map((meta) => (
          <Card ctx={ctx} meta={meta} />
        ))}
      </ul>
      <p id="gallery-empty" class="empty" hidden={images.length > 0}>
        {tag ? (
          <>
            None of your images is tagged {tag}. <a href={`${ctx.base}/me`}>Show all your images</a>
          </>
        ) : (
          <>
            No images yet. <a href={`${ctx.base}/`}>Upload some</a>: they will be listed here, newest first.
          </>
        )}
      </p>
      <div class="gallery-more">
        <a
          id="load-more"
          class="button"
          href={nextCursor ? `${ctx.base}/me?${new URLSearchParams({ ...(tag ? { tag } : {}), cursor: nextCursor })}` : undefined}
          hidden={nextCursor === null}
        >
          Load more
        </a>
        <p id="gallery-status" class="hint" role="status"></p>
      </div>
      <template id="card-template">
        <Card ctx={ctx} />
      </template>
    </Layout>,
  );
}
