import type { Deps } from "./deps.ts";

/**
 * The one Hono environment every router uses: dependencies, the request id, and the client's
 * address once something has resolved it (see `clientOf` in http/client-ip.ts).
 */
export type AppEnv = {
  Variables: { deps: Deps; requestId: string; clientIp: string | undefined };
  Bindings: { server?: { requestIP(req: Request): { address: string } | null } };
};
