import type { Principal } from "./accounts/authenticator.ts";
import type { Deps } from "./deps.ts";

/**
 * The one Hono environment every router uses: dependencies, the request id, the client's
 * address once something has resolved it (see `clientOf` in http/client-ip.ts), and who the
 * request acts for once the auth middleware has run (see accounts/middleware.ts).
 */
export type AppEnv = {
  Variables: { deps: Deps; requestId: string; clientIp: string | undefined; auth: Principal | undefined };
  Bindings: { server?: { requestIP(req: Request): { address: string } | null } };
};
