import { auth, principalOf } from "../accounts/middleware.ts";
import type { Deps } from "../deps.ts";
import { ApiError, imageNotFound, printable } from "../errors.ts";
import { smallBody } from "../http/body-limit.ts";
import { createRouter } from "../http/openapi.ts";
import type { Principal } from "../accounts/authenticator.ts";
import { imageId } from "../images/routes.ts";
import { addTagRoute, imageTagsRoute, listTagsRoute, popularTagsRoute, removeTagRoute, searchTagsRoute, TagName, toTag } from "./schemas.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The image, checked against the database (not a cache): only its owner may change its tags. */
async function ownedImage(deps: Deps, rawId: string, principal: Principal): Promise<string> {
  const id = imageId(rawId);
  const row = await deps.repo.findById(id);
  if (!row) throw imageNotFound(id);
  if (row.userId !== principal.user.id) throw new ApiError("FORBIDDEN", "You do not own this image");
  return id;
}

/** Mounted at /api/v1: an image's tags, and the tag listings. */
export const tagRoutes = createRouter()
  .openapi(imageTagsRoute, async (c) => {
    const raw = c.req.valid("param").id;
    // An unknown (or malformed) image has no tags: 200 [], as in the seed system.
    const tags = UUID.test(raw) ? await c.var.deps.tags.ofImage(raw.toLowerCase()) : [];
    return c.json(tags, 200);
  })

  .openapi({ ...addTagRoute, middleware: [auth({ required: true, scope: "upload" }), smallBody] as const }, async (c) => {
    const { deps } = c.var;
    const id = await ownedImage(deps, c.req.valid("param").id, principalOf(c)!);
    const { tag, category } = c.req.valid("json");
    const added = await deps.tags.add(id, tag, category);
    if (added === "image-gone") throw imageNotFound(id);
    if (added === "duplicate") throw new ApiError("INVALID_REQUEST", `Tag '${tag}' already exists for this image`, { field: "tag" });
    return c.json(added, 201);
  })

  .openapi({ ...removeTagRoute, middleware: [auth({ required: true, scope: "delete" })] as const }, async (c) => {
    const { deps } = c.var;
    const params = c.req.valid("param");
    const id = await ownedImage(deps, params.id, principalOf(c)!);
    const name = TagName.safeParse(params.name);
    if (!name.success || !(await deps.tags.remove(id, name.data))) {
      throw new ApiError("TAG_NOT_FOUND", `Tag '${printable(params.name)}' not found for this image`);
    }
    return c.body(null, 204);
  })

  .openapi(listTagsRoute, async (c) => c.json((await c.var.deps.tags.list(c.req.valid("query").limit)).map(toTag), 200))

  .openapi(popularTagsRoute, async (c) => c.json(await c.var.deps.tags.popular(c.req.valid("query").limit), 200))

  .openapi(searchTagsRoute, async (c) => {
    const { q, limit } = c.req.valid("query");
    const prefix = q.trim().toLowerCase();
    return c.json(prefix ? (await c.var.deps.tags.search(prefix, limit)).map(toTag) : [], 200);
  });
