import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { smallBody } from "../http/body-limit.ts";
import { clientOf } from "../http/client-ip.ts";
import { createRouter } from "../http/openapi.ts";
import { auth, principalOf } from "./middleware.ts";
import { loginRoute, meRoute, PASSWORD_RESET_MESSAGE, passwordResetRoute, registerRoute, tokenRoute, toUser } from "./schemas.ts";
import type { SignedIn } from "./service.ts";

/** Per-client attempt limit, before the body is read (429 with Retry-After). */
const perClient = createMiddleware<AppEnv>(async (c, next) => {
  await c.var.deps.accounts.loginLimits.checkClient(clientOf(c));
  await next();
});

const authResponse = (s: SignedIn) => ({ user: toUser(s.user), access_token: s.accessToken, token_type: "bearer" as const, expires_in: s.expiresInSeconds });

/** /api/v1/auth/*: register, login, token (OAuth2 password form), me, password-reset. */
export const authRoutes = createRouter()
  .openapi({ ...registerRoute, middleware: [perClient, smallBody] as const }, async (c) => {
    const { email, password } = c.req.valid("json");
    const signedIn = await c.var.deps.accounts.service.register(email, password);
    return c.json(authResponse(signedIn), 201);
  })

  .openapi({ ...loginRoute, middleware: [perClient, smallBody] as const }, async (c) => {
    const { accounts } = c.var.deps;
    const { email, password } = c.req.valid("json");
    await accounts.loginLimits.checkAccount(email);
    return c.json(authResponse(await accounts.service.login(email, password)), 200);
  })

  .openapi({ ...tokenRoute, middleware: [perClient, smallBody] as const }, async (c) => {
    const { accounts } = c.var.deps;
    const { username, password } = c.req.valid("form");
    await accounts.loginLimits.checkAccount(username);
    const { accessToken, expiresInSeconds } = await accounts.service.login(username, password);
    return c.json({ access_token: accessToken, token_type: "bearer" as const, expires_in: expiresInSeconds }, 200);
  })

  .openapi({ ...meRoute, middleware: [auth({ required: true, scope: "read" })] as const }, (c) => c.json(toUser(principalOf(c)!.user), 200))

  .openapi({ ...passwordResetRoute, middleware: [perClient, smallBody] as const }, (c) => {
    c.req.valid("json"); // a malformed email is still a 400
    // No mailer: the answer never depends on whether the account exists, and nothing is sent.
    c.var.deps.logger.info("password reset requested; no mailer is configured, so nothing was sent");
    return c.json({ message: PASSWORD_RESET_MESSAGE }, 202);
  });
