import type { Server } from "bun";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { App } from "./app.ts";
import type { HotRoutes } from "./images/hot-path.ts";
import type { Config } from "./config.ts";
import { ApiError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { StartupError } from "./startup-error.ts";

const HOST_LOOKUP_TIMEOUT_MS = 5_000;

/**
 * The Bun.serve options for the app: what main.ts serves, and what the tests that need a real
 * socket serve (so they test exactly this configuration).
 */
export function serveOptions(config: Pick<Config, "PORT" | "HOST" | "REQUEST_TIMEOUT_SECONDS" | "WORKERS">, app: App, logger: Logger, hot?: HotRoutes) {
  return {
    port: config.PORT,
    hostname: config.HOST,
    // WORKERS > 1: every worker listens on the same port and the kernel spreads connections.
    reusePort: config.WORKERS > 1,
    // The hottest route first, through Bun's router (images/hot-path.ts); everything else is the app's.
    ...(hot ? { routes: hot } : {}),
    fetch: app.fetch,
    // Idle connections and slow clients are cut off (config refuses more than Bun's 255 s).
    idleTimeout: config.REQUEST_TIMEOUT_SECONDS,
    // Bun answers a body over this limit by itself: a bare 413 with no body, before the app sees
    // the request. Out of reach, every request reaches the app and every refusal is our envelope:
    // the upload route refuses while streaming (FILE_TOO_LARGE, reading at most the limit plus
    // framing), and a body no route reads is discarded by Bun as it arrives, never buffered.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Only reached if the app itself throws outside Hono's error handling; still the envelope.
    error(err: Error) {
      const requestId = crypto.randomUUID();
      logger.error("unhandled server error", { request_id: requestId, error: err.stack ?? err.message });
      const body = new ApiError("INTERNAL_ERROR", "Internal server error", { request_id: requestId }).body();
      return Response.json(body, { status: 500, headers: { "X-Request-Id": requestId } });
    },
  };
}

/**
 * Throws a StartupError when HOST does not resolve. Bun would report it as "Is port 0 in use?",
 * and only after the database and Redis were set up; main.ts calls this first.
 */
export async function assertHostResolves(config: Pick<Config, "HOST">): Promise<void> {
  if (isIP(config.HOST) === 0) {
    const resolved = await Promise.race([
      lookup(config.HOST).then(() => undefined, (e: NodeJS.ErrnoException) => e.code ?? e.message),
      Bun.sleep(HOST_LOOKUP_TIMEOUT_MS).then(() => "lookup timed out"),
    ]);
    if (resolved) throw new StartupError(`HOST=${JSON.stringify(config.HOST)} cannot be resolved (${resolved}); use an IP address such as 0.0.0.0 or 127.0.0.1, or a name this machine resolves`);
  }
}

/** Listens, or throws a StartupError naming what is wrong with HOST or PORT. */
export function listen(config: Config, app: App, logger: Logger, hot?: HotRoutes): Server<undefined> {
  try {
    return Bun.serve(serveOptions(config, app, logger, hot));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${config.HOST}:${config.PORT}`;
    if (code === "EADDRINUSE") throw new StartupError(`cannot listen on ${where}: port ${config.PORT} is already in use (EADDRINUSE); stop the other process or set PORT`);
    if (code === "EADDRNOTAVAIL") throw new StartupError(`cannot listen on ${where}: HOST is not an address of this machine (EADDRNOTAVAIL)`);
    if (code === "EACCES") throw new StartupError(`cannot listen on ${where}: permission denied (EACCES); ports below 1024 need privileges`);
    throw new StartupError(`cannot listen on ${where}: ${(err as Error).message.split("\n")[0]}${code ? ` (${code})` : ""}`);
  }
}
