// The helper that runs real chitram processes: two of them share PostgreSQL and Redis, their
// logs are kept, and they stop, die and fail to start the way a test needs to see.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePng } from "./support/images.ts";
import { startChitram, type ChitramProcess } from "./support/process.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";

describe.if(HAVE_POSTGRES && HAVE_REDIS)("startChitram", () => {
  let redis: TestRedis;
  let images: string;
  const running: ChitramProcess[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const p = await startChitram({ env: { DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: redis.url, LOCAL_STORAGE_PATH: images, ...env } });
    running.push(p);
    return p;
  };
  beforeAll(async () => {
    redis = await startTestRedis();
    images = mkdtempSync(join(tmpdir(), "chitram-shared-images-"));
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.destroy()));
    await redis.stop();
    rmSync(images, { recursive: true, force: true });
  }, 20_000);

  test("two instances share PostgreSQL, Redis and storage; logs are captured; SIGTERM exits 0", async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.url).not.toBe(b.url);
    expect(a.dataDir).not.toBe(b.dataDir);
    expect(a.logEntries().find((e) => e.msg === "chitram listening")).toMatchObject({ database: "postgres" });

    const form = new FormData();
    form.append("file", new Blob([makePng()]), "shared.png");
    const up = await fetch(`${a.url}/api/v1/images/upload`, { method: "POST", body: form });
    expect(up.status).toBe(201);
    const { id } = await up.json();
    const meta = await fetch(`${b.url}/api/v1/images/${id}`);
    expect(meta.status).toBe(200);
    expect(meta.headers.get("x-cache")).toBe("HIT"); // a's upload wrote the shared Redis
    expect((await fetch(`${b.url}/api/v1/images/${id}/file`)).status).toBe(200);
    expect(await (await fetch(`${b.url}/health`)).json()).toMatchObject({ database: "connected", cache: "connected" });

    expect(await a.stop()).toBe(0);
    expect(a.logs().some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    expect(await fetch(`${a.url}/health`).then(() => "answered", () => "refused")).toBe("refused");
    expect((await fetch(`${b.url}/api/v1/images/${id}`)).status).toBe(200);
  }, 30_000);

  test("kill(SIGKILL) ends it at once: exit 137, no 'stopped' line", async () => {
    const p = await start();
    p.kill("SIGKILL");
    expect(await p.exited).toBe(137);
    expect(p.logs().some((l) => l.includes('"msg":"stopped"'))).toBe(false);
  }, 20_000);

  test("waitForLog sees lines logged after the call, and a process that dies before answering is an error", async () => {
    const p = await start({ CACHE_DEBUG: "true" });
    const seen = p.waitForLog(/"msg":"shutting down".*SIGTERM/, 5_000);
    p.kill("SIGTERM");
    expect(JSON.parse(await seen)).toMatchObject({ msg: "shutting down", signal: "SIGTERM" });
    await expect(p.waitForLog("never logged", 5_000)).rejects.toThrow(/exited \(0\)/);

    const started = performance.now();
    const bad = await startChitram({ env: { MAX_FILE_SIZE_MB: "lots" } }).catch((e: unknown) => e);
    expect(String(bad)).toContain("invalid MAX_FILE_SIZE_MB");
    expect(String(bad)).toContain("exit 2");
    expect(performance.now() - started).toBeLessThan(5_000);
  }, 20_000);
});
