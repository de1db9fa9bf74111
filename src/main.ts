import { createApp } from "./app.ts";
import { CONFIG_HELP, ConfigError, loadConfig } from "./config.ts";
import { buildDeps, StartupError } from "./deps.ts";
import { createLogger } from "./logger.ts";
import { VERSION } from "./version.ts";

const args = process.argv.slice(2);
if (args.includes("--version") || args.includes("-v")) {
  console.log(`chitram ${VERSION}`);
  process.exit(0);
}
if (args.includes("--help") || args.includes("-h")) {
  console.log(`chitram ${VERSION}: self-hosted image hosting API\n\nUsage: chitram [--help] [--version]\n\nConfiguration (environment variables, defaults shown):`);
  const width = Math.max(...CONFIG_HELP.map(([k]) => k.length));
  for (const [name, def, what] of CONFIG_HELP) console.log(`  ${name.padEnd(width)}  ${def}${what ? `  (${what})` : ""}`);
  process.exit(0);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`chitram: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

const logger = createLogger({ debug: config.CACHE_DEBUG });
const startedAt = performance.now();
const deps = await buildDeps(config, { logger }).catch((err) => {
  if (!(err instanceof StartupError)) throw err;
  console.error(`chitram: ${err.message}`);
  process.exit(1);
});
const app = createApp(deps);
const server = Bun.serve({
  port: config.PORT,
  hostname: config.HOST,
  fetch: app.fetch,
  // Idle connections and slow clients are cut off (Bun's maximum is 255 s).
  idleTimeout: Math.min(config.REQUEST_TIMEOUT_SECONDS, 255),
  maxRequestBodySize: config.maxFileBytes + 1024 * 1024,
});
logger.info("chitram listening", {
  url: server.url.href,
  version: VERSION,
  database: deps.database.kind,
  storage: deps.storage.backend,
  startup_ms: Math.round(performance.now() - startedAt),
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info("shutting down", { signal });
  const timeoutMs = config.SHUTDOWN_TIMEOUT_SECONDS * 1000;
  // Stop accepting; let in-flight requests finish, but not forever.
  const drained = server.stop(false).then(() => true);
  const inTime = await Promise.race([drained, Bun.sleep(timeoutMs).then(() => false)]);
  if (!inTime) {
    logger.warn("in-flight requests did not finish in time; closing them", { timeout_ms: timeoutMs });
    await server.stop(true);
  }
  await deps.close().catch((err) => logger.error("error while closing", { error: String(err) }));
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
