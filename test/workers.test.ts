// Several processes: two chitram instances whose in-process tiers stay coherent through the
// invalidation channel (a delete on A empties B's L1), and WORKERS=2: one port, a killed worker
// replaced, /metrics added up over the workers, SIGTERM exits 0. Real PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { makePng } from "./support/images.ts";
import { runChitram, startChitram, type ChitramProcess } from "./support/process.ts";
import { promtoolCheck, sample } from "./support/promtool.ts";
import { spareTcpPort, startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_PROMTOOL, HAVE_REDIS, TEST_DATABASE_URL } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

const L1_HIT = "chitram-l1; hit";

async function uploadTo(server: { url: string }) {
  const form = new FormData();
  form.append("file", new Blob([makePng()], { type: "image/png" }), "w.png");
  const res = await fetch(`${server.url}/api/v1/images/upload`, { method: "POST", body: form });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; delete_token: string };
}

const childrenOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.if(HAVE_POSTGRES && HAVE_REDIS)("several processes on one PostgreSQL and Redis", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(() => redis.stop());
  const env = () => ({ DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: redis.url, THUMBNAIL_WORKERS: "0" });

  test("a delete on instance A empties instance B's L1: B answers 404 right after A's 204", async () => {
    const [a, b] = await Promise.all([startChitram({ env: env() }), startChitram({ env: env() })]);
    try {
      const lags: number[] = [];
      for (let i = 0; i < 10; i++) {
        const { id, delete_token } = await uploadTo(a);
        await eventually(async () => (await fetch(`${b.url}/api/v1/images/${id}`)).headers.get("cache-status") === L1_HIT, 5_000, 10, "B serves it from L1");
        const del = await fetch(`${a.url}/api/v1/images/${id}`, { method: "DELETE", headers: { "X-Delete-Token": delete_token } });
        expect(del.status).toBe(204);
        const t0 = performance.now();
        // B heard the invalidation before or within milliseconds of A's answer.
        for (;;) {
          const res = await fetch(`${b.url}/api/v1/images/${id}`);
          if (res.status === 404) break;
          expect(res.status).toBe(200);
          expect(performance.now() - t0).toBeLessThan(100);
        }
        lags.push(performance.now() - t0);
      }
      console.log(`[l1 coherence] B's first 404 after A's 204: max ${Math.max(...lags).toFixed(1)} ms over ${lags.length} deletes`);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  }, 60_000);

  test("WORKERS=2: one port, coherent L1s, /metrics over both workers; a killed worker is replaced; SIGTERM exits 0", async () => {
    const metricsPort = await spareTcpPort();
    const fleet: ChitramProcess = await startChitram({ env: { ...env(), WORKERS: "2", METRICS_PORT: String(metricsPort) } });
    let stopped = false;
    try {
      const line = await fleet.waitForLog("chitram supervising workers", 20_000);
      const pids = JSON.parse(line).pids as number[];
      expect(pids).toHaveLength(2);
      expect(childrenOf(fleet.pid).sort()).toEqual([...pids].sort());
      // Both answer on the one port: each worker's own L1 fills, so two MISS-or-L2 answers, then hits.
      const { id, delete_token } = await uploadTo(fleet);
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${fleet.url}/api/v1/images/${id}`, { headers: { Connection: "close" } });
        expect(res.status).toBe(200);
        seen.add(res.headers.get("cache-status")!);
      }
      expect(seen.has(L1_HIT)).toBe(true);
      // /metrics is on METRICS_PORT only, and adds both workers up.
      expect((await fetch(`${fleet.url}/metrics`)).status).toBe(404);
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(sample(text, "chitram_workers_ready")).toBe(2);
      expect(sample(text, 'chitram_db_pool_connections{state="max"}')).toBe(20);
      expect(sample(text, 'chitram_http_request_duration_seconds_count{route="/api/v1/images/:id",method="GET",status="200"}')).toBe(40);
      if (HAVE_PROMTOOL) expect(await promtoolCheck(text)).toEqual({ code: 0, output: "" });
      // A delete through either worker empties both L1s.
      expect((await fetch(`${fleet.url}/api/v1/images/${id}`, { method: "DELETE", headers: { "X-Delete-Token": delete_token } })).status).toBe(204);
      for (let i = 0; i < 10; i++) expect((await fetch(`${fleet.url}/api/v1/images/${id}`, { headers: { Connection: "close" } })).status).toBe(404);

      // SIGKILL one worker: the supervisor starts another; the port keeps answering.
      process.kill(pids[0]!, "SIGKILL");
      await fleet.waitForLog("worker exited; restarting it", 5_000);
      await eventually(async () => {
        const now = childrenOf(fleet.pid);
        return now.length === 2 && !now.includes(pids[0]!);
      }, 20_000, 100, "a replacement worker");
      await eventually(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text())).includes("chitram_workers_ready 2"), 20_000, 100, "2 workers ready");
      for (let i = 0; i < 10; i++) expect((await fetch(`${fleet.url}/health`, { headers: { Connection: "close" } })).status).toBe(200);

      const workers = childrenOf(fleet.pid);
      const code = await fleet.stop(30_000);
      stopped = true;
      expect(code).toBe(0);
      for (const pid of workers) expect(alive(pid)).toBe(false);
      expect(fleet.logs().filter((l) => l.includes('"msg":"stopped"')).length).toBe(3); // two workers and the supervisor
    } finally {
      if (!stopped) await fleet.destroy();
    }
  }, 90_000);

  test("WORKERS above 1 without DATABASE_URL is refused: the embedded database is for one process", async () => {
    const r = await runChitram({ env: { WORKERS: "2" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("invalid WORKERS=\"2\": more than 1 needs DATABASE_URL");
  });
});
