import { join } from "node:path";
import { createDisabledCache, createRedisCache, type Cache } from "./cache/cache.ts";
import { createRedisConnection, redisTopologyFromConfig, type RedisConnection, type RedisConnectionOptions } from "./cache/redis-connection.ts";
import type { Config } from "./config.ts";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle, type DatabaseOptions } from "./db/client.ts";
import { createLeases } from "./db/leases.ts";
import { createClientIpResolver, type ClientIpResolver } from "./http/client-ip.ts";
import { createRateLimiter, type RateLimiter } from "./http/rate-limit.ts";
import { createUploadSlots, type UploadSlots } from "./http/upload-slots.ts";
import { createImageLookup, type ImageLookup } from "./images/image-cache.ts";
import { createImagesRepo, type ImagesRepo } from "./images/repo.ts";
import { createImageService, type ImageService } from "./images/service.ts";
import { createInvalidations, type Invalidations, type InvalidationsOptions } from "./invalidation/invalidations.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createLocalStorage } from "./storage/local.ts";
import { createReconciler, type Reconciler } from "./storage/reconciler.ts";
import { createS3Storage } from "./storage/s3.ts";
import type { Storage } from "./storage/types.ts";
import { VERSION } from "./version.ts";

/** Everything a request handler may use, built once at boot and injected into `createApp`. */
export type Deps = {
  config: Config;
  version: string;
  /** Identifies this process among the fleet (leases, logs). */
  instanceId: string;
  logger: Logger;
  database: DatabaseHandle;
  repo: ImagesRepo;
  cache: Cache;
  invalidations: Invalidations;
  images: ImageLookup;
  imageService: ImageService;
  storage: Storage;
  reconciler: Reconciler;
  rateLimiter: RateLimiter;
  uploadSlots: UploadSlots;
  clientIp: ClientIpResolver;
  /** Closes what `buildDeps` opened, in reverse order. */
  close(): Promise<void>;
};

export type BuildOptions = {
  logger?: Logger;
  /** Use this database instead of opening one from the config (tests share one PGlite). */
  database?: DatabaseHandle;
  databaseOptions?: DatabaseOptions;
  redis?: RedisConnectionOptions;
  /** How long start-up waits for Redis before serving without the cache. */
  redisStartupWaitMs?: number;
  /** Tuning of the invalidation channel and relay (tests shorten the heartbeat). */
  invalidations?: Partial<InvalidationsOptions>;
  /** Start the periodic storage reconciler (default true; tests run it by hand). */
  reconcile?: boolean;
};

const CHANNEL_STARTUP_WAIT_MS = 5_000;
const STORAGE_STARTUP_WAIT_MS = 5_000;

/** A start-up failure to report in one line (main prints it and exits 1). */
export class StartupError extends Error {
  override name = "StartupError";
}

/** The configured storage; an object store is checked for reachability first. */
async function openStorage(config: Config): Promise<Storage> {
  if (config.STORAGE_BACKEND === "local") return createLocalStorage(config.LOCAL_STORAGE_PATH);
  const storage = createS3Storage({
    endpoint: config.S3_ENDPOINT,
    bucket: config.S3_BUCKET!,
    region: config.S3_REGION,
    accessKeyId: config.S3_ACCESS_KEY_ID!,
    secretAccessKey: config.S3_SECRET_ACCESS_KEY!,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    prefix: config.S3_PREFIX,
  });
  const problem = await Promise.race([storage.check(), Bun.sleep(STORAGE_STARTUP_WAIT_MS).then(() => `no answer within ${STORAGE_STARTUP_WAIT_MS} ms`)]);
  if (problem) {
    throw new StartupError(`S3 bucket "${config.S3_BUCKET}" at ${config.S3_ENDPOINT ?? "the AWS endpoint"} is not reachable (${problem}); check S3_ENDPOINT, S3_BUCKET and the credentials`);
  }
  return storage;
}

export async function buildDeps(config: Config, opts: BuildOptions = {}): Promise<Deps> {
  const logger = opts.logger ?? createLogger({ debug: config.CACHE_DEBUG });
  const instanceId = crypto.randomUUID();
  const storage = await openStorage(config);
  const databaseOptions = { queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_SECONDS * 1000, ...opts.databaseOptions };
  const database =
    opts.database ??
    (config.DATABASE_URL
      ? createPostgresDatabase(config.DATABASE_URL, databaseOptions)
      : await createPgliteDatabase(join(config.DATA_DIR, "pgdata"), databaseOptions));
  try {
    await database.migrate();
  } catch (err) {
    if (!opts.database) await database.close().catch(() => {});
    throw err;
  }
  const repo = createImagesRepo(database);

  // Invalidations first: the caches must not serve a hit before this instance hears every
  // committed invalidation (caught up from the outbox).
  const invalidations = createInvalidations(database, logger, { ttlSeconds: config.CACHE_TTL_SECONDS, ...opts.invalidations });
  await invalidations.start(CHANNEL_STARTUP_WAIT_MS);

  // One Redis connection for the cache and the rate limiter, unless neither wants it.
  let redis: RedisConnection | undefined;
  if (config.CACHE_ENABLED || config.RATE_LIMIT_ENABLED) {
    redis = createRedisConnection(redisTopologyFromConfig(config), logger, opts.redis);
  }
  const cache =
    config.CACHE_ENABLED && redis
      ? createRedisCache(redis, invalidations.log, logger, {
          ttlSeconds: config.CACHE_TTL_SECONDS,
          debug: config.CACHE_DEBUG,
          prefix: config.CACHE_KEY_PREFIX,
        })
      : createDisabledCache();
  invalidations.attachCache(cache);
  if (redis) await redis.ready(opts.redisStartupWaitMs ?? 1_000);
  if (!config.CACHE_ENABLED) logger.info("Cache disabled (CACHE_ENABLED=false); metadata reads go to the database");

  const rateLimiter = createRateLimiter(
    {
      enabled: config.RATE_LIMIT_ENABLED,
      limit: config.RATE_LIMIT_PER_MINUTE,
      windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
      keyPrefix: config.CACHE_KEY_PREFIX,
    },
    redis,
    logger,
  );

  const images = createImageLookup(repo, cache, invalidations.log, config.CACHE_KEY_PREFIX);
  const reconciler = createReconciler(storage, repo, createLeases(database), logger, {
    graceMs: config.RECONCILE_GRACE_SECONDS * 1000,
    intervalMs: config.RECONCILE_INTERVAL_SECONDS * 1000,
    holder: instanceId,
  });
  if (opts.reconcile ?? true) reconciler.start();

  return {
    config,
    version: VERSION,
    instanceId,
    logger,
    database,
    repo,
    cache,
    invalidations,
    images,
    imageService: createImageService({ config, repo, storage, images, invalidations, logger }),
    storage,
    reconciler,
    rateLimiter,
    uploadSlots: createUploadSlots(config.UPLOAD_CONCURRENCY_LIMIT, config.UPLOAD_CONCURRENCY_TIMEOUT * 1000),
    clientIp: createClientIpResolver(config.TRUSTED_PROXIES),
    async close() {
      await reconciler.close();
      rateLimiter.close();
      await invalidations.close();
      await cache.close();
      await redis?.close();
      if (!opts.database) await database.close();
    },
  };
}
