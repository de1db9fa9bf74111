import { createApp } from "./app.ts";
import { CONFIG_HELP, ConfigError, loadConfig, type Config } from "./config.ts";
import { prepareDataDir } from "./data-dir.ts";
import { buildDeps, type Deps } from "./deps.ts";
import { createLogger } from "./logger.ts";
import { hotRoutes } from "./images/hot-path.ts";
import { listenMetrics } from "./metrics/routes.ts";
import { assertHostResolves, listen } from "./server.ts";
import { describeStartupError } from "./startup-error.ts";
import { VERSION } from "./version.ts";
import { WORKER_ENV } from "./workers/messages.ts";
import { runSupervisor } from "./workers/supervisor.ts";
import { linkToSupervisor } from "./workers/worker-link.ts";

const USAGE = [
  "Usage: chitram [--help | --version]   (configuration comes from environment variables; see --help)",
  "       chitram thumbnails requeue [IMAGE_ID…]   re-queue failed thumbnail jobs (all, or these images')",
].join("\n");

const args = process.argv.slice(2);
// `thumbnails …` is a command of its own (checked where it runs); otherwise only these flags.
const unknown = args[0] === "thumbnails" ? [] : args.filter((a) => !["--help", "-h", "--version", "-v"].includes(a));
if (unknown.length > 0) {
  console.error(`chitram: unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}`);
  process.exit(2);
}
if (args.includes("--version") || args.includes("-v")) {
  console.log(`chitram ${VERSION}`);
  process.exit(0);
}
if (args.includes("--help") || args.includes("-h")) {
  console.log(`chitram ${VERSION}: self-hosted image hosting API\n\n${USAGE}\n\nConfiguration (environment variables, defaults shown):`);
  const width = Math.max(...CONFIG_HELP.map(([k]) => k.length));
  for (const [name, def, what] of CONFIG_HELP) console.log(`  ${name.padEnd(width)}  ${def}${what ? `  (${what})` : ""}`);
  process.exit(0);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`chitram: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

// Workers share the supervisor's stdout: their batches of log lines must stay within PIPE_BUF.
const logger = createLogger({ debug: config.CACHE_DEBUG, sharedStdout: config.WORKERS > 1 });

if (args[0] === "thumbnails") {
  if (args[1] !== "requeue") {
    console.error("chitram: usage: chitram thumbnails requeue [IMAGE_ID…]");
    process.exit(2);
  }
  const bad = args.slice(2).find((a) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(a));
  if (bad !== undefined) {
    console.error(`chitram: not an image id: ${JSON.stringify(bad)}`);
    process.exit(2);
  }
  // Against the same database and cache as the server; nothing is served and no job is run here.
  const deps = await buildDeps(config, { logger });
  try {
    const ids = await deps.thumbnails.requeue(args.length > 2 ? args.slice(2).map((a) => a.toLowerCase()) : "all-failed");
    console.log(`re-queued ${ids.length} thumbnail job(s)${ids.length ? `: ${ids.join(" ")}` : ""}`);
  } finally {
    await deps.close();
  }
  process.exit(0);
}

const worker = process.env[WORKER_ENV];
if (config.WORKERS > 1 && worker === undefined) {
  // This process supervises WORKERS server processes and serves nothing itself.
  try {
    await assertHostResolves(config);
    await runSupervisor(config, logger);
  } catch (err) {
    console.error(`chitram: ${describeStartupError(err, config)}`);
    process.exit(1);
  }
} else {
  await serve();
}

async function serve() {
  const startedAt = performance.now();
  let deps: Deps | undefined;
  let server: ReturnType<typeof listen>;
  let metricsServer: ReturnType<typeof Bun.serve> | undefined;
  try {
    await assertHostResolves(config);
    const lock = prepareDataDir(config);
    if (lock && !lock.guarded) logger.warn("cannot lock DATA_DIR (no flock on this platform); make sure only one chitram uses it");
    deps = await buildDeps(config, { logger });
    const app = createApp(deps);
    server = listen(config, app, logger, hotRoutes(deps, app));
    // With WORKERS > 1 the supervisor serves METRICS_PORT (the whole fleet's).
    if (config.METRICS_PORT !== undefined && worker === undefined) metricsServer = listenMetrics(config, () => deps!.metrics.render(), deps.metrics.contentType);
    deps.startBackground();
  } catch (err) {
    // One line, no stack: the operator reads what failed and where (`start-up failed: …` for the unforeseen).
    console.error(`chitram: ${describeStartupError(err, config)}`);
    await deps?.close().catch(() => {});
    process.exit(1);
  }
  logger.info("chitram listening", {
    url: server.url.href,
    ...(config.PUBLIC_URL ? { public_url: config.PUBLIC_URL } : {}),
    ...(worker !== undefined ? { worker: Number(worker), pid: process.pid } : {}),
    ...(metricsServer ? { metrics_url: `${metricsServer.url.href}metrics` } : {}),
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
    void metricsServer?.stop(true);
    const drained = server.stop(false).then(() => true);
    const inTime = await Promise.race([drained, Bun.sleep(timeoutMs).then(() => false)]);
    if (!inTime) {
      logger.warn("in-flight requests did not finish in time; closing them", { timeout_ms: timeoutMs });
      await server.stop(true);
    }
    await deps!.close().catch((err) => logger.error("error while closing", { error: String(err) }));
    logger.info("stopped");
    logger.flush?.();
    process.exit(0);
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  if (worker !== undefined) linkToSupervisor(deps.metrics, logger, () => void shutdown("supervisor gone")).ready();
}
