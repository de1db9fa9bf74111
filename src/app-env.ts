import type { Principal } from "./accounts/authenticator.ts";
import type { Deps } from "./deps.ts";
import type { Session } from "./web/session.ts";

/**
/**
 * The one Hono environment every router uses: dependencies, the request id, the client's
 * address once something has resolved it (see `clientOf` in http/client-ip.ts), who the
 * request acts for once the auth middleware has run (see accounts/middleware.ts), and the
 * browser's session once something has looked it up (`currentSession` in web/session.ts; null:
 * nobody).
 */
export type AppEnv = {
  Variables: { deps: Deps; requestId: string; clientIp: string | undefined; auth: Principal | undefined; session: Session | null | undefined };
  Bindings: { server?: { requestIP(req: Request): { address: string } | null } };
};
