// `bun run bench`: starts chitram (three ways), a ceiling server, its own redis-server and a fresh
// PostgreSQL database, seeds images, drives wrk through every scenario twice (interleaved), and
// writes bench/RESULTS.md. Everything it starts is stopped again, also on error or Ctrl-C.
//
//   BENCH_SECONDS=3 bun run bench   quick run (default 10 s per scenario)
//   BENCH_WARMUP_SECONDS (3), BENCH_SEED_IMAGES (2000), BENCH_QUIET_WAIT_SECONDS (30),
//   BENCH_KEEP=1 keeps bench/.work/run-* (logs, ids, images) after the run
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { multipartBody, prepareFixtures, type Fixtures } from "./fixtures.ts";
import { machineBusyCores, pidsNamed, runWrk, sampleRss } from "./measure.ts";
import { renderReport, type Environment, type ScenarioResult, type Settings } from "./report.ts";
import { defineScenarios, type Context, type Notes, type Scenario } from "./scenarios.ts";
import {
  Children, createDatabase, createRedis, logSize, logWarningsSince, startCeiling, startChitram, startS3, waitForCacheState,
  type BenchDatabase,
} from "./services.ts";
import { measureStaleness } from "./staleness.ts";
import { measureThumbnails } from "./thumbnails.ts";
import { seedImages, uploadBurst, uploadImage, type BurstResult } from "./uploads.ts";

const envNumber = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};

const SETTINGS: Settings = {
  // wrk takes whole seconds.
  seconds: Math.max(1, Math.round(envNumber("BENCH_SECONDS", 10))),
  warmupSeconds: Math.round(envNumber("BENCH_WARMUP_SECONDS", 3)),
  connections: 50,
  // One wrk thread leaves the other core to the server; wrk's own CPU share is reported.
  threads: 1,
  seedImages: Math.round(envNumber("BENCH_SEED_IMAGES", 2000)),
  rounds: 2,
};
// Other jobs on the machine (a test run) distort every number: wait for them, up to this long.
const QUIET_WAIT_SECONDS = envNumber("BENCH_QUIET_WAIT_SECONDS", 30);
const QUIET_CORES = 0.3;
const MAX_UPLOAD_BYTES = 5 * 1024 * 1024; // chitram's default MAX_FILE_SIZE_MB=5; exactly the limit is allowed
const BURST_UPLOADS = 20;
const BENCH_DIR = import.meta.dir;
const WORK_DIR = join(BENCH_DIR, ".work");
const FIXTURES_DIR = join(WORK_DIR, "fixtures");
const RESULTS_FILE = join(BENCH_DIR, "RESULTS.md");

async function main(): Promise<void> {
  const startedAt = performance.now();
  const runDir = join(WORK_DIR, `run-${Date.now()}`);
  mkdirSync(join(runDir, "logs"), { recursive: true });
  const children = new Children();
  let db: BenchDatabase | undefined;
  let thumbDb: BenchDatabase | undefined;

  // Cleanup runs once, from `finally` or from a signal, whichever comes first.
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await children.stopAll();
      await db?.drop().catch((e) => console.error(`bench: could not drop database ${db?.name}: ${e}`));
      await thumbDb?.drop().catch((e) => console.error(`bench: could not drop database ${thumbDb?.name}: ${e}`));
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
    for (const tool of ["wrk", "redis-server"]) if (!Bun.which(tool)) throw new Error(`${tool} is not installed`);
    log(`${SETTINGS.seconds} s per scenario after ${SETTINGS.warmupSeconds} s warm-up, ${SETTINGS.rounds} rounds, ${SETTINGS.connections} connections; work dir ${runDir}`);
    const fixtures = await prepareFixtures(FIXTURES_DIR, MAX_UPLOAD_BYTES);
    db = await createDatabase();
    log(`database ${db.name} created`);
    const ctx = await startServices(children, db, runDir, fixtures);
    const results = await runRounds(defineScenarios(ctx), ctx, children);
    const staleness = [];
    for (const loaded of [false, true]) {
      const busyBefore = await waitForQuietMachine();
      const st = await measureStaleness({
        writer: ctx.l2Only,
        reader: ctx.cached,
        idsFile: ctx.files.pgIds,
        image: await Bun.file(fixtures.seed).bytes(),
        deletes: loaded ? 300 : 200,
        seconds: 20,
        loaded,
        track: (p) => children.track(p),
      });
      staleness.push({ ...st, busyBefore });
      log(
        `staleness (B ${loaded ? `under load, ${Math.round(st.load!.rps)} req/s` : "idle"}): ${st.deletes} deletes; B's first 404 after A's 204 p50 ${st.firstNotFoundMs.p50.toFixed(2)} ms, ` +
          `p99 ${st.firstNotFoundMs.p99.toFixed(2)} ms, max ${st.firstNotFoundMs.max.toFixed(2)} ms; ${st.staleAnswers} stale answers, latest sent ${st.staleSentMs.max.toFixed(2)} ms after the 204`,
      );
    }
    const bursts = await measureBursts(children, ctx, db, runDir, fixtures);
    thumbDb = await createDatabase();
    await waitForQuietMachine();
    const thumbnails = await measureThumbnails(children, thumbDb, ctx.redis.url, runDir, fixtures.photo12mp, fixtures.seed);
    log(`thumbnails: ${thumbnails.images} × 12 MP JPEG with ${thumbnails.poolSize} Worker(s): ${thumbnails.thumbnailsPerSecond.toFixed(2)}/s, ${Math.round(thumbnails.msPerImage.mean)} ms each; metadata p99 ${thumbnails.idle.p99Ms.toFixed(2)} ms idle, ${thumbnails.burst.p99Ms.toFixed(2)} ms during the burst`);
    const env = await describeEnvironment(db.version);
    const report = renderReport({ env, settings: SETTINGS, results, bursts, thumbnails, staleness, totalSeconds: (performance.now() - startedAt) / 1000 });
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

async function startServices(children: Children, db: BenchDatabase, runDir: string, fixtures: Fixtures): Promise<Context> {
  const logDir = join(runDir, "logs");
  const redis = await createRedis(children, runDir);
  await redis.start();
  const ceiling = await startCeiling(children, FIXTURES_DIR, logDir);
  const pgData = join(runDir, "pg-data");
  // The cached instance starts first and runs the migrations; the uncached one shares its database and image files.
  const cached = await startChitram(children, { name: "pg-cache", dataDir: pgData, databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir });
  const s3 = await startS3(children, join(runDir, "s3-data"), logDir);
  const [uncached, pglite, s3Cached, l2Only, noLog, workers2] = await Promise.all([
    startChitram(children, { name: "pg-nocache", dataDir: pgData, databaseUrl: db.url, cacheEnabled: false, logDir }),
    startChitram(children, { name: "pglite-nocache", dataDir: join(runDir, "pglite-data"), cacheEnabled: false, logDir }),
    // Same database and Redis as pg-cache; its image bytes in S3.
    startChitram(children, { name: "s3-cache", dataDir: join(runDir, "s3-chitram"), databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir, env: s3.env }),
    // The same as pg-cache but for one setting each: no in-process tier; no access log; 2 workers.
    startChitram(children, { name: "pg-cache-l2only", dataDir: pgData, databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir, env: { CACHE_L1_MAX_ENTRIES: "0" } }),
    startChitram(children, { name: "pg-cache-nolog", dataDir: pgData, databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir, env: { ACCESS_LOG: "false" } }),
    startChitram(children, { name: "pg-cache-workers2", dataDir: pgData, databaseUrl: db.url, redisUrl: redis.url, cacheEnabled: true, logDir, env: { WORKERS: "2" } }),
  ]);
  for (const s of [cached, s3Cached, l2Only, noLog, workers2]) await waitForCacheState(s, "connected");
  log(`started redis :${redis.port}, ceiling ${ceiling.url}, s3rver ${s3.server.url}, chitram pg-cache ${cached.url}, pg-nocache ${uncached.url}, pglite-nocache ${pglite.url}, s3-cache ${s3Cached.url}, l2-only ${l2Only.url}, no access log ${noLog.url}, WORKERS=2 ${workers2.url}`);

  // Seed PostgreSQL (through the cached instance) and PGlite at the same time.
  const t0 = performance.now();
  const seedBytes = await Bun.file(fixtures.seed).bytes();
  const [pgIds, pgliteIds] = await Promise.all([
    seedImages(cached, seedBytes, SETTINGS.seedImages),
    seedImages(pglite, seedBytes, SETTINGS.seedImages),
  ]);
  const id10k = await uploadImage(cached, await Bun.file(fixtures.download10k).bytes(), "dl-10k.jpg");
  const id1m = await uploadImage(cached, await Bun.file(fixtures.download1m).bytes(), "dl-1m.jpg");
  const id10kS3 = await uploadImage(s3Cached, await Bun.file(fixtures.download10k).bytes(), "dl-10k.jpg");
  const id1mS3 = await uploadImage(s3Cached, await Bun.file(fixtures.download1m).bytes(), "dl-1m.jpg");
  log(`seeded ${pgIds.length} images on PostgreSQL and ${pgliteIds.length} on PGlite in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // wrk reads these: ids (one per line) and the prebuilt upload body.
  const files = {
    pgIds: join(runDir, "ids-postgres.txt"),
    pgliteIds: join(runDir, "ids-pglite.txt"),
    id10k: join(runDir, "id-10k.txt"),
    id1m: join(runDir, "id-1m.txt"),
    id10kS3: join(runDir, "id-10k-s3.txt"),
    id1mS3: join(runDir, "id-1m-s3.txt"),
    s3Direct10k: join(runDir, "s3-direct-10k.txt"),
    s3Direct1m: join(runDir, "s3-direct-1m.txt"),
    ceil10k: join(runDir, "ceiling-10k.txt"),
    ceil1m: join(runDir, "ceiling-1m.txt"),
    uploadBody: join(runDir, "upload-body.bin"),
  };
  const upload = multipartBody(await Bun.file(fixtures.upload100k).bytes(), "upload.jpg", "image/jpeg");
  writeFileSync(files.pgIds, `${pgIds.join("\n")}\n`);
  writeFileSync(files.pgliteIds, `${pgliteIds.join("\n")}\n`);
  writeFileSync(files.id10k, `${id10k}\n`);
  writeFileSync(files.id1m, `${id1m}\n`);
  writeFileSync(files.id10kS3, `${id10kS3}\n`);
  writeFileSync(files.id1mS3, `${id1mS3}\n`);
  // The same objects straight from s3rver (presigned GETs valid for the whole run), to tell
  // s3rver's own cost from chitram's.
  const signer = new Bun.S3Client({ endpoint: s3.env.S3_ENDPOINT, bucket: s3.env.S3_BUCKET, accessKeyId: s3.env.S3_ACCESS_KEY_ID, secretAccessKey: s3.env.S3_SECRET_ACCESS_KEY });
  const presignedPath = (key: string) => new URL(signer.presign(key, { expiresIn: 7 * 86_400 })).href.replace(s3.env.S3_ENDPOINT!, "").slice(1);
  writeFileSync(files.s3Direct10k, `${presignedPath(`${id10kS3}.jpg`)}\n`);
  writeFileSync(files.s3Direct1m, `${presignedPath(`${id1mS3}.jpg`)}\n`);
  writeFileSync(files.ceil10k, "dl-10k.jpg\n");
  writeFileSync(files.ceil1m, "dl-1m.jpg\n");
  writeFileSync(files.uploadBody, upload.body);
  return { redis, ceiling, cached, uncached, pglite, s3Cached, l2Only, noLog, workers2, s3rver: s3.server, pgIds, pgliteIds, files, uploadBoundary: upload.boundary, fixtures };
}

/** Round 1 runs every scenario, then round 2 runs them all again, so drift shows up as a difference between rounds. */
async function runRounds(scenarios: Scenario[], ctx: Context, children: Children): Promise<ScenarioResult[]> {
  const results = new Map<string, ScenarioResult>(
    scenarios.map((s) => [s.key, { key: s.key, label: s.label, kind: s.kind, ceiling: s.ceiling, uploadBytes: s.uploadBytes, runs: [], notes: [] }]),
  );
  for (let round = 1; round <= SETTINGS.rounds; round++) {
    for (const s of scenarios) {
      const result = results.get(s.key)!;
      const busy = await waitForQuietMachine();
      await s.setUp?.();
      try {
        const server = s.load.server;
        const load = {
          ...s.load,
          connections: SETTINGS.connections,
          threads: SETTINGS.threads,
          track: (p: Subprocess) => children.track(p),
          // Resolved per run: PostgreSQL backends come and go, and redis-server is restarted.
          cpuGroups: () => ({ server: server.pids?.() ?? [server.pid], postgres: pidsNamed("postgres"), redis: [ctx.redis.pid()].filter((p) => p !== undefined), s3: [ctx.s3rver.pid] }),
        };
        if (SETTINGS.warmupSeconds > 0) await runWrk({ ...load, cpuGroups: load.cpuGroups(), seconds: SETTINGS.warmupSeconds });
        const notes: Notes = { ...(await s.check?.()) };
        const finishObserving = await s.observe?.();
        const logOffset = logSize(server);
        const rss = sampleRss(server.pid, 100);
        const run = { ...(await runWrk({ ...load, cpuGroups: load.cpuGroups(), seconds: SETTINGS.seconds })), peakRssMb: rss.stop() / 1024 };
        Object.assign(notes, await finishObserving?.());
        const warnings = await logWarningsSince(server, logOffset);
        if (warnings.length) notes["logged during the run"] = warnings.join(", ");
        if (busy !== undefined) notes["machine busy before the run"] = `${busy.toFixed(2)} cores`;
        result.runs.push(run);
        result.notes.push(notes);
        log(
          `round ${round} ${s.key.padEnd(16)} ${Math.round(run.rps).toLocaleString("en-US").padStart(7)} req/s  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  ` +
            `errors ${run.errorCount}  cpu server ${run.cpu.server?.toFixed(2)} wrk ${run.cpu.wrk?.toFixed(2)} machine ${run.cpu.machine?.toFixed(2)}  ` +
            Object.entries(notes).map(([k, v]) => `${k}: ${v}`).join("; "),
        );
      } finally {
        await s.tearDown?.();
      }
    }
  }
  return [...results.values()];
}

/** Waits until the machine is nearly idle; returns how busy it still was if it gave up waiting. */
async function waitForQuietMachine(): Promise<number | undefined> {
  const until = Date.now() + QUIET_WAIT_SECONDS * 1000;
  let busy = await machineBusyCores(300);
  if (busy < QUIET_CORES) return undefined;
  log(`machine busy (${busy.toFixed(2)} cores) before starting a scenario; waiting up to ${QUIET_WAIT_SECONDS} s`);
  while (Date.now() < until) {
    busy = await machineBusyCores(1_000);
    if (busy < QUIET_CORES) return undefined;
  }
  return busy;
}

/**
 * 20 concurrent maximum-size uploads, twice: on the instance that has served the whole bench
 * (VmHWM reset just before) and on a freshly started one (VmHWM = its lifetime peak).
 */
async function measureBursts(children: Children, ctx: Context, db: BenchDatabase, runDir: string, fixtures: Fixtures): Promise<BurstResult[]> {
  const png = fixtures.upload5m.bytes;
  await waitForQuietMachine();
  const bursts = [await uploadBurst(ctx.cached, png, BURST_UPLOADS, { instance: "after the load scenarios (VmHWM reset before the burst)", resetPeak: true })];
  const fresh = await startChitram(children, {
    name: "pg-cache-fresh", dataDir: join(runDir, "pg-data"), databaseUrl: db.url, redisUrl: ctx.redis.url, cacheEnabled: true, logDir: join(runDir, "logs"),
  });
  try {
    await waitForCacheState(fresh, "connected");
    bursts.push(await uploadBurst(fresh, png, BURST_UPLOADS, { instance: "freshly started", resetPeak: false }));
  } finally {
    await children.stop(fresh.proc);
  }
  for (const b of bursts) log(`${b.count} × ${b.fileBytes} B uploads, ${b.instance}: ${JSON.stringify(b.statuses)} in ${b.seconds.toFixed(1)} s, peak RSS ${b.peakMb.toFixed(0)} MB`);
  return bursts;
}

async function describeEnvironment(postgresVersion: string): Promise<Environment> {
  const firstLine = async (cmd: string[]) => {
    const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return (out || err).split("\n")[0]!.trim();
  };
  const cpuinfo = await Bun.file("/proc/cpuinfo").text();
  return {
    date: `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    commit: await firstLine(["git", "-C", join(BENCH_DIR, ".."), "describe", "--always", "--dirty"]),
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
