// Builds the real app over real dependencies for in-process HTTP tests, the way main.ts does.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle, type DatabaseOptions } from "../../src/db/client.ts";
import { buildDeps, type BuildOptions, type Deps } from "../../src/deps.ts";
import { createMemoryLogger } from "../../src/logger.ts";
import { TEST_DATABASE_URL } from "./services.ts";

export type DbKind = "pglite" | "postgres";

let pglite: Promise<DatabaseHandle> | undefined;
let pg: DatabaseHandle | undefined;

/** One in-memory PGlite per test process: initialising one takes seconds and ~1 GiB at peak. */
export function sharedPglite(): Promise<DatabaseHandle> {
  pglite ??= createPgliteDatabase(undefined);
  return pglite;
}

export function sharedPostgres(): DatabaseHandle {
  pg ??= createPostgresDatabase(TEST_DATABASE_URL);
  return pg;
}

export function database(kind: DbKind): Promise<DatabaseHandle> {
  return kind === "pglite" ? sharedPglite() : Promise.resolve(sharedPostgres());
}

export type Harness = {
  app: App;
  deps: Deps;
  dataDir: string;
  logs: string[];
  request(path: string, init?: RequestInit): Promise<Response>;
  upload(bytes: Uint8Array | Blob, filename?: string, type?: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
};

export type HarnessOptions = {
  db: DbKind | DatabaseHandle;
  env?: Record<string, string>;
  /** Open a private database handle with these options (e.g. counting queries) instead of the shared one. */
  databaseOptions?: DatabaseOptions;
  redisUrl?: string;
  redisStartupWaitMs?: number;
  /** More build options (e.g. invalidation channel tuning). */
  build?: Partial<BuildOptions>;
};

export async function createHarness(opts: HarnessOptions): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), "chitram-test-"));
  const config = loadConfig({
    DATA_DIR: dataDir,
    CACHE_ENABLED: opts.redisUrl ? "true" : "false",
    RATE_LIMIT_ENABLED: "false",
    // argon2id at its cheapest (~1 ms): accounts are made by the hundred. Timing tests raise it.
    PASSWORD_HASH_MEMORY_KIB: "1024",
    PASSWORD_HASH_TIME_COST: "1",
    // The shared databases have accounts from other tests: registration must stay open.
    REGISTRATION_ENABLED: "true",
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...opts.env,
  });
  let privateDb: DatabaseHandle | undefined;
  let db: DatabaseHandle;
  if (typeof opts.db !== "string") db = opts.db;
  else if (opts.databaseOptions) {
    privateDb = opts.db === "postgres" ? createPostgresDatabase(TEST_DATABASE_URL, opts.databaseOptions) : await createPgliteDatabase(undefined, opts.databaseOptions);
    db = privateDb;
  } else db = await database(opts.db);

  const logger = createMemoryLogger();
  const deps = await buildDeps(config, {
    database: db,
    logger,
    redisStartupWaitMs: opts.redisStartupWaitMs ?? 2_000,
    // Background work (reconciler, thumbnail jobs) is not started: tests drive it by hand.
    ...opts.build,
  });
  const app = createApp(deps);
  const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init));
  return {
    app,
    deps,
    dataDir,
    logs: logger.lines,
    request,
    upload(bytes, filename = "image.bin", type = "application/octet-stream", headers = {}) {
      const form = new FormData();
      form.append("file", bytes instanceof Blob ? bytes : new Blob([bytes], { type }), filename);
      return request("/api/v1/images/upload", { method: "POST", body: form, headers });
    },
    async close() {
      await deps.close();
      await privateDb?.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
