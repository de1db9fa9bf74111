import type { Deps } from "./deps.ts";

/** The one Hono environment every router uses: dependencies and the request id on the context. */
export type AppEnv = {
  Variables: { deps: Deps; requestId: string };
  Bindings: { server?: { requestIP(req: Request): { address: string } | null } };
};
