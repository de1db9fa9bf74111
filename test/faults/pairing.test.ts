// Rows and files stay paired: no row without its file, ever, when a commit's answer is lost, a
// commit never arrives, or the server is killed mid-write. A file without a row is harmless and
// the reconciler removes it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { createPostgresDatabase, type DatabaseHandle } from "../../src/db/client.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { makePng } from "../support/images.ts";
import { pgAnswerTo, pgClientQuery } from "../support/pg-wire.ts";
import { startTestPostgres, type TestPostgres } from "../support/postgres-server.ts";
import { startChitram, type ChitramProcess } from "../support/process.ts";
import { HAVE_PG_BINARIES, HAVE_POSTGRES, TEST_DATABASE_URL } from "../support/services.ts";
import { proxiedDatabase, type TcpProxy } from "../support/tcp-proxy.ts";

type Uploaded = { id: string; delete_token: string };

/** The harness's images folder, aged past the reconciler's grace period. */
function ageEverything(h: Harness) {
  const old = new Date(Date.now() - 2 * h.deps.config.RECONCILE_GRACE_SECONDS * 1000);
  for (const name of readdirSync(h.deps.config.LOCAL_STORAGE_PATH)) utimesSync(join(h.deps.config.LOCAL_STORAGE_PATH, name), old, old);
}

describe.if(HAVE_POSTGRES)("a commit whose answer is lost, or that never arrives", () => {
  let proxy: TcpProxy;
  let db: DatabaseHandle;
  let h: Harness;
  beforeAll(async () => {
    const proxied = await proxiedDatabase(TEST_DATABASE_URL);
    proxy = proxied.proxy;
    db = createPostgresDatabase(proxied.url, { connectTimeoutSeconds: 2, queryTimeoutMs: 2_000 });
    h = await createHarness({ db });
  });
  afterAll(async () => {
    await h.close();
    await db.close();
    proxy.close();
  }, 15_000);

  const upload = async () => {
    const res = await h.upload(makePng({ width: 5, height: 4 }), "p.png");
    return { res, body: (await res.json()) as Uploaded & { error?: { code: string } } };
  };
  const expectPaired = async (id: string) => {
    expect(await h.deps.repo.findById(id)).toBeDefined();
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(true);
  };

  for (const close of ["reset", "end"] as const) {
    test(`upload: the INSERT commits but its answer is lost (${close}) → 201 with a working delete token; row and file both there`, async () => {
      // The row and its thumbnail job are one statement; cut its answer.
      const cut = proxy.cutWhen({ ...pgAnswerTo(/insert into "images"/i), close });
      const { res, body } = await upload();
      expect(cut.count()).toBe(1); // the answer really was lost
      expect(res.status).toBe(201);
      await expectPaired(body.id);
      const del = await h.request(`/api/v1/images/${body.id}?delete_token=${body.delete_token}`, { method: "DELETE" });
      expect(del.status).toBe(204);
    });

    test(`delete: the statement commits but its answer is lost (${close}) → the outcome is looked up: 204, row and file gone`, async () => {
      const { body } = await upload();
      const cut = proxy.cutWhen({ ...pgAnswerTo(/delete from "images"/i), close });
      const res = await h.request(`/api/v1/images/${body.id}?delete_token=${body.delete_token}`, { method: "DELETE" });
      expect(cut.count()).toBe(1);
      expect(res.status).toBe(204);
      expect(await h.deps.repo.findById(body.id)).toBeUndefined();
      expect(await h.deps.storage.exists(`${body.id}.png`)).toBe(false);
      expect((await h.request(`/api/v1/images/${body.id}`)).status).toBe(404);
    });

    test(`delete: the statement never reaches the server (${close}) → 503; the row keeps its file, and a retry deletes both`, async () => {
      const { body } = await upload();
      const cut = proxy.cutWhen({ fromClient: pgClientQuery(/delete from "images"/i), close });
      const res = await h.request(`/api/v1/images/${body.id}?delete_token=${body.delete_token}`, { method: "DELETE" });
      expect(cut.count()).toBe(1);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBeTruthy();
      await expectPaired(body.id);
      expect((await h.request(`/api/v1/images/${body.id}?delete_token=${body.delete_token}`, { method: "DELETE" })).status).toBe(204);
      expect(await h.deps.storage.exists(`${body.id}.png`)).toBe(false);
    });
  }

  test("upload: the connection is refused outright → 503 at once, and neither file nor row is left", async () => {
    const before = await h.deps.storage.list();
    proxy.cut();
    try {
      const { res } = await upload();
      expect(res.status).toBe(503);
    } finally {
      proxy.restore();
    }
    expect(await h.deps.storage.list()).toEqual(before);
  });
});

describe.if(HAVE_PG_BINARIES)("SIGKILL during uploads and deletes", () => {
  let pg: TestPostgres;
  let dataDir: string;
  const processes: ChitramProcess[] = [];
  beforeAll(async () => {
    pg = await startTestPostgres();
  }, 30_000);
  afterAll(async () => {
    for (const p of processes) p.kill("SIGKILL");
    await pg.destroy();
  }, 30_000);

  test("rounds of kills mid-write: every row always has its file; the reconciler then removes every file without a row and every temporary", async () => {
    let first: ChitramProcess | undefined;
    const known: Uploaded[] = [];
    for (let round = 0; round < 4; round++) {
      const p = await startChitram({ env: { DATABASE_URL: pg.url, ...(first ? { DATA_DIR: first.dataDir } : {}) } });
      processes.push(p);
      first ??= p;
      dataDir = first.dataDir;
      // Uploads (5 MiB-ish and small) and deletes in flight, then SIGKILL at a random moment.
      const stop = Date.now() + 400 + Math.random() * 400;
      const work = Array.from({ length: 6 }, async (_, worker) => {
        while (Date.now() < stop) {
          try {
            if (worker % 3 === 2 && known.length) {
              const victim = known.splice(Math.floor(Math.random() * known.length), 1)[0]!;
              await fetch(`${p.url}/api/v1/images/${victim.id}?delete_token=${victim.delete_token}`, { method: "DELETE" });
            } else {
              const form = new FormData();
              form.append("file", new Blob([makePng({ width: 8, height: 8, padTo: worker === 0 ? 3 * 1024 * 1024 : undefined })]), "k.png");
              const res = await fetch(`${p.url}/api/v1/images/upload`, { method: "POST", body: form });
              if (res.status === 201) known.push((await res.json()) as Uploaded);
            }
          } catch {
            return; // killed under us
          }
        }
      });
      await Bun.sleep(150 + Math.random() * 300);
      await p.kill("SIGKILL");
      await Promise.all(work);
    }

    const h = await createHarness({
      db: createPostgresDatabase(pg.url),
      env: { LOCAL_STORAGE_PATH: join(dataDir!, "images"), DATABASE_QUERY_TIMEOUT_SECONDS: "1", RECONCILE_GRACE_SECONDS: "3" },
    });
    try {
      // Originals and the thumbnails made so far.
      const rows = await pg.query<{ key: string }>("select storage_key as key from images union all select thumbnail_key from images where thumbnail_key is not null");
      const files = new Set(readdirSync(h.deps.config.LOCAL_STORAGE_PATH));
      // The invariant that must hold at every moment, reconciler or not:
      for (const r of rows) expect(files.has(r.key)).toBe(true);

      ageEverything(h);
      const report = await h.deps.reconciler.runOnce();
      expect(report).toBeDefined();
      const after = readdirSync(h.deps.config.LOCAL_STORAGE_PATH).sort();
      expect(after).toEqual(rows.map((r) => r.key).sort());
      expect(report!.rowsWithoutFile).toEqual([]);
      console.log(`SIGKILL rounds: ${rows.length} files of rows kept, ${report!.orphansRemoved} orphan files and ${report!.temporariesRemoved} temporaries removed`);
    } finally {
      await h.close();
      await h.deps.database.close();
    }
  }, 60_000);
});
