// The account routes' contract (/api/v1/auth/*): request and response schemas and the route
// declarations. Wire-compatible with the seed system's, in chitram's error envelope.
import { createRoute, z } from "@hono/zod-openapi";
import type { UserRow } from "../db/schema.ts";
import { bearer, errorResponses, requestIdHeader } from "../http/openapi.ts";
import type { CachedUser } from "./user-cache.ts";

export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 128;

/** Trimmed and lower-cased before it is checked: `" Ann@Example.COM "` is `ann@example.com`. */
export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .check(z.email())
  .openapi({ description: "Compared case-insensitively (stored lower-cased, trimmed)", example: "ann@example.com" });

const NewPassword = z.string().min(MIN_PASSWORD_CHARS).max(MAX_PASSWORD_CHARS).openapi({ example: "correct horse battery staple" });
// Any password up to the longest one registration accepts; a longer one cannot match.
const GivenPassword = z.string().min(1).max(MAX_PASSWORD_CHARS);

export const User = z
  .object({
    id: z.uuid(),
    email: z.string().openapi({ example: "ann@example.com" }),
    is_active: z.boolean(),
    is_admin: z.boolean().openapi({ description: "The first account is the admin: it can deactivate users and delete any image" }),
    created_at: z.iso.datetime().openapi({ example: "2026-11-28T22:05:30.433Z" }),
  })
  .openapi("User");

export const toUser = (u: CachedUser | UserRow): z.infer<typeof User> => ({
  id: u.id,
  email: u.email,
  is_active: u.isActive,
  is_admin: u.isAdmin,
  created_at: u.createdAt.toISOString(),
});

export const Token = z
  .object({
    access_token: z.string().openapi({ description: "A JWT (HS256): send it as `Authorization: Bearer <access_token>`" }),
    token_type: z.literal("bearer"),
    expires_in: z.number().int().positive().openapi({ description: "Seconds until the token expires (JWT_EXPIRE_MINUTES)", example: 86400 }),
  })
  .openapi("Token");

export const AuthResponse = Token.extend({ user: User }).openapi("AuthResponse");

const Credentials = z.object({ email: Email, password: GivenPassword }).openapi("Credentials");
const Registration = z.object({ email: Email, password: NewPassword }).openapi("Registration");

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } }, required: true });

export const registerRoute = createRoute({
  method: "post",
  path: "/register",
  tags: ["Accounts"],
  summary: "Create an account",
  description:
    "The first account becomes the admin. After that, registration is closed (403 REGISTRATION_CLOSED) unless the server has " +
    "REGISTRATION_ENABLED=true. The password is 8–128 characters; the email is compared case-insensitively.",
  request: { body: json(Registration) },
  responses: {
    201: { description: "Created and signed in", headers: requestIdHeader, content: { "application/json": { schema: AuthResponse } } },
    ...errorResponses("INVALID_REQUEST", "EMAIL_EXISTS", "REGISTRATION_CLOSED", "PAYLOAD_TOO_LARGE", "RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE"),
  },
});

export const loginRoute = createRoute({
  method: "post",
  path: "/login",
  tags: ["Accounts"],
  summary: "Sign in",
  description:
    "An unknown email and a wrong password get the same answer (401 INVALID_CREDENTIALS) after the same work. " +
    "Attempts are limited per client address and per account (429 with Retry-After).",
  request: { body: json(Credentials) },
  responses: {
    200: { description: "Signed in", headers: requestIdHeader, content: { "application/json": { schema: AuthResponse } } },
    ...errorResponses("INVALID_REQUEST", "INVALID_CREDENTIALS", "USER_INACTIVE", "PAYLOAD_TOO_LARGE", "RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE"),
  },
});

const PasswordForm = z
  .object({
    username: Email.openapi({ description: "The account's email" }),
    password: GivenPassword,
    grant_type: z.literal("password").optional(),
    scope: z.string().max(1000).optional().openapi({ description: "Ignored: a token may do everything its user may" }),
    client_id: z.string().max(1000).optional(),
    client_secret: z.string().max(1000).optional(),
  })
  .openapi("PasswordForm");

export const tokenRoute = createRoute({
  method: "post",
  path: "/token",
  tags: ["Accounts"],
  summary: "Sign in (OAuth2 password form)",
  description: "`application/x-www-form-urlencoded` with `username` (the email) and `password`, as OAuth2 clients and Swagger UI's Authorize send it. Same rules as /login.",
  request: { body: { content: { "application/x-www-form-urlencoded": { schema: PasswordForm } }, required: true } },
  responses: {
    200: { description: "Signed in", headers: requestIdHeader, content: { "application/json": { schema: Token } } },
    ...errorResponses("INVALID_REQUEST", "INVALID_CREDENTIALS", "USER_INACTIVE", "PAYLOAD_TOO_LARGE", "RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE"),
  },
});

export const meRoute = createRoute({
  method: "get",
  path: "/me",
  tags: ["Accounts"],
  summary: "The signed-in user",
  description: "With an API key, it needs the `read` scope.",
  security: bearer,
  responses: {
    200: { description: "The user behind the token or key", headers: requestIdHeader, content: { "application/json": { schema: User } } },
    ...errorResponses("UNAUTHORIZED", "USER_INACTIVE", "FORBIDDEN", "SERVICE_UNAVAILABLE"),
  },
});

export const PASSWORD_RESET_MESSAGE = "If an account exists for this email, password reset instructions have been sent.";

export const passwordResetRoute = createRoute({
  method: "post",
  path: "/password-reset",
  tags: ["Accounts"],
  summary: "Ask for a password reset",
  description: "Always 202 with the same message, whether or not the email has an account. This server has no mailer: nothing is sent (its log says so).",
  request: { body: json(z.object({ email: Email }).openapi("PasswordResetRequest")) },
  responses: {
    202: {
      description: "Accepted",
      headers: requestIdHeader,
      content: { "application/json": { schema: z.object({ message: z.string().openapi({ example: PASSWORD_RESET_MESSAGE }) }).openapi("PasswordResetResponse") } },
    },
    ...errorResponses("INVALID_REQUEST", "PAYLOAD_TOO_LARGE", "RATE_LIMIT_EXCEEDED"),
  },
});
