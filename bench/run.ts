// `bun run bench`: starts chitram (three ways), a ceiling server, its own redis-server and a fresh
// PostgreSQL database, seeds images, drives wrk through every scenario twice (interleaved), and
// writes bench/RESULTS.md. Everything it starts is stopped again, also on error or Ctrl-C.
//
//   BENCH_SECONDS=3 bun run bench      quick run (default 10 s per scenario)
//   BENCH_WARMUP_SECONDS, BENCH_SEED_IMAGES, BENCH_KEEP=1 (keep bench/.work/run-* data)
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { multipartBody, prepareFixtures, type Fixtures } from "./fixtures.ts";
import { inParallel, resetPeakRss, runWrk, sampleRss, statusKb, type WrkOptions } from "./measure.ts";
import { renderReport, type BigUploadResult, type Environment, type ScenarioResult, type Settings } from "./report.ts";
import {
  cacheState, Children, createDatabase, createRedis, startCeiling, startChitram, waitForCacheState,
  type BenchDatabase, type BenchRedis, type Server,
} from "./services.ts";

const envNumber = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

const SETTINGS: Settings = {
  seconds: envNumber("BENCH_SECONDS", 10),
  warmupSeconds: envNumber("BENCH_WARMUP_SECONDS", 3),
  connections: 50,
  // One wrk thread leaves the other core to the server; wrk's own CPU share is reported.
  threads: 1,
  seedImages: Math.round(envNumber("BENCH_SEED_IMAGES", 2000)),
  rounds: 2,
};
const MAX_UPLOAD_BYTES = 5 * 1024 * 1024; // chitram's default MAX_FILE_SIZE_MB=5, exactly allowed
const BIG_UPLOADS = 20;
const BENCH_DIR = import.meta.dir;
const WORK_DIR = join(BENCH_DIR, ".work");
const RESULTS_FILE = join(BENCH_DIR, "RESULTS.md");
const API = "/api/v1/images";

/** A wrk load plus the hooks that put the system into the state it measures and check it is there. */
type Scenario = {
  key: string;
  label: string;
  ceiling?: string;
  uploadBytes?: number;
  load: Omit<WrkOptions, "seconds" | "connections" | "threads" | "track">;
  /** Before the warm-up: bring the system into this scenario's state. */
  setUp?: () => Promise<void>;
  /** After the warm-up, before measuring: confirm the state (returns a note for the table). */
  check?: () => Promise<string>;
  /** Starts observing right before the measured run; the returned function ends it with a note. */
  observe?: () => Promise<() => Promise<string>>;
  /** After measuring: undo what setUp did. */
  tearDown?: () => Promise<void>;
};

type Context = {
  runDir: string;
  redis: BenchRedis;
  ceiling: Server;
  cached: Server;
  uncached: Server;
  pglite: Server;
  pgIds: string[];
  files: { pgIds: string; pgliteIds: string; id10k: string; id1m: string; ceil10k: string; ceil1m: string; uploadBody: string };
  uploadBoundary: string;
  fixtures: Fixtures;
};

async function main(): Promise<void> {
  const startedAt = performance.now();
  const runDir = join(WORK_DIR, `run-${Date.now()}`);
  const logDir = join(runDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const children = new Children();
  let db: BenchDatabase | undefined;

  // Cleanup runs once, from `finally` or from a signal, whichever comes first.
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await children.stopAll();
      await db?.drop().catch((e) => console.error(`bench: could not drop ${db?.name}: ${e}`));
      if (!process.env.BENCH_KEEP) rmSync(runDir, { recursive: true, force: true });
    })());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping everything it started`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  process.on("exit", () => children.killAllNow());

  try {
    await preflight();
    log(`settings: ${SETTINGS.seconds} s per scenario after ${SETTINGS.warmupSeconds} s warm-up, ${SETTINGS.rounds} rounds, ${SETTINGS.connections} connections; work dir ${runDir}`);
    const fixtures = await prepareFixtures(join(WORK_DIR, "fixtures"), MAX_UPLOAD_BYTES);
    db = await createDatabase();
    log(`database ${db.name} created`);
    const ctx = await startServices(children, db, runDir, logDir, fixtures);
    const scenarios = defineScenarios(ctx);
    const results = await runRounds(scenarios, children);
    const bigUpload = await measureBigUploads(ctx.cached, fixtures.upload5m.bytes);
    const env = await describeEnvironment(db.version);
    const report = renderReport({ env, settings: SETTINGS, results, bigUpload, totalSeconds: (performance.now() - startedAt) / 1000 });
    writeFileSync(RESULTS_FILE, report);
    console.log(`\n${report}`);
    log(`written to ${RESULTS_FILE}`);
  } finally {
    await cleanup();
  }
}

function log(msg: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** Fails early, with one line, when a tool the bench needs is missing. */
async function preflight(): Promise<void> {
  for (const tool of ["wrk", "redis-server"]) {
    if (!Bun.which(tool)) throw new Error(`${tool} is not installed`);
  }
}

async function startServices(children: Children, db: BenchDatabase, runDir: string, logDir: string, fixtures: Fixtures): Promise<Context> {
  const redis = await createRedis(children, runDir);
  await redis.start();
  const ceiling = await startCeiling(children, join(WORK_DIR, "fixtures"), logDir);
  const pgData = join(runDir, "pg-data");
  // The cached instance starts first and runs the migrations; the uncached one shares its database and image files.
  const cached = await startChitram(children, { name: "pg-cache", dataDir: pgData, databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir });
  const [uncached, pglite] = await Promise.all([
    startChitram(children, { name: "pg-nocache", dataDir: pgData, databaseUrl: db.url, cacheEnabled: false, logDir }),
    startChitram(children, { name: "pglite-nocache", dataDir: join(runDir, "pglite-data"), cacheEnabled: false, logDir }),
  ]);
  await waitForCacheState(cached, "connected");
  log(`started redis :${redis.port}, ceiling ${ceiling.url}, chitram pg-cache ${cached.url}, pg-nocache ${uncached.url}, pglite ${pglite.url}`);

  // Seed PostgreSQL (through the cached instance) and PGlite at the same time.
  const t0 = performance.now();
  const seedBytes = await Bun.file(fixtures.seed).bytes();
  const [pgIds, pgliteIds] = await Promise.all([
    seedImages(cached, seedBytes, SETTINGS.seedImages),
    seedImages(pglite, seedBytes, SETTINGS.seedImages),
  ]);
  const id10k = await uploadImage(cached, await Bun.file(fixtures.download10k).bytes(), "dl-10k.jpg");
  const id1m = await uploadImage(cached, await Bun.file(fixtures.download1m).bytes(), "dl-1m.jpg");
  log(`seeded ${pgIds.length} images on PostgreSQL and ${pgliteIds.length} on PGlite in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const upload = multipartBody(await Bun.file(fixtures.upload100k).bytes(), "upload.jpg", "image/jpeg");
  const files = {
    pgIds: join(runDir, "ids-postgres.txt"),
    pgliteIds: join(runDir, "ids-pglite.txt"),
    id10k: join(runDir, "id-10k.txt"),
    id1m: join(runDir, "id-1m.txt"),
    ceil10k: join(runDir, "ceiling-10k.txt"),
    ceil1m: join(runDir, "ceiling-1m.txt"),
    uploadBody: join(runDir, "upload-body.bin"),
  };
  writeFileSync(files.pgIds, `${pgIds.join("\n")}\n`);
  writeFileSync(files.pgliteIds, `${pgliteIds.join("\n")}\n`);
  writeFileSync(files.id10k, `${id10k}\n`);
  writeFileSync(files.id1m, `${id1m}\n`);
  writeFileSync(files.ceil10k, "dl-10k.jpg\n");
  writeFileSync(files.ceil1m, "dl-1m.jpg\n");
  writeFileSync(files.uploadBody, upload.body);
  return { runDir, redis, ceiling, cached, uncached, pglite, pgIds, files, uploadBoundary: upload.boundary, fixtures };
}

/** Uploads `count` copies of a small JPEG, 8 at a time (below the 10 upload slots), and returns their ids. */
function seedImages(server: Server, bytes: Uint8Array, count: number): Promise<string[]> {
  return inParallel(Array.from({ length: count }), 8, 300_000, () => uploadImage(server, bytes, "photo.jpg"));
}

async function uploadImage(server: Server, bytes: Uint8Array, filename: string): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "image/jpeg" }), filename);
  const res = await fetch(`${server.url}${API}/upload`, { method: "POST", body: form, signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 201 || !body.id) throw new Error(`upload to ${server.name} answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** GETs every id once so the cache holds them all (a HIT run must not measure misses). */
async function warmCache(server: Server, ids: string[]): Promise<void> {
  await inParallel(ids, 16, 120_000, async (id) => {
    const res = await fetch(`${server.url}${API}/${id}`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warming ${id} on ${server.name}: ${res.status}`);
  });
}

/** Fetches `n` random ids and tallies their X-Cache headers, e.g. "X-Cache HIT 20/20". */
async function sampleXCache(server: Server, ids: string[], n = 20): Promise<string> {
  const tally = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    const res = await fetch(`${server.url}${API}/${id}`, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    const key = res.status === 200 ? (res.headers.get("x-cache") ?? "none") : `status ${res.status}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return `X-Cache ${[...tally].map(([k, v]) => `${k} ${v}/${n}`).join(", ")}`;
}

/** Redis up, chitram's breaker closed: the state every scenario except dead/frozen starts from. */
async function ensureRedisUp(ctx: Context): Promise<void> {
  await ctx.redis.start();
  await waitForCacheState(ctx.cached, "connected");
}

function defineScenarios(ctx: Context): Scenario[] {
  const { ceiling, cached, uncached, pglite, files, redis } = ctx;
  const randomIds = (server: Server, idsFile: string, prefix: string, suffix = "") => ({
    url: server.url,
    script: "random-path.lua" as const,
    args: suffix ? [idsFile, prefix, suffix] : [idsFile, prefix],
    timeoutSeconds: 5,
    serverPid: server.pid,
  });
  const metadata = (server: Server, idsFile: string) => randomIds(server, idsFile, `${API}/`);
  const disabledCheck = (server: Server, ids: string[]) => () => sampleXCache(server, ids);

  return [
    { key: "ceiling-json", label: "ceiling: Bun.serve JSON", load: randomIds(ceiling, files.pgIds, "/meta/") },
    {
      key: "cache-hit",
      label: "metadata, cache HIT (PostgreSQL + Redis)",
      ceiling: "ceiling-json",
      load: metadata(cached, files.pgIds),
      async setUp() {
        await ensureRedisUp(ctx);
        await warmCache(cached, ctx.pgIds);
      },
      check: () => sampleXCache(cached, ctx.pgIds),
      async observe() {
        // Redis' own counters tell whether every request really was a hit.
        const before = await redis.stats();
        return async () => {
          const after = await redis.stats();
          const hits = (after.keyspace_hits ?? 0) - (before.keyspace_hits ?? 0);
          const misses = (after.keyspace_misses ?? 0) - (before.keyspace_misses ?? 0);
          return `Redis GET hits ${((100 * hits) / Math.max(1, hits + misses)).toFixed(2)}% of ${fmt(hits + misses)}`;
        };
      },
    },
    {
      key: "db-postgres",
      label: "metadata, DB only: PostgreSQL (CACHE_ENABLED=false)",
      ceiling: "ceiling-json",
      load: metadata(uncached, files.pgIds),
      check: disabledCheck(uncached, ctx.pgIds),
    },
    {
      key: "db-pglite",
      label: "metadata, DB only: embedded PGlite (CACHE_ENABLED=false)",
      ceiling: "ceiling-json",
      load: metadata(pglite, files.pgliteIds),
      check: async () => sampleXCache(pglite, (await Bun.file(files.pgliteIds).text()).trim().split("\n")),
    },
    {
      key: "redis-dead",
      label: "metadata, Redis dead (SIGKILL)",
      ceiling: "ceiling-json",
      load: metadata(cached, files.pgIds),
      async setUp() {
        await ensureRedisUp(ctx);
        await redis.kill();
        await waitForCacheState(cached, "disconnected");
      },
      check: disabledCheck(cached, ctx.pgIds),
      async tearDown() {
        await ensureRedisUp(ctx); // chitram reconnects by itself
      },
    },
    {
      key: "redis-frozen",
      label: "metadata, Redis frozen (SIGSTOP)",
      ceiling: "ceiling-json",
      load: metadata(cached, files.pgIds),
      async setUp() {
        await ensureRedisUp(ctx);
        redis.freeze();
      },
      async check() {
        return `${await sampleXCache(cached, ctx.pgIds)}; /health cache ${await cacheState(cached)}`;
      },
      async tearDown() {
        redis.thaw();
        await waitForCacheState(cached, "connected");
      },
    },
    { key: "ceiling-file-10k", label: `ceiling: Bun.file ${kb(ctx.fixtures.download10k)}`, load: randomIds(ceiling, files.ceil10k, "/file/") },
    {
      key: "file-10k",
      label: `download ${kb(ctx.fixtures.download10k)} via chitram`,
      ceiling: "ceiling-file-10k",
      load: randomIds(cached, files.id10k, `${API}/`, "/file"),
      setUp: () => ensureRedisUp(ctx),
    },
    { key: "ceiling-file-1m", label: `ceiling: Bun.file ${kb(ctx.fixtures.download1m)}`, load: randomIds(ceiling, files.ceil1m, "/file/") },
    {
      key: "file-1m",
      label: `download ${kb(ctx.fixtures.download1m)} via chitram`,
      ceiling: "ceiling-file-1m",
      load: randomIds(cached, files.id1m, `${API}/`, "/file"),
      setUp: () => ensureRedisUp(ctx),
    },
    {
      key: "upload-100k",
      label: `upload ${kb(ctx.fixtures.upload100k)} JPEG (PostgreSQL + Redis)`,
      uploadBytes: Bun.file(ctx.fixtures.upload100k).size,
      load: {
        url: `${cached.url}${API}/upload`,
        script: "upload.lua",
        args: [files.uploadBody, ctx.uploadBoundary],
        timeoutSeconds: 10, // 50 connections share 10 upload slots: waiting is part of the latency
        serverPid: cached.pid,
      },
      setUp: () => ensureRedisUp(ctx),
      async observe() {
        const sampler = sampleRss(cached.pid, 100);
        return async () => `chitram peak RSS ${(sampler.stop() / 1024).toFixed(0)} MB (VmRSS every 100 ms)`;
      },
    },
  ];
}

const fmt = (n: number) => n.toLocaleString("en-US");
function kb(path: string): string {
  const size = Bun.file(path).size;
  return size >= 1e6 ? `${(size / 1e6).toFixed(2)} MB` : `${(size / 1e3).toFixed(1)} kB`;
}

async function runRounds(scenarios: Scenario[], children: Children): Promise<ScenarioResult[]> {
  const results = new Map<string, ScenarioResult>(
    scenarios.map((s) => [s.key, { key: s.key, label: s.label, ceiling: s.ceiling, uploadBytes: s.uploadBytes, runs: [], notes: [] }]),
  );
  for (let round = 1; round <= SETTINGS.rounds; round++) {
    for (const s of scenarios) {
      const result = results.get(s.key)!;
      await s.setUp?.();
      try {
        const load = { ...s.load, connections: SETTINGS.connections, threads: SETTINGS.threads, track: (p: Subprocess) => children.track(p) };
        await runWrk({ ...load, seconds: SETTINGS.warmupSeconds });
        const checked = await s.check?.();
        const finishObserving = await s.observe?.();
        const run = await runWrk({ ...load, seconds: SETTINGS.seconds });
        const observed = await finishObserving?.();
        result.runs.push(run);
        const notes = [checked, observed].filter((n): n is string => Boolean(n));
        if (notes.length) result.notes.push(`r${round}: ${notes.join(", ")}`);
        log(
          `round ${round} ${s.key.padEnd(16)} ${fmt(Math.round(run.rps)).padStart(7)} req/s  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  ` +
            `errors ${run.errorCount}  cpu server ${run.cpu.server.toFixed(2)} wrk ${run.cpu.wrk.toFixed(2)}${notes.length ? `  (${notes.join(", ")})` : ""}`,
        );
      } finally {
        await s.tearDown?.();
      }
    }
  }
  return [...results.values()];
}

/** 20 concurrent maximum-size uploads, sent with fetch; chitram's peak RSS is what is measured. */
async function measureBigUploads(server: Server, png: Uint8Array): Promise<BigUploadResult> {
  const { body, boundary } = multipartBody(png, "big.png", "image/png");
  const baselineKb = statusKb(server.pid, "VmRSS");
  const hwmReset = resetPeakRss(server.pid);
  const sampler = sampleRss(server.pid, 50);
  const t0 = performance.now();
  const statuses = await Promise.all(
    Array.from({ length: BIG_UPLOADS }, async () => {
      try {
        const res = await fetch(`${server.url}${API}/upload`, {
          method: "POST",
          headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
          body,
          signal: AbortSignal.timeout(120_000),
        });
        await res.arrayBuffer();
        return String(res.status);
      } catch (e) {
        return `error ${(e as Error).name}`;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const sampledKb = sampler.stop();
  const tally: Record<string, number> = {};
  for (const s of statuses) tally[s] = (tally[s] ?? 0) + 1;
  const result: BigUploadResult = {
    count: BIG_UPLOADS,
    fileBytes: png.byteLength,
    statuses: tally,
    seconds,
    baselineRssMb: baselineKb / 1024,
    peakHwmMb: statusKb(server.pid, "VmHWM") / 1024,
    sampledPeakMb: sampledKb / 1024,
    hwmReset,
  };
  log(`${BIG_UPLOADS} × ${png.byteLength} B uploads: ${JSON.stringify(tally)} in ${seconds.toFixed(1)} s, peak RSS ${result.peakHwmMb.toFixed(0)} MB`);
  return result;
}

async function describeEnvironment(postgresVersion: string): Promise<Environment> {
  const firstLine = async (cmd: string[]) => {
    const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return (out || err).split("\n")[0]!.trim();
  };
  const cpuinfo = await Bun.file("/proc/cpuinfo").text();
  const commit = await firstLine(["git", "-C", join(BENCH_DIR, ".."), "describe", "--always", "--dirty"]);
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    commit,
    cores: cpus().length,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    bun: Bun.version,
    postgres: postgresVersion,
    redis: await firstLine(["redis-server", "--version"]),
    wrk: (await firstLine(["wrk", "-v"])).replace(/\s+Copyright.*$/, ""),
  };
}

await main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
