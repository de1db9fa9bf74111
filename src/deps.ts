import { createDisabledCache, createRedisCache, type Cache } from "./cache/cache.ts";
import { createRedisConnection, redisUrlFromConfig, type RedisConnection, type RedisConnectionOptions } from "./cache/redis-connection.ts";
import type { Config } from "./config.ts";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle, type DatabaseOptions } from "./db/client.ts";
import { createImagesRepo, type ImagesRepo } from "./images/repo.ts";
import { createClientIpResolver, type ClientIpResolver } from "./http/client-ip.ts";
import { createRateLimiter, type RateLimiter } from "./http/rate-limit.ts";
import { createUploadSlots, type UploadSlots } from "./http/upload-slots.ts";
import { createImageLookup, imageCacheKey, type ImageLookup } from "./images/image-cache.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createLocalStorage } from "./storage/local.ts";
import type { Storage } from "./storage/types.ts";
import { VERSION } from "./version.ts";
import { join } from "node:path";

/** Everything a request handler may use, built once at boot and injected into `createApp`. */
export type Deps = {
  config: Config;
  version: string;
  logger: Logger;
  database: DatabaseHandle;
  repo: ImagesRepo;
  cache: Cache;
  images: ImageLookup;
  storage: Storage;
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
};

export async function buildDeps(config: Config, opts: BuildOptions = {}): Promise<Deps> {
  const logger = opts.logger ?? createLogger({ debug: config.CACHE_DEBUG });
  const database =
    opts.database ??
    (config.DATABASE_URL
      ? createPostgresDatabase(config.DATABASE_URL, opts.databaseOptions)
      : await createPgliteDatabase(join(config.DATA_DIR, "pgdata"), opts.databaseOptions));
  try {
    await database.migrate();
  } catch (err) {
    if (!opts.database) await database.close().catch(() => {});
    throw err;
  }
  const repo = createImagesRepo(database.db, { maxInFlight: database.maxConnections });
  const storage = createLocalStorage(config.LOCAL_STORAGE_PATH);

  // One Redis connection for the cache and the rate limiter, unless neither wants it.
  let redis: RedisConnection | undefined;
  if (config.CACHE_ENABLED || config.RATE_LIMIT_ENABLED) {
    redis = createRedisConnection(redisUrlFromConfig(config), logger, opts.redis);
  }
  const cache =
    config.CACHE_ENABLED && redis
      ? createRedisCache(redis, logger, {
          ttlSeconds: config.CACHE_TTL_SECONDS,
          debug: config.CACHE_DEBUG,
          keyPattern: imageCacheKey(config.CACHE_KEY_PREFIX, "*"),
        })
      : createDisabledCache();
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

  return {
    config,
    version: VERSION,
    logger,
    database,
    repo,
    cache,
    images: createImageLookup(repo, cache, config.CACHE_KEY_PREFIX),
    storage,
    rateLimiter,
    uploadSlots: createUploadSlots(config.UPLOAD_CONCURRENCY_LIMIT, config.UPLOAD_CONCURRENCY_TIMEOUT * 1000),
    clientIp: createClientIpResolver(config.TRUSTED_PROXIES),
    async close() {
      rateLimiter.close();
      await redis?.close();
      if (!opts.database) await database.close();
    },
  };
}
