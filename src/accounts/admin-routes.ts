// /api/v1/admin: what the admin (the first account) can do beyond deleting any image: see the
// accounts and deactivate (or reactivate) them. Needs the admin's token (JWT), not an API key.
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors.ts";
import { smallBody } from "../http/body-limit.ts";
import { bearer, createRouter, errorResponses, requestIdHeader } from "../http/openapi.ts";
import { cursorParam, pageOf } from "../http/pagination.ts";
import { auth, principalOf } from "./middleware.ts";
import { toUser, User } from "./schemas.ts";

const errors = ["UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "SERVICE_UNAVAILABLE"] as const;

const listUsersRoute = createRoute({
  method: "get",
  path: "/users",
  tags: ["Admin"],
  summary: "Accounts",
  description: "Newest first, by cursor. Admin only.",
  security: bearer,
  request: {
    query: z.object({
      cursor: z.string().max(200).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ description: "1–100, default 50" }),
    }),
  },
  responses: {
    200: {
      description: "A page of accounts",
      headers: requestIdHeader,
      content: { "application/json": { schema: z.object({ users: z.array(User), next_cursor: z.string().nullable() }).openapi("UserPage") } },
    },
    ...errorResponses("INVALID_REQUEST", ...errors),
  },
});

const updateUserRoute = createRoute({
  method: "patch",
  path: "/users/{id}",
  tags: ["Admin"],
  summary: "Deactivate or reactivate an account",
  description:
    "`is_active: false`: the account cannot sign in (401 USER_INACTIVE) and its tokens and API keys stop working on every instance at once. " +
    "The admin cannot deactivate itself. Admin only.",
  security: bearer,
  request: {
    params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }),
    body: { required: true, content: { "application/json": { schema: z.object({ is_active: z.boolean() }).openapi("UserUpdate") } } },
  },
  responses: {
    200: { description: "The account as it is now", headers: requestIdHeader, content: { "application/json": { schema: User } } },
    ...errorResponses("INVALID_REQUEST", ...errors, "USER_NOT_FOUND", "PAYLOAD_TOO_LARGE"),
  },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const adminOnly = auth({ required: true, tokenOnly: true, admin: true });

export const adminRoutes = createRouter()
  .openapi({ ...listUsersRoute, middleware: [adminOnly] as const }, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await c.var.deps.accounts.users.list(cursorParam(cursor), limit + 1);
    const { page, nextCursor } = pageOf(rows, limit);
    return c.json({ users: page.map(toUser), next_cursor: nextCursor }, 200);
  })

  .openapi({ ...updateUserRoute, middleware: [adminOnly, smallBody] as const }, async (c) => {
    const id = c.req.valid("param").id.toLowerCase();
    const { is_active } = c.req.valid("json");
    if (!UUID.test(id)) throw new ApiError("USER_NOT_FOUND", "No such user");
    if (id === principalOf(c)!.user.id && !is_active) throw new ApiError("INVALID_REQUEST", "The admin cannot deactivate itself", { field: "is_active" });
    const user = await c.var.deps.accounts.service.setActive(id, is_active);
    if (!user) throw new ApiError("USER_NOT_FOUND", "No such user");
    return c.json(toUser(user), 200);
  });
