// Thumbnails: how fast a chitram instance turns 12-megapixel JPEGs into thumbnails (its Worker
// pool at its default size), and whether metadata reads slow down while it does. Runs on a
// database of its own, so no other scenario's jobs are in its queue.
import { join } from "node:path";
import { inParallel } from "./measure.ts";
import { uploadImage } from "./uploads.ts";
import { startChitram, waitForCacheState, type BenchDatabase, type Children, type Server } from "./services.ts";

export type LatencyRun = { requests: number; p50Ms: number; p99Ms: number; maxMs: number; errors: number };

export type ThumbnailResult = {
  poolSize: number;
  images: number;
  sourceBytes: number;
  seconds: number;
  thumbnailsPerSecond: number;
  /** Per image, from the server's "thumbnail made" log lines (claim to committed row). */
  msPerImage: { mean: number; p50: number; max: number };
  rate: number;
  idle: LatencyRun;
  burst: LatencyRun;
  /** Jobs still pending or running when the burst measurement ended (it must overlap the work). */
  busyAtEnd: number;
};

const API = "/api/v1/images";
const IMAGES = 16;
const SEED = 200;
const READ_RATE = 400; // metadata GETs per second, spread evenly: a load that leaves the CPU room
const READ_SECONDS = 4;

type Health = { thumbnails: { pending: number | null; running: number | null; workers: string } };
const health = async (s: Server) => (await (await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5_000) })).json()) as Health;

/** GETs at a fixed rate (open loop: a slow answer does not delay the next request) and their latencies. */
async function readAtRate(server: Server, ids: string[], rate: number, seconds: number): Promise<LatencyRun> {
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    const id = ids[i % ids.length]!;
    const t0 = performance.now();
    pending.push(
      fetch(`${server.url}${API}/${id}`, { signal: AbortSignal.timeout(10_000) })
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.status !== 200) errors++;
          latencies.push(performance.now() - t0);
        })
        .catch(() => void errors++),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return { requests: latencies.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? Number.NaN, errors };
}

export async function measureThumbnails(children: Children, db: BenchDatabase, redisUrl: string, runDir: string, photo: string, seed: string): Promise<ThumbnailResult> {
  // THUMBNAIL_WORKERS unset in the child's environment would mean "cores - 1"; pass that default explicitly.
  const server = await startChitram(children, {
    name: "pg-thumbnails", dataDir: join(runDir, "thumb-data"), databaseUrl: db.url, redisUrl, cacheEnabled: true, logDir: join(runDir, "logs"),
    thumbnailWorkers: Math.max(1, Math.min(4, navigator.hardwareConcurrency - 1)),
  });
  try {
    await waitForCacheState(server, "connected");
    const poolSize = Number((await health(server)).thumbnails.workers.split("/")[1]!.split(" ")[0]);
    const seedBytes = await Bun.file(seed).bytes();
    const ids = await inParallel(Array.from({ length: SEED }), 8, 120_000, () => uploadImage(server, seedBytes, "seed.jpg"));
    await waitForIdle(server, 60_000);
    await readAtRate(server, ids, READ_RATE, 1); // warm the cache
    const idle = await readAtRate(server, ids, READ_RATE, READ_SECONDS);

    const photoBytes = await Bun.file(photo).bytes();
    const logFrom = Bun.file(server.logFile).size;
    const burstStart = performance.now();
    await inParallel(Array.from({ length: IMAGES }), 4, 120_000, () => uploadImage(server, photoBytes, "photo-12mp.jpg"));
    const burst = await readAtRate(server, ids, READ_RATE, READ_SECONDS);
    const h = (await health(server)).thumbnails;
    const busyAtEnd = (h.pending ?? 0) + (h.running ?? 0);
    await waitForIdle(server, 300_000);
    const seconds = (performance.now() - burstStart) / 1000;

    const made = (await Bun.file(server.logFile).slice(logFrom).text())
      .split("\n")
      .flatMap((l) => {
        try {
          const e = JSON.parse(l) as { msg?: string; ms?: number };
          return e.msg === "thumbnail made" && typeof e.ms === "number" ? [e.ms] : [];
        } catch {
          return [];
        }
      })
      .sort((a, b) => a - b);
    if (made.length !== IMAGES) throw new Error(`expected ${IMAGES} thumbnails, the log shows ${made.length}`);
    return {
      poolSize,
      images: IMAGES,
      sourceBytes: photoBytes.length,
      seconds,
      thumbnailsPerSecond: IMAGES / seconds,
      msPerImage: { mean: made.reduce((a, b) => a + b, 0) / made.length, p50: made[Math.floor(made.length / 2)]!, max: made.at(-1)! },
      rate: READ_RATE,
      idle,
      burst,
      busyAtEnd,
    };
  } finally {
    await children.stop(server.proc);
  }
}

async function waitForIdle(server: Server, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { pending, running } = (await health(server)).thumbnails;
    if (pending === 0 && running === 0) return;
    if (Date.now() > until) throw new Error(`thumbnail jobs still pending after ${timeoutMs} ms`);
    await Bun.sleep(200);
  }
}
