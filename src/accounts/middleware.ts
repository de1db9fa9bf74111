import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";
import type { Scope } from "./api-keys.ts";
import { unauthorized, type Principal } from "./authenticator.ts";

export type AuthRule = {
  /** Without credentials: 401 (true) or anonymous (false). */
  required: boolean;
  /** What an API key must be allowed to do here (a JWT may do everything). */
  scope?: Scope;
  /** Only a signed-in user's token (JWT), never an API key: managing keys, administration. */
  tokenOnly?: boolean;
  admin?: boolean;
};

/** The principal the auth middleware resolved; undefined for anonymous requests. */
export const principalOf = (c: { var: { auth: Principal | undefined } }) => c.var.auth;

/** Authenticates the request (see Authenticator) and enforces `rule` before the handler or any body is read. */
export function auth(rule: AuthRule) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = await c.var.deps.accounts.authenticator.authenticate(c.req.header("authorization"));
    c.set("auth", principal);
    if (!principal) {
      if (rule.required) throw unauthorized("Not authenticated");
      return next();
    }
    if (rule.tokenOnly && principal.via === "api_key") {
      throw new ApiError("FORBIDDEN", "This needs a signed-in user's token, not an API key", { required: "user_token" });
    }
    if (rule.scope && !principal.scopes.has(rule.scope)) {
      throw new ApiError("FORBIDDEN", `This API key lacks the '${rule.scope}' scope`, { required_scope: rule.scope });
    }
    if (rule.admin && !principal.user.isAdmin) throw new ApiError("FORBIDDEN", "Only the admin can do this");
    return next();
  });
}
