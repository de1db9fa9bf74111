// Every wait is bounded: a frozen or restarting PostgreSQL gets 503 + Retry-After within the query
// deadline (and service resumes by itself), and an upload body that trickles in is cut off at its
// deadline with its slot released.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { createPostgresDatabase, type DatabaseHandle } from "../../src/db/client.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { makePng } from "../support/images.ts";
import { startTestPostgres, type TestPostgres } from "../support/postgres-server.ts";
import { rawExchange, serveHarness } from "../support/server.ts";
import { HAVE_PG_BINARIES } from "../support/services.ts";
import { eventually } from "../support/wait.ts";

const QUERY_TIMEOUT_MS = 1_000;

async function timed(fn: () => Promise<Response>): Promise<{ res: Response; ms: number }> {
  const t = performance.now();
  const res = await fn();
  await res.arrayBuffer();
  return { res, ms: performance.now() - t };
}

describe.if(HAVE_PG_BINARIES)("PostgreSQL frozen or restarting", () => {
  let pg: TestPostgres;
  let db: DatabaseHandle;
  let h: Harness;
  let id: string;
  beforeAll(async () => {
    pg = await startTestPostgres();
    db = createPostgresDatabase(pg.url, { queryTimeoutMs: QUERY_TIMEOUT_MS, connectTimeoutSeconds: 1 });
    h = await createHarness({ db, build: { invalidations: { heartbeatMs: 100, heartbeatTimeoutMs: 600 } } });
    const up = await h.upload(makePng(), "before.png");
    expect(up.status).toBe(201);
    id = ((await up.json()) as { id: string }).id;
  }, 30_000);
  afterAll(async () => {
    pg.thaw();
    await h.close();
    await db.close();
    await pg.destroy();
  }, 30_000);

  test("frozen (SIGSTOP): reads, uploads and /health answer 503 within their bounds; after SIGCONT service resumes by itself", async () => {
    pg.freeze();
    try {
      const reads = await Promise.all(Array.from({ length: 12 }, () => timed(() => h.request(`/api/v1/images/${id}`))));
      for (const { res, ms } of reads) {
        expect(res.status).toBe(503);
        expect(res.headers.get("retry-after")).toBe("1");
        expect(ms).toBeLessThan(QUERY_TIMEOUT_MS + 600); // waiting for a connection counts toward the deadline
      }
      const up = await timed(() => h.upload(makePng(), "frozen.png"));
      expect(up.res.status).toBe(503);
      expect(up.ms).toBeLessThan(3 * QUERY_TIMEOUT_MS + 600); // the insert's outcome is unknown: retried within 2 deadlines
      const health = await timed(() => h.request("/health"));
      expect(health.res.status).toBe(503);
      expect(health.ms).toBeLessThan(2_600);
      // The invalidation channel's heartbeat stopped coming back: the caches stand down.
      await eventually(async () => h.deps.invalidations.channelState() === "down", 3_000, 50, "channel down");
    } finally {
      pg.thaw();
    }
    await eventually(async () => (await h.request(`/api/v1/images/${id}`)).status === 200, 15_000, 100, "reads resume");
    expect((await h.upload(makePng(), "after.png")).status).toBe(201);
    await eventually(async () => h.deps.invalidations.channelState() === "live", 15_000, 100, "channel live again");
    // Whatever the frozen upload's insert did when it finally ran, no row lacks its file.
    const rows = await pg.query<{ storage_key: string }>("select storage_key from images");
    const files = new Set(readdirSync(h.deps.config.LOCAL_STORAGE_PATH));
    for (const r of rows) expect(files.has(r.storage_key)).toBe(true);
  }, 45_000);

  test("a 3 s restart: every request answers within the deadline (503 while down), then service resumes by itself", async () => {
    await pg.stop();
    const latencies: number[] = [];
    const statuses = new Set<number>();
    const restarted = Bun.sleep(3_000).then(() => pg.start());
    const until = performance.now() + 4_000;
    while (performance.now() < until) {
      const { res, ms } = await timed(() => h.request(`/api/v1/images/${id}`));
      latencies.push(ms);
      statuses.add(res.status);
      await Bun.sleep(50);
    }
    await restarted;
    expect(statuses.has(503)).toBe(true);
    expect(Math.max(...latencies)).toBeLessThan(QUERY_TIMEOUT_MS + 1_100); // connect timeout 1 s at worst
    await eventually(async () => (await h.request(`/api/v1/images/${id}`)).status === 200, 10_000, 100, "reads resume");
    await eventually(async () => h.deps.invalidations.channelState() === "live", 10_000, 100, "channel live again");
    console.log(`during a 3 s PostgreSQL restart: ${latencies.length} requests, max ${Math.round(Math.max(...latencies))} ms`);
  }, 45_000);
});

describe("a trickled upload body", () => {
  let h: Harness;
  let srv: ReturnType<typeof serveHarness>;
  beforeAll(async () => {
    h = await createHarness({
      db: "pglite",
      env: { UPLOAD_BODY_TIMEOUT_SECONDS: "1", UPLOAD_CONCURRENCY_LIMIT: "1", UPLOAD_CONCURRENCY_TIMEOUT: "10" },
    });
    srv = serveHarness(h);
  }, 30_000);
  afterAll(async () => {
    srv.stop();
    await h.close();
  });

  test("is cut off with 408 at its deadline, and the slot it held goes to the next upload", async () => {
    const head = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n`;
    const started = performance.now();
    // One byte every 200 ms: fast enough for any idle timeout, far too slow to finish.
    const trickle = rawExchange(srv.port, [head, ...Array.from({ length: 40 }, () => "x")], { gapMs: 200, timeoutMs: 10_000 });
    await Bun.sleep(100);
    expect(h.deps.uploadSlots.active()).toBe(1);
    // A second upload waits for the only slot…
    const form = new FormData();
    form.append("file", new Blob([makePng()]), "next.png");
    const next = fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form });

    const r = await trickle;
    const ms = performance.now() - started;
    expect(r.response).toStartWith("HTTP/1.1 408");
    expect(r.response).toContain('"code":"REQUEST_TIMEOUT"');
    expect(ms).toBeGreaterThan(900);
    expect(ms).toBeLessThan(2_500);
    // …and gets it once the trickler is cut off.
    expect((await next).status).toBe(201);
    expect(h.deps.uploadSlots.active()).toBe(0);
  }, 15_000);
});
