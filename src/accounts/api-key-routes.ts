// /api/v1/api-keys: keys for scripts and ShareX. Created (and shown) once, listed, revoked. Managing
// keys needs a signed-in user's token: a key cannot make or revoke keys.
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors.ts";
import { smallBody } from "../http/body-limit.ts";
import { bearer, createRouter, errorResponses, requestIdHeader } from "../http/openapi.ts";
import { MAX_KEYS_PER_USER, SCOPES, type ApiKeyInfo } from "./api-keys.ts";
import { auth, principalOf } from "./middleware.ts";

const ApiKey = z
  .object({
    id: z.uuid(),
    name: z.string().openapi({ example: "ShareX on my laptop" }),
    prefix: z.string().openapi({ description: "The key's first characters, to tell keys apart", example: "chk_Xb3k9QmZ" }),
    scopes: z.array(z.enum(SCOPES)),
    created_at: z.iso.datetime(),
  })
  .openapi("ApiKey");

const NewApiKey = ApiKey.extend({
  key: z.string().openapi({
    description: "The key itself, shown only in this response (only its hash is stored): send it as `Authorization: Bearer <key>`",
    example: "chk_Xb3k9QmZ…",
  }),
}).openapi("NewApiKey");

const toApiKey = (k: ApiKeyInfo) => ({ id: k.id, name: k.name, prefix: k.prefix, scopes: k.scopes as Array<(typeof SCOPES)[number]>, created_at: k.createdAt.toISOString() });

const tokenOnly = "Needs a signed-in user's token (JWT), not an API key.";
const errors = ["UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "SERVICE_UNAVAILABLE"] as const;

const createKeyRoute = createRoute({
  method: "post",
  path: "/",
  tags: ["API keys"],
  summary: "Create an API key",
  description:
    "Scopes: `upload` (upload images, tag them), `delete` (delete images, untag them), `read` (list my images, /auth/me). " +
    `The key is in this response only. At most ${MAX_KEYS_PER_USER} keys per account. ${tokenOnly}`,
  security: bearer,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .object({
              name: z.string().trim().min(1).max(100).regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters"),
              scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
            })
            .openapi("CreateApiKey"),
        },
      },
    },
  },
  responses: {
    201: { description: "Created", headers: requestIdHeader, content: { "application/json": { schema: NewApiKey } } },
    ...errorResponses("INVALID_REQUEST", ...errors, "PAYLOAD_TOO_LARGE"),
  },
});

const listKeysRoute = createRoute({
  method: "get",
  path: "/",
  tags: ["API keys"],
  summary: "My API keys",
  description: `Oldest first, without the keys themselves. ${tokenOnly}`,
  security: bearer,
  responses: {
    200: { description: "The keys", headers: requestIdHeader, content: { "application/json": { schema: z.array(ApiKey) } } },
    ...errorResponses(...errors),
  },
});

const revokeKeyRoute = createRoute({
  method: "delete",
  path: "/{id}",
  tags: ["API keys"],
  summary: "Revoke an API key",
  description: `The key stops working on every instance at once. ${tokenOnly}`,
  security: bearer,
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }) },
  responses: {
    204: { description: "Revoked", headers: requestIdHeader },
    ...errorResponses(...errors, "API_KEY_NOT_FOUND"),
  },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const signedIn = auth({ required: true, tokenOnly: true });

export const apiKeyRoutes = createRouter()
  .openapi({ ...createKeyRoute, middleware: [signedIn, smallBody] as const }, async (c) => {
    const { name, scopes } = c.req.valid("json");
    const created = await c.var.deps.accounts.service.createApiKey(principalOf(c)!.user.id, name, scopes);
    if (!created) throw new ApiError("INVALID_REQUEST", `An account holds at most ${MAX_KEYS_PER_USER} API keys; revoke one first`, { limit: MAX_KEYS_PER_USER });
    return c.json({ ...toApiKey(created.info), key: created.key }, 201);
  })

  .openapi({ ...listKeysRoute, middleware: [signedIn] as const }, async (c) =>
    c.json((await c.var.deps.accounts.apiKeys.list(principalOf(c)!.user.id)).map(toApiKey), 200),
  )

  .openapi({ ...revokeKeyRoute, middleware: [signedIn] as const }, async (c) => {
    const id = c.req.valid("param").id;
    // Someone else's key is simply not found.
    const revoked = UUID.test(id) && (await c.var.deps.accounts.service.revokeApiKey(principalOf(c)!.user.id, id.toLowerCase()));
    if (!revoked) throw new ApiError("API_KEY_NOT_FOUND", "No such API key");
    return c.body(null, 204);
  });
