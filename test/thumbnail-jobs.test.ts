// Thumbnail jobs are durable: on real PostgreSQL (a database of this file's own), a poisoned input
// fails its job with a reason and nothing else, a job that times out or cannot read its original
// is retried and then failed, failed jobs can be re-queued, two instances never make the same
// thumbnail twice, and a job survives a SIGKILL of the server that held it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createPostgresDatabase, type DatabaseHandle } from "../src/db/client.ts";
import { createThumbnailJobs } from "../src/thumbnails/jobs.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { startChitram, type ChitramProcess } from "./support/process.ts";
import { startTestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";
import { makeThumbnails, thumbnailReady } from "./support/thumbnails.ts";
import { eventually } from "./support/wait.ts";

describe.if(HAVE_POSTGRES)("thumbnail jobs on PostgreSQL", () => {
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  const name = `chitram_thumbjobs_${Date.now()}_${process.pid}`;
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  let db: DatabaseHandle;

  beforeAll(async () => {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    db = createPostgresDatabase(url.href);
  });
  afterAll(async () => {
    await db.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  const harness = (env: Record<string, string> = {}, dataDir?: string) =>
    createHarness({ db, env: { THUMBNAIL_WORKERS: "1", ...(dataDir ? { LOCAL_STORAGE_PATH: dataDir } : {}), ...env } });
  const meta = async (h: Harness, id: string) => (await h.request(`/api/v1/images/${id}`)).json();
  const health = async (h: Harness) => (await h.request("/health")).json();

  test("a poisoned input fails its job with a reason and nothing else; re-queued, it is pending again", async () => {
    const h = await harness();
    try {
      const poison = makePng({ width: 50, height: 40, corruptPixels: true });
      const bad = await (await h.upload(poison, "poison.png")).json();
      expect(bad.width).toBe(50); // it passed every upload check
      const good = await (await h.upload(await fixture("q-baseline.jpg"), "good.jpg")).json();
      await makeThumbnails(h, async () => (await thumbnailReady(h, bad.id)()) && (await thumbnailReady(h, good.id)()));

      const failed = await meta(h, bad.id);
      expect(failed).toMatchObject({ thumbnail_ready: false, thumbnail_url: null, thumbnail_status: "failed" });
      expect(failed.thumbnail_error).toContain("cannot decode the PNG data");
      const notReady = await (await h.request(`/api/v1/images/${bad.id}/thumbnail`)).json();
      expect(notReady.error).toMatchObject({ code: "THUMBNAIL_NOT_READY", details: { status: "failed", reason: failed.thumbnail_error } });
      expect(await h.deps.thumbnailJobs.find(bad.id)).toMatchObject({ state: "failed", attempts: 1 }); // permanent: not retried
      expect((await health(h)).thumbnails).toMatchObject({ failed: 1, pending: 0, running: 0 });

      // Nothing else: the other image got its thumbnail, the poisoned one's original is intact, the pool still works.
      expect((await meta(h, good.id)).thumbnail_status).toBe("ready");
      expect(new Uint8Array(await (await h.request(`/api/v1/images/${bad.id}/file`)).arrayBuffer())).toEqual(poison);
      const later = await (await h.upload(await fixture("q-lossy.webp"), "later.webp")).json();
      await makeThumbnails(h, thumbnailReady(h, later.id));
      expect((await meta(h, later.id)).thumbnail_status).toBe("ready");

      expect(await h.deps.thumbnails.requeue([bad.id])).toEqual([bad.id]);
      expect(await meta(h, bad.id)).toMatchObject({ thumbnail_status: "pending", thumbnail_error: null });
      expect(await h.deps.thumbnailJobs.find(bad.id)).toMatchObject({ state: "pending", attempts: 0, lastError: null });
      await makeThumbnails(h, thumbnailReady(h, bad.id));
      expect((await meta(h, bad.id)).thumbnail_status).toBe("failed");
    } finally {
      await h.close();
    }
  }, 60_000);

  test("a job past its time limit has its Worker stopped and is retried with backoff, then failed", async () => {
    const h = await harness({ THUMBNAIL_JOB_TIMEOUT_SECONDS: "0.1", THUMBNAIL_MAX_ATTEMPTS: "2" });
    try {
      const { id } = await (await h.upload(makePng({ width: 4000, height: 3000 }), "slow.png")).json();
      expect(await h.deps.thumbnails.runOnce()).toBe(1);
      const first = await h.deps.thumbnailJobs.find(id);
      expect(first).toMatchObject({ state: "pending", attempts: 1 });
      expect(first?.lastError).toContain("limit");
      expect((await meta(h, id)).thumbnail_status).toBe("pending"); // a retry is not a failure yet
      expect(await h.deps.thumbnails.runOnce()).toBe(0); // backing off (~2 s)
      await makeThumbnails(h, thumbnailReady(h, id), 15_000);
      expect(await meta(h, id)).toMatchObject({ thumbnail_status: "failed", thumbnail_error: expect.stringContaining("0 s limit") });
      expect(await h.deps.thumbnailJobs.find(id)).toMatchObject({ state: "failed", attempts: 2 });
    } finally {
      await h.close();
    }
  }, 60_000);

  test("two instances never make the same thumbnail twice", async () => {
    const shared = mkdtempSync(join(tmpdir(), "chitram-shared-images-"));
    const [a, b] = [await harness({}, shared), await harness({}, shared)];
    try {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push((await (await a.upload(await fixture("photo.jpg"), `p${i}.jpg`)).json()).id);
      const allReady = async () => (await Promise.all(ids.map((id) => thumbnailReady(a, id)()))).every(Boolean);
      // Both claim at the same moments, again and again, until every thumbnail exists.
      const until = Date.now() + 30_000;
      while (!(await allReady()) && Date.now() < until) await Promise.all([a.deps.thumbnails.runOnce(), b.deps.thumbnails.runOnce()]);
      expect(await allReady()).toBe(true);
      const made = [...a.logs, ...b.logs].filter((l) => l.includes('"msg":"thumbnail made"')).map((l) => JSON.parse(l).image_id);
      expect(made.sort()).toEqual([...ids].sort());
      expect(a.logs.some((l) => l.includes("thumbnail made")) && b.logs.some((l) => l.includes("thumbnail made"))).toBe(true);
    } finally {
      await a.close();
      await b.close();
      rmSync(shared, { recursive: true, force: true });
    }
  }, 60_000);

  test.if(HAVE_REDIS)("a thumbnail made on one instance shows on another at once, though it had the row cached", async () => {
    const redis = await startTestRedis();
    const shared = mkdtempSync(join(tmpdir(), "chitram-shared-images-"));
    const open = () => createHarness({ db, redisUrl: redis.url, env: { THUMBNAIL_WORKERS: "1", LOCAL_STORAGE_PATH: shared } });
    const [a, b] = [await open(), await open()];
    try {
      const { id } = await (await a.upload(await fixture("q-baseline.jpg"), "seen.jpg")).json();
      await b.request(`/api/v1/images/${id}`);
      const cached = await b.request(`/api/v1/images/${id}`);
      expect(cached.headers.get("x-cache")).toBe("HIT");
      expect((await cached.json()).thumbnail_status).toBe("pending");
      await makeThumbnails(a, thumbnailReady(a, id));
      // No waiting for a TTL: B's invalidation log heard the row's new version on commit.
      await eventually(async () => (await (await b.request(`/api/v1/images/${id}`)).json()).thumbnail_ready === true, 1_000, 10, "B sees the thumbnail");
      expect((await b.request(`/api/v1/images/${id}/thumbnail`)).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
      await redis.stop();
      rmSync(shared, { recursive: true, force: true });
    }
  }, 60_000);

  test("a job survives SIGKILL of the server before and while it runs, and completes after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "chitram-sigkill-"));
    const env = { DATABASE_URL: url.href, DATA_DIR: dataDir, THUMBNAIL_JOB_TIMEOUT_SECONDS: "2" };
    let server: ChitramProcess | undefined;
    const upload = async (s: ChitramProcess, bytes: Uint8Array<ArrayBuffer>, filename: string) => {
      const form = new FormData();
      form.append("file", new Blob([bytes]), filename);
      return (await (await fetch(`${s.url}/api/v1/images/upload`, { method: "POST", body: form })).json()).id as string;
    };
    const status = async (s: ChitramProcess, id: string) => (await (await fetch(`${s.url}/api/v1/images/${id}`)).json()).thumbnail_status;
    try {
      // Killed before any instance claimed it: this one makes no thumbnails.
      server = await startChitram({ env: { ...env, THUMBNAIL_WORKERS: "0" } });
      const queued = await upload(server, await fixture("q-baseline.jpg"), "queued.jpg");
      server.kill("SIGKILL");
      await server.exited;

      // Killed while its Worker decodes a 12-megapixel image: the job stays claimed by a dead holder.
      server = await startChitram({ env: { ...env, THUMBNAIL_WORKERS: "1" } });
      const big = await upload(server, makePng({ width: 4000, height: 3000 }), "big.png");
      await server.waitForLog(new RegExp(`thumbnail job started.*${big}`), 20_000);
      server.kill("SIGKILL");
      await server.exited;
      expect(await createThumbnailJobs(db, "chitram:image:").find(big)).toMatchObject({ state: "running", attempts: 1 });

      // Restarted: both complete (the running one once its lease, 2 s + 5 s, has run out).
      server = await startChitram({ env: { ...env, THUMBNAIL_WORKERS: "1" } });
      const s = server;
      await eventually(async () => (await status(s, queued)) === "ready" && (await status(s, big)) === "ready", 30_000, 200, "both thumbnails after the restart");
      const thumb = await fetch(`${s.url}/api/v1/images/${big}/thumbnail`);
      expect(thumb.status).toBe(200);
      await thumb.arrayBuffer();
    } finally {
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
