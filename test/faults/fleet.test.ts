// Two chitram processes on one PostgreSQL, one Redis and one storage folder: deletes on one,
// reads on the other, while Redis is frozen, killed, and restarted from old snapshots. After a
// DELETE's 204, neither process ever answers 200 for that image again from Redis. (The
// in-process tier is off here: another process's in-process copy lives until the invalidation
// reaches it through PostgreSQL, a bound measured by test/workers.test.ts and `bun run bench`.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePng } from "../support/images.ts";
import { startChitram, type ChitramProcess } from "../support/process.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { createScratchDatabase, HAVE_POSTGRES, HAVE_REDIS } from "../support/services.ts";

type Image = { id: string; delete_token: string };

describe.if(HAVE_POSTGRES && HAVE_REDIS)("a fleet of two processes under Redis chaos", () => {
  let redis: TestRedis;
  let a: ChitramProcess;
  let b: ChitramProcess;
  let storage: string;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  beforeAll(async () => {
    redis = await startTestRedis();
    storage = mkdtempSync(join(tmpdir(), "chitram-fleet-"));
    scratch = await createScratchDatabase("fleet"); // its reconciler sees only this fleet's rows
    const env = { DATABASE_URL: scratch.url, REDIS_URL: redis.url, LOCAL_STORAGE_PATH: storage };
    [a, b] = await Promise.all([startChitram({ env }), startChitram({ env })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
    await redis.stop();
    await scratch?.drop();
    rmSync(storage, { recursive: true, force: true });
  }, 30_000);

  async function upload(on: ChitramProcess, errors: string[]): Promise<Image | undefined> {
    const form = new FormData();
    form.append("file", new Blob([makePng({ width: 3, height: 3 })]), "f.png");
    const res = await fetch(`${on.url}/api/v1/images/upload`, { method: "POST", body: form });
    if (res.status === 201) return (await res.json()) as Image;
    errors.push(`upload ${res.status} ${await res.text()}`);
    return undefined;
  }

  test("0 stale reads after a 204, on either process, while Redis freezes, dies and comes back from old snapshots", async () => {
    const stats = { deletes: 0, reads: 0, staleReads: 0, hits: 0, errors: 0, chaos: [] as string[], stale: [] as string[], errorDetails: [] as string[] };
    const t0 = performance.now();
    const deadline = performance.now() + 12_000;

    // Chaos: freeze, kill (cold restart), or snapshot-then-kill (restart from an older snapshot).
    const chaos = (async () => {
      for (let i = 0; performance.now() < deadline - 1_500; i++) {
        await Bun.sleep(400 + Math.random() * 400);
        const kind = ["freeze", "kill", "snapshot-restart"][i % 3]!;
        stats.chaos.push(kind);
        if (kind === "freeze") {
          redis.freeze();
          await Bun.sleep(300 + Math.random() * 700);
          redis.thaw();
        } else {
          if (kind === "snapshot-restart") await redis.command("SAVE").catch(() => "");
          await Bun.sleep(100 + Math.random() * 300); // deletes land after the snapshot
          await redis.kill();
          await Bun.sleep(200 + Math.random() * 500);
          if (kind === "kill") rmSync(join(redis.dir, "dump.rdb"), { force: true });
          await redis.start();
        }
      }
    })();

    // Workers: upload on one process, make both cache it, delete on one, then keep reading on both.
    const worker = async (n: number) => {
      const [writer, other] = n % 2 ? [a, b] : [b, a];
      while (performance.now() < deadline) {
        const img = await upload(writer, stats.errorDetails).catch((e) => void stats.errorDetails.push(`upload ${e}`));
        if (!img) {
          stats.errors++;
          continue;
        }
        for (const p of [other, writer]) {
          const r = await fetch(`${p.url}/api/v1/images/${img.id}`);
          if (r.headers.get("x-cache") === "HIT") stats.hits++;
        }
        const del = await fetch(`${writer.url}/api/v1/images/${img.id}?delete_token=${img.delete_token}`, { method: "DELETE" });
        if (del.status !== 204) {
          stats.errors++;
          stats.errorDetails.push(`delete ${del.status} ${await del.text()}`);
          continue;
        }
        stats.deletes++;
        const deletedAt = performance.now();
        // Everything from here on must be 404.
        const until = performance.now() + 300 + Math.random() * 700;
        while (performance.now() < until) {
          for (const p of [other, writer]) {
            const r = await fetch(`${p.url}/api/v1/images/${img.id}`);
            stats.reads++;
            if (r.status === 200) {
              stats.staleReads++;
              stats.stale.push(`${p === writer ? "writer" : "other"} ${r.headers.get("x-cache")} +${Math.round(performance.now() - deletedAt)}ms @${Math.round(performance.now() - t0)} ${img.id}`);
            }
            else if (r.status !== 404) {
              stats.errors++;
              stats.errorDetails.push(`read ${r.status} ${await r.text()}`);
            }
          }
          await Bun.sleep(20);
        }
      }
    };
    await Promise.all([...Array.from({ length: 4 }, (_, n) => worker(n)), chaos]);
    console.log(`fleet chaos: ${JSON.stringify({ ...stats, chaos: stats.chaos.join(",") })}`);
    // Whatever either process logged as an error (the cause of any 500) goes with the report.
    for (const p of [a, b]) for (const e of p.logEntries().filter((l) => l.level === "error")) console.log(`${p === a ? "a" : "b"}: ${JSON.stringify(e).slice(0, 2000)}`);
    expect(stats.deletes).toBeGreaterThan(20);
    expect(stats.reads).toBeGreaterThan(200);
    expect(stats.hits).toBeGreaterThan(0); // the cache was really in play
    expect(stats.staleReads).toBe(0);
    expect(stats.errors).toBe(0);
  }, 60_000);
});
