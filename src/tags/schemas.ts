// The tag routes' contract: the seed system's wire format (names lower-cased and trimmed, 2–50
// characters, an optional category of at most 20), in chitram's envelope.
import { createRoute, z } from "@hono/zod-openapi";
import { bearer, errorResponses, requestIdHeader } from "../http/openapi.ts";

const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const EXAMPLE_ID = "0b6c5f7e-3a8e-4c1e-9d2f-5b7a1c9e8d40";

/** Lower-cased and trimmed first; then 2–50 characters, no control characters. */
export const TagName = z.string().trim().toLowerCase().min(2).max(50).regex(NO_CONTROL, "must not contain control characters").openapi({ example: "sunset" });

const Category = z
  .string()
  .trim()
  .max(20)
  .regex(NO_CONTROL, "must not contain control characters")
  .nullable()
  .optional()
  .transform((v) => (v ? v : null))
  .openapi({ description: "Set when the tag is first made; later adds keep the first one", example: "landscape" });

export const ImageTag = z
  .object({
    name: z.string().openapi({ example: "sunset" }),
    category: z.string().nullable(),
    source: z.enum(["user", "ai"]).openapi({ description: "Always `user` here (the seed system's AI tagging is not part of chitram)" }),
    confidence: z.number().int().nullable().openapi({ description: "null for user tags" }),
  })
  .openapi("ImageTag");

export const Tag = z
  .object({ id: z.uuid(), name: z.string(), category: z.string().nullable(), created_at: z.iso.datetime() })
  .openapi("Tag");

export const TagWithCount = z
  .object({ name: z.string(), category: z.string().nullable(), count: z.number().int().positive().openapi({ description: "Images carrying the tag" }) })
  .openapi("TagWithCount");

export const toTag = (t: { id: string; name: string; category: string | null; createdAt: Date }) => ({
  id: t.id,
  name: t.name,
  category: t.category,
  created_at: t.createdAt.toISOString(),
});

const ImageParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid", example: EXAMPLE_ID }) });
const limit = (byDefault: number) => z.coerce.number().int().min(1).max(100).default(byDefault).openapi({ description: `1–100, default ${byDefault}` });

export const imageTagsRoute = createRoute({
  method: "get",
  path: "/images/{id}/tags",
  tags: ["Tags"],
  summary: "An image's tags",
  description: "Alphabetical. Public. An unknown image simply has none (200 `[]`).",
  request: { params: ImageParam },
  responses: {
    200: { description: "The tags", headers: requestIdHeader, content: { "application/json": { schema: z.array(ImageTag) } } },
    ...errorResponses("SERVICE_UNAVAILABLE"),
  },
});

export const addTagRoute = createRoute({
  method: "post",
  path: "/images/{id}/tags",
  tags: ["Tags"],
  summary: "Tag an image (owner only)",
  description: "The tag is made if it is new. An API key needs the `upload` scope. The image already having the tag is 400 INVALID_REQUEST.",
  security: bearer,
  request: {
    params: ImageParam,
    body: { required: true, content: { "application/json": { schema: z.object({ tag: TagName, category: Category }).openapi("AddTag") } } },
  },
  responses: {
    201: { description: "Added", headers: requestIdHeader, content: { "application/json": { schema: ImageTag } } },
    ...errorResponses("INVALID_REQUEST", "UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "IMAGE_NOT_FOUND", "PAYLOAD_TOO_LARGE", "SERVICE_UNAVAILABLE"),
  },
});

export const removeTagRoute = createRoute({
  method: "delete",
  path: "/images/{id}/tags/{name}",
  tags: ["Tags"],
  summary: "Untag an image (owner only)",
  description: "The name is compared case-insensitively (trimmed, lower-cased). An API key needs the `delete` scope.",
  security: bearer,
  request: {
    params: ImageParam.extend({ name: z.string().max(200).openapi({ param: { name: "name", in: "path" }, example: "sunset" }) }),
  },
  responses: {
    204: { description: "Removed", headers: requestIdHeader },
    ...errorResponses("INVALID_REQUEST", "UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "IMAGE_NOT_FOUND", "TAG_NOT_FOUND", "SERVICE_UNAVAILABLE"),
  },
});

export const listTagsRoute = createRoute({
  method: "get",
  path: "/tags",
  tags: ["Tags"],
  summary: "Tags in use",
  description: "Alphabetical; only tags that at least one image carries. Public.",
  request: { query: z.object({ limit: limit(20) }) },
  responses: {
    200: { description: "The tags", headers: requestIdHeader, content: { "application/json": { schema: z.array(Tag) } } },
    ...errorResponses("INVALID_REQUEST", "SERVICE_UNAVAILABLE"),
  },
});

export const popularTagsRoute = createRoute({
  method: "get",
  path: "/tags/popular",
  tags: ["Tags"],
  summary: "Most used tags",
  description: "By number of images, most first (ties alphabetical). Public.",
  request: { query: z.object({ limit: limit(20) }) },
  responses: {
    200: { description: "The tags with their counts", headers: requestIdHeader, content: { "application/json": { schema: z.array(TagWithCount) } } },
    ...errorResponses("INVALID_REQUEST", "SERVICE_UNAVAILABLE"),
  },
});

export const searchTagsRoute = createRoute({
  method: "get",
  path: "/tags/search",
  tags: ["Tags"],
  summary: "Tags by name prefix",
  description: "Case-insensitive prefix match (for autocompletion), alphabetical; an empty `q` finds nothing. Public.",
  request: {
    query: z.object({
      q: z.string().max(50).default("").openapi({ example: "sun" }),
      limit: limit(10),
    }),
  },
  responses: {
    200: { description: "Matching tags", headers: requestIdHeader, content: { "application/json": { schema: z.array(Tag) } } },
    ...errorResponses("INVALID_REQUEST", "SERVICE_UNAVAILABLE"),
  },
});
