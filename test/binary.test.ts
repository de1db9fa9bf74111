// Smoke test of the single binary: built, copied alone into an empty folder, started, used
// through HTTP, stopped with SIGTERM. Once on the embedded defaults, once on PostgreSQL + Redis.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WEB_ASSET_NAMES } from "../src/web/assets.ts";
import { fixture, makePng } from "./support/images.ts";
import { startServerProcess, type ServerProcess } from "./support/process.ts";
import { spareTcpPort, startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { createScratchDatabase, HAVE_POSTGRES, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";
import { decodeJpeg } from "./support/thumbnails.ts";
import { eventually } from "./support/wait.ts";

const ROOT = join(import.meta.dir, "..");
const BINARY = join(ROOT, "dist", "chitram");

type Running = ServerProcess & { dir: string };

async function startBinary(env: Record<string, string>, reuseDir?: string): Promise<Running> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), "chitram-bin-"));
  if (!reuseDir) copyFileSync(BINARY, join(dir, "chitram"));
  const port = await spareTcpPort();
  // Only what the test chooses: no inherited configuration.
  const server = await startServerProcess([join(dir, "chitram")], {
    cwd: dir,
    env: { PATH: "/usr/bin:/bin", HOME: dir, PORT: String(port), HOST: "127.0.0.1", ...env },
    port,
  });
  return { ...server, dir };
}

async function exercise(r: Running, expectCache: "connected" | "disconnected") {
  const png = makePng({ width: 3, height: 2 });
  const form = new FormData();
  form.append("file", new Blob([png]), "smoke.png");
  const up = await fetch(`${r.url}/api/v1/images/upload`, { method: "POST", body: form });
  expect(up.status).toBe(201);
  const { id, delete_token, width, height } = await up.json();
  expect([width, height]).toEqual([3, 2]);

  const meta = await fetch(`${r.url}/api/v1/images/${id}`);
  expect(meta.status).toBe(200);
  expect(meta.headers.get("x-cache")).toBe(expectCache === "connected" ? "HIT" : "DISABLED");
  const file = await fetch(`${r.url}/api/v1/images/${id}/file`);
  expect(new Uint8Array(await file.arrayBuffer())).toEqual(png);
  expect((await (await fetch(`${r.url}/health`)).json()).cache).toBe(expectCache);

  const del = await fetch(`${r.url}/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
  expect(del.status).toBe(204);
  expect((await fetch(`${r.url}/api/v1/images/${id}`)).status).toBe(404);
  await makesThumbnails(r);
}

/** The embedded codecs and the Worker entry point work inside the binary: one image of each kind. */
async function makesThumbnails(r: Running) {
  const uploaded: Array<{ id: string; delete_token: string }> = [];
  for (const name of ["q-cmyk.jpg", "q-orient6.jpg", "q-alpha.png", "q-animated.gif", "q-animated.webp", "private.jpg"]) {
    const form = new FormData();
    form.append("file", new Blob([await fixture(name)]), name);
    uploaded.push(await (await fetch(`${r.url}/api/v1/images/upload`, { method: "POST", body: form })).json());
  }
  const ids = uploaded.map((u) => u.id);
  const status = async (id: string) => (await (await fetch(`${r.url}/api/v1/images/${id}`)).json()).thumbnail_status;
  await eventually(async () => (await Promise.all(ids.map(status))).every((s) => s === "ready"), 30_000, 100, "thumbnails in the binary");
  for (const id of ids) {
    const thumb = await fetch(`${r.url}/api/v1/images/${id}/thumbnail`);
    expect(thumb.headers.get("content-type")).toBe("image/jpeg");
    const decoded = decodeJpeg(new Uint8Array(await thumb.arrayBuffer()));
    expect([decoded.width, decoded.height]).toEqual([300, 225]);
  }
  // Counts are the fleet's (a shared test database holds other tests' jobs too).
  expect((await (await fetch(`${r.url}/health`)).json()).thumbnails).toMatchObject({ pending: expect.any(Number), failed: expect.any(Number), workers: expect.stringMatching(/^\d+\/\d+ active$/) });
  for (const { id, delete_token } of uploaded) {
    expect((await fetch(`${r.url}/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
  }
}

/** SIGTERM while an upload is still sending its body: the upload completes, then the process exits 0. */
async function stopGracefully(r: Running) {
  const png = makePng({ width: 4, height: 4 });
  const boundary = "smokeboundary";
  const enc = new TextEncoder();
  const head = enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.png"\r\nContent-Type: image/png\r\n\r\n`);
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  let resume!: () => void;
  const resumed = new Promise<void>((res) => (resume = res));
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(head);
      controller.enqueue(png.subarray(0, 10));
      await resumed;
      controller.enqueue(png.subarray(10));
      controller.enqueue(tail);
      controller.close();
    },
  });
  const inflight = fetch(`${r.url}/api/v1/images/upload`, {
    method: "POST",
    body,
    headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
  });
  await Bun.sleep(200);
  r.kill("SIGTERM");
  await Bun.sleep(200);
  resume();
  const res = await inflight;
  expect(res.status).toBe(201);
  expect(await r.exited).toBe(0);
  expect(r.logEntries().map((e) => e.msg)).toContain("stopped");
  // New connections are refused once it has stopped.
  expect(await fetch(`${r.url}/health`).then(() => "answered", () => "refused")).toBe("refused");
}

describe("single binary", () => {
  beforeAll(async () => {
    const build = Bun.spawn(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if ((await build.exited) !== 0) throw new Error(await new Response(build.stderr).text());
  }, 120_000);

  test("--version and --help answer without starting a server", async () => {
    const v = Bun.spawn([BINARY, "--version"], { stdout: "pipe" });
    expect(await v.exited).toBe(0);
    expect((await new Response(v.stdout).text()).trim()).toMatch(/^chitram \d+\.\d+\.\d+$/);
    const h = Bun.spawn([BINARY, "--help"], { stdout: "pipe" });
    expect(await h.exited).toBe(0);
    const help = await new Response(h.stdout).text();
    for (const name of ["DATABASE_URL", "REDIS_URL", "CACHE_TTL_SECONDS", "MAX_FILE_SIZE_MB", "TRUSTED_PROXIES"]) expect(help).toContain(name);
  });

  test("alone in an empty folder, with no configuration: embedded PGlite, data in ./data", async () => {
    // No Redis configured and none on the default port here would be "disconnected"; point the
    // default at a closed port so the result does not depend on the machine's own Redis.
    const r = await startBinary({ REDIS_PORT: String(await spareTcpPort()) });
    try {
      console.log(`binary (embedded PGlite, fresh data dir): first answer after ${r.firstAnswerMs} ms`);
      await exercise(r, "disconnected");
      expect(readdirSync(join(r.dir, "data")).sort()).toEqual(["chitram.lock", "images", "pgdata"]);
      // The docs page and its embedded assets are inside the binary.
      const docs = await fetch(`${r.url}/docs`);
      expect(docs.status).toBe(200);
      for (const ref of (await docs.text()).matchAll(/(?:src|href)="([^"]+)"/g)) {
        const asset = await fetch(`${r.url}${ref[1]}`);
        expect(`${ref[1]} ${asset.status} ${(await asset.text()).length > 200}`).toBe(`${ref[1]} 200 true`);
      }
      expect((await (await fetch(`${r.url}/openapi.json`)).json()).openapi).toBe("3.1.0");
      // So are the web pages' style sheet, scripts and icon.
      const upload = await fetch(`${r.url}/`, { headers: { Accept: "text/html" } });
      expect(upload.headers.get("content-type")).toContain("text/html");
      const assets = [...(await upload.text()).matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));
      expect(assets.length).toBeGreaterThanOrEqual(4);
      for (const ref of assets) {
        const asset = await fetch(`${r.url}${ref}`);
        expect(`${ref} ${asset.status} ${(await asset.text()).length > 200}`).toBe(`${ref} 200 true`);
      }
      // Every page script (the account pages' too), and the sign-in page.
      for (const name of WEB_ASSET_NAMES) {
        const asset = await fetch(`${r.url}/assets/${name}`);
        expect(`${name} ${asset.status} ${(await asset.text()).length > 200}`).toBe(`${name} 200 true`);
      }
      expect(await (await fetch(`${r.url}/login`, { headers: { Accept: "text/html" } })).text()).toContain('<form method="post" action="/login"');
      // A second binary on the same data folder refuses (flock through bun:ffi works compiled too).
      const second = Bun.spawn([join(r.dir, "chitram")], {
        cwd: r.dir,
        env: { PATH: "/usr/bin:/bin", HOME: r.dir, PORT: String(await spareTcpPort()), HOST: "127.0.0.1" },
        stdout: "ignore",
        stderr: "pipe",
      });
      expect(await second.exited).toBe(1);
      expect((await new Response(second.stderr).text()).trim()).toMatch(/^chitram: DATA_DIR .* is in use by another chitram process \(pid \d+\)/);
      await stopGracefully(r);
      // Started again on the data it left: the image uploaded during shutdown is still there.
      const again = await startBinary({ REDIS_PORT: String(await spareTcpPort()) }, r.dir);
      try {
        console.log(`binary (embedded PGlite, existing data dir): first answer after ${again.firstAnswerMs} ms`);
        await exercise(again, "disconnected");
        // The image uploaded during shutdown (and its thumbnail, made after the restart if not before).
        await eventually(async () => readdirSync(join(r.dir, "data", "images")).length === 2, 10_000, 100, "the late upload's thumbnail");
        expect(readdirSync(join(r.dir, "data", "images")).sort()[0]).toMatch(/\.png$/);
        expect(await again.stop()).toBe(0);
      } finally {
        again.kill("SIGKILL");
      }
    } finally {
      r.kill("SIGKILL");
      rmSync(r.dir, { recursive: true, force: true });
    }
  }, 120_000);

  describe.if(HAVE_POSTGRES && HAVE_REDIS)("with PostgreSQL and Redis", () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startTestRedis();
    });
    afterAll(() => redis.stop());

    test("uses DATABASE_URL and REDIS_URL", async () => {
      const r = await startBinary({ DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: redis.url });
      try {
        console.log(`binary (PostgreSQL + Redis): first answer after ${r.firstAnswerMs} ms`);
        await exercise(r, "connected");
        expect(readdirSync(join(r.dir, "data"))).toEqual(["images"]); // no embedded database
        await stopGracefully(r);
      } finally {
        r.kill("SIGKILL");
        rmSync(r.dir, { recursive: true, force: true });
      }
    }, 60_000);

    test("WORKERS=2: the binary supervises two copies of itself on one port; /metrics on METRICS_PORT; SIGTERM exits 0", async () => {
      const metricsPort = await spareTcpPort();
      // A database of its own (thumbnail jobs other tests left in the shared one would queue ahead
      // of this test's in worker 1's single Worker) and a key prefix of its own (the test before
      // used up most of this client's upload rate limit in the same Redis).
      const db = await createScratchDatabase("binary_workers");
      const r = await startBinary({ DATABASE_URL: db.url, REDIS_URL: redis.url, CACHE_KEY_PREFIX: "workers", WORKERS: "2", METRICS_PORT: String(metricsPort) });
      try {
        const pids = JSON.parse(await r.waitForLog("chitram supervising workers", 20_000)).pids as number[];
        expect(pids).toHaveLength(2);
        await exercise(r, "connected").catch((err) => {
          throw new Error(`${(err as Error).message}\n${r.logs().filter((l) => !l.includes('"msg":"request"')).slice(-30).join("\n")}`);
        }); // thumbnails too: worker 1 runs the thumbnail Workers
        const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        expect(metrics).toContain("chitram_workers_ready 2");
        r.kill("SIGTERM");
        expect(await r.exited).toBe(0);
        expect(r.logEntries().filter((e) => e.msg === "stopped")).toHaveLength(3);
      } finally {
        r.kill("SIGKILL");
        await r.exited;
        rmSync(r.dir, { recursive: true, force: true });
        await db.drop();
      }
    }, 90_000);
  });
});
