// The scenarios: which server wrk loads with which script, and the hooks that put the system in
// the state a scenario measures (cache warm, Redis killed or frozen) and confirm it is there.
import type { Fixtures } from "./fixtures.ts";
import { inParallel } from "./measure.ts";
import { cacheState, waitForCacheState, type BenchRedis, type Server } from "./services.ts";

const API = "/api/v1/images";

export type Kind = "metadata" | "download" | "upload";

/** What wrk is pointed at. */
export type Load = {
  server: Server;
  url: string;
  script: "random-path.lua" | "upload.lua";
  args: string[];
  timeoutSeconds: number;
};

/** One note per label, e.g. { "X-Cache": "HIT 20/20" }. */
export type Notes = Record<string, string>;

export type Scenario = {
  key: string;
  label: string;
  kind: Kind;
  /** Key of the scenario this one is compared with. */
  ceiling?: string;
  /** Bytes of the uploaded file, for MB/s. */
  uploadBytes?: number;
  load: Load;
  /** Before the warm-up: bring the system into this scenario's state. */
  setUp?: () => Promise<void>;
  /** After the warm-up, before measuring: confirm the state. */
  check?: () => Promise<Notes>;
  /** Starts observing right before the measured run; the returned function ends it. */
  observe?: () => Promise<() => Promise<Notes>>;
  /** After measuring: undo what setUp did. */
  tearDown?: () => Promise<void>;
};

export type Context = {
  redis: BenchRedis;
  ceiling: Server;
  /** PostgreSQL + Redis cache: HIT, Redis dead/frozen, downloads, uploads. */
  cached: Server;
  /** Same PostgreSQL database, CACHE_ENABLED=false. */
  uncached: Server;
  /** Embedded PGlite, CACHE_ENABLED=false, its own images. */
  pglite: Server;
  /** PostgreSQL + Redis cache, STORAGE_BACKEND=s3 on s3rver. */
  s3Cached: Server;
  /** As `cached`, with the in-process tier off (CACHE_L1_MAX_ENTRIES=0): hits come from Redis. */
  l2Only: Server;
  /** As `cached`, with ACCESS_LOG=false. */
  noLog: Server;
  /** As `cached`, with WORKERS=2 (a supervisor and two server processes on one port). */
  workers2: Server;
  /** The S3 server (s3rver, its own process). */
  s3rver: Server;
  pgIds: string[];
  pgliteIds: string[];
  files: { pgIds: string; pgliteIds: string; id10k: string; id1m: string; id10kS3: string; id1mS3: string; s3Direct10k: string; s3Direct1m: string; ceil10k: string; ceil1m: string; uploadBody: string };
  uploadBoundary: string;
  fixtures: Fixtures;
};

export function defineScenarios(ctx: Context): Scenario[] {
  const { ceiling, cached, uncached, pglite, s3Cached, l2Only, noLog, workers2, files, redis } = ctx;
  const randomPath = (server: Server, idsFile: string, prefix: string, suffix = ""): Load => ({
    server,
    url: server.url,
    script: "random-path.lua",
    args: suffix ? [idsFile, prefix, suffix] : [idsFile, prefix],
    timeoutSeconds: 5,
  });
  const metadata = (server: Server, idsFile: string) => randomPath(server, idsFile, `${API}/`);
  const xCache = (server: Server, ids: string[]) => async (): Promise<Notes> => ({ "X-Cache": await sampleXCache(server, ids) });
  const cacheStatus = (server: Server, ids: string[]) => async (): Promise<Notes> => ({ "Cache-Status": await sampleXCache(server, ids, 20, "cache-status") });
  /** A HIT run from the in-process tier: warm, confirm, and count what reached Redis meanwhile. */
  const l1Hit = (key: string, label: string, server: Server): Scenario => ({
    key,
    label,
    kind: "metadata",
    ceiling: "ceiling-json",
    load: metadata(server, files.pgIds),
    async setUp() {
      await redis.start();
      await waitForCacheState(server, "connected");
      await warmCache(server, ctx.pgIds);
    },
    check: cacheStatus(server, ctx.pgIds),
    async observe() {
      const before = await redis.stats();
      return async () => {
        const after = await redis.stats();
        return { "Redis commands during the run": String((after.total_commands_processed ?? 0) - (before.total_commands_processed ?? 0)) };
      };
    },
  });
  const redisUp = async () => {
    // Every scenario but dead/frozen starts with Redis up and chitram's breaker closed.
    await redis.start();
    await waitForCacheState(cached, "connected");
  };

  /** A file download through chitram and its ceiling: the same file from a bare Bun.serve. */
  const download = (size: string, path: string, ceilingNamesFile: string, chitramIdsFile: string): Scenario[] => [
    { key: `ceiling-file-${size}`, label: `ceiling: Bun.file ${sizeLabel(path)}`, kind: "download", load: randomPath(ceiling, ceilingNamesFile, "/file/") },
    {
      key: `file-${size}`,
      label: `download ${sizeLabel(path)} via chitram`,
      kind: "download",
      ceiling: `ceiling-file-${size}`,
      load: randomPath(cached, chitramIdsFile, `${API}/`, "/file"),
      setUp: redisUp,
    },
  ];

  return [
    { key: "ceiling-json", label: "ceiling: Bun.serve JSON", kind: "metadata", load: randomPath(ceiling, files.pgIds, "/meta/") },
    l1Hit("cache-hit", "metadata, cache HIT from L1 (in-process; access log on)", cached),
    l1Hit("cache-hit-nolog", "metadata, cache HIT from L1, ACCESS_LOG=false", noLog),
    l1Hit("cache-hit-w2", "metadata, cache HIT from L1, WORKERS=2", workers2),
    {
      key: "cache-hit-l2",
      label: "metadata, cache HIT from L2 only (Redis; L1 off)",
      kind: "metadata",
      ceiling: "ceiling-json",
      load: metadata(l2Only, files.pgIds),
      async setUp() {
        await redis.start();
        await waitForCacheState(l2Only, "connected");
        await warmCache(l2Only, ctx.pgIds); // a HIT run must not measure misses
      },
      check: cacheStatus(l2Only, ctx.pgIds),
      async observe() {
        // Redis' own counters tell whether every request of the run really was a hit.
        const before = await redis.stats();
        return async () => {
          const after = await redis.stats();
          const hits = (after.keyspace_hits ?? 0) - (before.keyspace_hits ?? 0);
          const misses = (after.keyspace_misses ?? 0) - (before.keyspace_misses ?? 0);
          return { "Redis GET hit rate": `${((100 * hits) / Math.max(1, hits + misses)).toFixed(2)}%` };
        };
      },
    },
    {
      key: "db-postgres",
      label: "metadata, DB only: PostgreSQL",
      kind: "metadata",
      ceiling: "ceiling-json",
      load: metadata(uncached, files.pgIds),
      check: xCache(uncached, ctx.pgIds),
    },
    {
      key: "db-pglite",
      label: "metadata, DB only: embedded PGlite",
      kind: "metadata",
      ceiling: "ceiling-json",
      load: metadata(pglite, files.pgliteIds),
      check: xCache(pglite, ctx.pgliteIds),
    },
    {
      key: "redis-dead",
      label: "metadata, Redis dead (SIGKILL)",
      kind: "metadata",
      ceiling: "ceiling-json",
      load: metadata(cached, files.pgIds),
      async setUp() {
        await redisUp();
        await redis.kill();
        await waitForCacheState(cached, "disconnected");
      },
      check: xCache(cached, ctx.pgIds),
      tearDown: redisUp, // chitram reconnects by itself
    },
    {
      key: "redis-frozen",
      label: "metadata, Redis frozen (SIGSTOP)",
      kind: "metadata",
      ceiling: "ceiling-json",
      load: metadata(cached, files.pgIds),
      async setUp() {
        await redisUp();
        redis.freeze();
      },
      async check() {
        return { "X-Cache": await sampleXCache(cached, ctx.pgIds), "/health cache": await cacheState(cached) };
      },
      async tearDown() {
        redis.thaw();
        await waitForCacheState(cached, "connected");
      },
    },
    ...download("10k", ctx.fixtures.download10k, files.ceil10k, files.id10k),
    ...download("1m", ctx.fixtures.download1m, files.ceil1m, files.id1m),
    ...(["10k", "1m"] as const).flatMap((size): Scenario[] => {
      const path = size === "10k" ? ctx.fixtures.download10k : ctx.fixtures.download1m;
      const direct: Scenario = {
        key: `s3-direct-${size}`,
        label: `s3rver alone: presigned GET of the same ${sizeLabel(path)}`,
        kind: "download",
        ceiling: `ceiling-file-${size}`,
        load: randomPath(ctx.s3rver, size === "10k" ? files.s3Direct10k : files.s3Direct1m, "/"),
      };
      return [direct, {
        key: `file-s3-${size}`,
        label: `download ${sizeLabel(path)} via chitram from S3 (s3rver)`,
        kind: "download",
        ceiling: `ceiling-file-${size}`, // the same Bun.file ceiling as the local-disk download
        load: randomPath(s3Cached, size === "10k" ? files.id10kS3 : files.id1mS3, `${API}/`, "/file"),
        setUp: async () => {
          await redis.start();
          await waitForCacheState(s3Cached, "connected");
        },
      }];
    }),
    {
      key: "upload-100k",
      label: `upload ${sizeLabel(ctx.fixtures.upload100k)} JPEG (PostgreSQL + Redis)`,
      kind: "upload",
      uploadBytes: Bun.file(ctx.fixtures.upload100k).size,
      load: {
        server: cached,
        url: `${cached.url}${API}/upload`,
        script: "upload.lua",
        args: [files.uploadBody, ctx.uploadBoundary],
        timeoutSeconds: 10, // 50 connections share 10 upload slots: the wait is part of the latency
      },
      setUp: redisUp,
    },
  ];
}

export function sizeLabel(path: string): string {
  const size = Bun.file(path).size;
  return size >= 1e6 ? `${(size / 1e6).toFixed(2)} MB` : `${(size / 1e3).toFixed(1)} kB`;
}

/** GETs every id once, so the cache holds them all. */
async function warmCache(server: Server, ids: string[]): Promise<void> {
  await inParallel(ids, 16, 120_000, async (id) => {
    const res = await fetch(`${server.url}${API}/${id}`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warming ${id} on ${server.name}: ${res.status}`);
  });
}

/** Fetches `n` random ids and tallies a header (X-Cache by default), e.g. "HIT 20/20". */
async function sampleXCache(server: Server, ids: string[], n = 20, header = "x-cache"): Promise<string> {
  const tally = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    const res = await fetch(`${server.url}${API}/${id}`, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    const key = res.status === 200 ? (res.headers.get(header) ?? "none") : `status ${res.status}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [...tally].map(([k, v]) => `${k} ${v}/${n}`).join(", ");
}
