import { join } from "node:path";
import { createAccounts, type Accounts } from "./accounts/accounts.ts";
import { createDisabledCache, createRedisCache, createTieredCache, type Cache } from "./cache/cache.ts";
import { createMemoryTier, type MemoryTier } from "./cache/memory-tier.ts";
import { createRedisConnection, redisTopologyFromConfig, type RedisConnection, type RedisConnectionOptions } from "./cache/redis-connection.ts";
import type { Config } from "./config.ts";
import { createPgliteDatabase, createPostgresDatabase, type DatabaseHandle, type DatabaseOptions } from "./db/client.ts";
import { createLeases } from "./db/leases.ts";
import { createClientIpResolver, type ClientIpResolver } from "./http/client-ip.ts";
import { createRateLimiter, type RateLimiter } from "./http/rate-limit.ts";
import { createUploadSlots, type UploadSlots } from "./http/upload-slots.ts";
import { createImageLookup, imageCacheKey, type ImageLookup } from "./images/image-cache.ts";
import { createImagesRepo, type ImagesRepo } from "./images/repo.ts";
import { createImageService, type ImageService } from "./images/service.ts";
import { createInvalidations, type Invalidations, type InvalidationsOptions } from "./invalidation/invalidations.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { createLocalStorage } from "./storage/local.ts";
import { createReconciler, type Reconciler } from "./storage/reconciler.ts";
import { createS3Storage } from "./storage/s3.ts";
import type { Storage } from "./storage/types.ts";
import { createTagsRepo, type TagsRepo } from "./tags/repo.ts";
import { createThumbnailJobs, type ThumbnailJobs } from "./thumbnails/jobs.ts";
import { createThumbnailPool, type ThumbnailPool } from "./thumbnails/pool.ts";
import { createThumbnailRunner, type ThumbnailRunner } from "./thumbnails/runner.ts";
import { StartupError } from "./startup-error.ts";
import { VERSION } from "./version.ts";
import type { SessionReader } from "./web/session.ts";

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
  /** The in-process cache tier (L1); `enabled` is false when CACHE_L1_MAX_ENTRIES=0 or the cache is off. */
  memory: MemoryTier;
  metrics: Metrics;
  invalidations: Invalidations;
  images: ImageLookup;
  imageService: ImageService;
  /** Users, tokens, API keys, sign-in limits. */
  accounts: Accounts;
  tags: TagsRepo;
  storage: Storage;
  reconciler: Reconciler;
  thumbnailJobs: ThumbnailJobs;
  thumbnailPool: ThumbnailPool;
  thumbnails: ThumbnailRunner;
  rateLimiter: RateLimiter;
  uploadSlots: UploadSlots;
  clientIp: ClientIpResolver;
  /** Finds the session behind a session cookie (pages, CSRF guard, the API routes' auth): `accounts.sessions`. */
  sessions: SessionReader;
  /**
   * Starts the background work (storage reconciler, thumbnail jobs) once the server is up: a
   * process that fails to start never takes a job. Tests drive them by hand instead.
   */
  startBackground(): void;
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
  /** Metrics to record into (default: a fresh registry). */
  metrics?: Metrics;
};

const CHANNEL_STARTUP_WAIT_MS = 5_000;
const STORAGE_STARTUP_WAIT_MS = 5_000;

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

/**
 * The thumbnail Worker's entry point, resolved from this file because it sits at the root of
 * src/: from source that is src/thumbnails/worker.ts; in the compiled binary every bundled module
 * reports the binary's own URL (/$bunfs/root/chitram) and each entry point lives under it by its
 * path relative to src/ (/$bunfs/root/thumbnails/worker.ts). A URL made in pool.ts would be right
 * from source only.
 */
export const THUMBNAIL_WORKER_URL = new URL("./thumbnails/worker.ts", import.meta.url);

export async function buildDeps(config: Config, opts: BuildOptions = {}): Promise<Deps> {
  const logger = opts.logger ?? createLogger({ debug: config.CACHE_DEBUG });
  const instanceId = crypto.randomUUID();
  const metrics = opts.metrics ?? createMetrics();
  const storage = await openStorage(config);
  const databaseOptions = { queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_SECONDS * 1000, observeQuery: metrics.query, ...opts.databaseOptions };
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
  const invalidations = createInvalidations(database, logger, { instanceId, ttlSeconds: config.CACHE_TTL_SECONDS, onHeartbeat: metrics.heartbeatRtt, ...opts.invalidations });
  invalidations.log.onInvalidate(() => metrics.invalidationHeard());
  // Subscribed to the log before the channel starts: it must hear every invalidation.
  const memory = createMemoryTier(invalidations.log, {
    maxEntries: config.CACHE_ENABLED ? config.CACHE_L1_MAX_ENTRIES : 0,
    maxBytes: Math.floor(config.CACHE_L1_MAX_MB * 1024 * 1024),
    ttlMs: config.CACHE_L1_TTL_SECONDS * 1000,
  });
  await invalidations.start(CHANNEL_STARTUP_WAIT_MS);

  // One Redis connection for the cache and the rate limiter, unless neither wants it.
  let redis: RedisConnection | undefined;
  if (config.CACHE_ENABLED || config.RATE_LIMIT_ENABLED) {
    redis = createRedisConnection(redisTopologyFromConfig(config), logger, {
      onBreaker: (open) => metrics.breakerTransition(open ? "open" : "closed"),
      ...opts.redis,
    });
  }
  const redisCache =
    config.CACHE_ENABLED && redis
      ? createRedisCache(redis, invalidations.log, logger, {
          ttlSeconds: config.CACHE_TTL_SECONDS,
          debug: config.CACHE_DEBUG,
          prefix: config.CACHE_KEY_PREFIX,
          events: metrics.cache,
        })
      : createDisabledCache();
  const cache = memory.enabled ? createTieredCache(memory, redisCache, invalidations.log, metrics.cache) : redisCache;
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
  const accounts = await createAccounts({ config, database, cache, invalidations, redis, logger });
  const reconciler = createReconciler(storage, repo, createLeases(database), logger, {
    graceMs: config.RECONCILE_GRACE_SECONDS * 1000,
    intervalMs: config.RECONCILE_INTERVAL_SECONDS * 1000,
    holder: instanceId,
  });

  const thumbnailJobs = createThumbnailJobs(database, imageCacheKey(config.CACHE_KEY_PREFIX, ""));
  const thumbnailPool = createThumbnailPool({ size: config.THUMBNAIL_WORKERS, maxPixels: config.MAX_IMAGE_PIXELS, workerUrl: THUMBNAIL_WORKER_URL });
  const thumbnails = createThumbnailRunner(
    { jobs: thumbnailJobs, pool: thumbnailPool, storage, invalidations, logger },
    {
      holder: instanceId,
      timeoutMs: config.THUMBNAIL_JOB_TIMEOUT_SECONDS * 1000,
      maxAttempts: config.THUMBNAIL_MAX_ATTEMPTS,
    },
  );

  const uploadSlots = createUploadSlots(config.UPLOAD_CONCURRENCY_LIMIT, config.UPLOAD_CONCURRENCY_TIMEOUT * 1000);
  metrics.setSources({
    l1: memory,
    breakerOpen: () => redis !== undefined && config.CACHE_ENABLED && redis.state() !== "connected",
    channelLive: () => invalidations.log.live(),
    outboxBacklog: () => invalidations.outbox.backlog(),
    thumbnailJobs: () => thumbnailJobs.counts(),
    dbPool: database.run,
    uploadSlots,
  });

  return {
    config,
    version: VERSION,
    instanceId,
    logger,
    database,
    repo,
    cache,
    memory,
    metrics,
    invalidations,
    images,
    imageService: createImageService({
      config,
      repo,
      storage,
      images,
      invalidations,
      logger,
      insertBudgetMs: 2 * database.queryTimeoutMs,
      onJobQueued: thumbnails.wake,
    }),
    accounts,
    tags: createTagsRepo(database),
    storage,
    reconciler,
    thumbnailJobs,
    thumbnailPool,
    thumbnails,
    rateLimiter,
    uploadSlots,
    clientIp: createClientIpResolver(config.TRUSTED_PROXIES),
    sessions: async (value) => (await accounts.sessions.read(value)) ?? null,
    startBackground() {
      reconciler.start();
      thumbnails.start();
    },
    async close() {
      await thumbnails.close();
      await reconciler.close();
      rateLimiter.close();
      accounts.close();
      await invalidations.close();
      await cache.close();
      await redis?.close();
      if (!opts.database) await database.close();
    },
  };
}
