import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLeases } from "../src/db/leases.ts";
import { createReconciler } from "../src/storage/reconciler.ts";
import { freshDatabase, type FreshDatabase } from "./support/fresh-db.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];
const GRACE_S = 60;

describe.each(kinds)("storage reconciler on %s", (kind) => {
  let h: Harness;
  let dir: string;
  let fresh: FreshDatabase;
  const age = (name: string, seconds: number) => {
    const t = new Date(Date.now() - seconds * 1000);
    utimesSync(join(dir, name), t, t);
  };
  beforeAll(async () => {
    // Every row of the database is compared with this harness's folder: no other test's rows
    // (the shared PGlite holds every earlier test file's images).
    fresh = await freshDatabase(kind, "reconciler");
    h = await createHarness({ db: fresh.db, env: { RECONCILE_GRACE_SECONDS: String(GRACE_S) } });
    dir = h.deps.config.LOCAL_STORAGE_PATH;
  }, 30_000);
  afterAll(async () => {
    await h.close();
    await fresh.close();
  });

  test("removes old files without rows and old temporaries; keeps young ones, files with rows, and names it did not make", async () => {
    const kept = (await (await h.upload(makePng(), "kept.png")).json()) as { id: string };
    age(`${kept.id}.png`, GRACE_S * 2);
    const oldOrphan = `${crypto.randomUUID()}.jpg`;
    const youngOrphan = `${crypto.randomUUID()}.png`; // an upload between its file and its row
    const oldTemp = `${crypto.randomUUID()}.png.${crypto.randomUUID()}.tmp`;
    const youngTemp = `${crypto.randomUUID()}.webp.${crypto.randomUUID()}.tmp`;
    const foreign = "notes.txt";
    for (const name of [oldOrphan, youngOrphan, oldTemp, youngTemp, foreign]) writeFileSync(join(dir, name), "x");
    for (const name of [oldOrphan, oldTemp, foreign]) age(name, GRACE_S * 2);

    const report = await h.deps.reconciler.runOnce();
    expect(report).toMatchObject({ orphansRemoved: 1, temporariesRemoved: 1, rowsWithoutFile: [] });
    const left = new Set((await h.deps.storage.list()).filter((n) => [oldOrphan, youngOrphan, oldTemp, youngTemp, foreign, `${kept.id}.png`].includes(n)));
    expect(left).toEqual(new Set([youngOrphan, youngTemp, foreign, `${kept.id}.png`]));
    for (const n of [youngOrphan, youngTemp, foreign]) rmSync(join(dir, n));
  });

  test("a row whose file is missing is reported loudly (and left alone)", async () => {
    const lost = (await (await h.upload(makePng(), "lost.png")).json()) as { id: string };
    rmSync(join(dir, `${lost.id}.png`));
    // Only rows older than the grace period are judged.
    expect((await h.deps.reconciler.runOnce())?.rowsWithoutFile).not.toContain(lost.id);
    // The shared test database also holds other test files' rows, whose files live in other
    // folders: they would all be "missing" here, and the report names only the first 20 by id.
    // Only this row's files are judged, so the report is about this test's row alone.
    const storage = { ...h.deps.storage, exists: (key: string) => (key.startsWith(lost.id) ? h.deps.storage.exists(key) : Promise.resolve(true)) };
    const aged = createReconciler(storage, h.deps.repo, createLeases(h.deps.database), h.deps.logger, { graceMs: 0, intervalMs: 60_000, holder: "t" });
    const report = await aged.runOnce();
    expect(report?.rowsWithoutFile).toContain(lost.id);
    expect(h.logs.some((l) => l.includes("images whose stored bytes are missing") && l.includes(lost.id))).toBe(true);
    expect(await h.deps.repo.findById(lost.id)).toBeDefined();
    await h.deps.repo.delete(lost.id, []);
  });

  test("one instance at a time across the fleet: a second reconciler does nothing while the first holds the lease", async () => {
    const leases = createLeases(h.deps.database);
    expect(await leases.acquire("storage-reconciler", "someone-else", 60_000)).toBe(true);
    try {
      expect(await h.deps.reconciler.runOnce()).toBeUndefined();
    } finally {
      await leases.release("storage-reconciler", "someone-else");
    }
    expect(await h.deps.reconciler.runOnce()).toBeDefined();
    // An expired lease (its holder died) is taken over.
    expect(await leases.acquire("storage-reconciler", "dead-holder", 1)).toBe(true);
    await Bun.sleep(20);
    expect(await h.deps.reconciler.runOnce()).toBeDefined();
  });
});

describe("/health and storage", () => {
  test("storage that is gone makes /health 503 unhealthy with storage_status unavailable; it recovers when it is back", async () => {
    const h = await createHarness({ db: "pglite" });
    try {
      expect(await (await h.request("/health")).json()).toMatchObject({ status: "healthy", storage: "local", storage_status: "ok" });
      rmSync(h.deps.config.LOCAL_STORAGE_PATH, { recursive: true });
      const down = await h.request("/health");
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: "unhealthy", storage_status: "unavailable", database: "connected" });
      // An upload has nowhere to go: 503 with the reason, nothing half-written.
      const up = await h.upload(makePng(), "nowhere.png");
      expect(up.status).toBe(503);
      expect((await up.json()).error.details.reason).toBe("storage_unavailable");
      mkdirSync(h.deps.config.LOCAL_STORAGE_PATH, { recursive: true });
      expect((await h.request("/health")).status).toBe(200);
      expect((await h.upload(makePng(), "back.png")).status).toBe(201);
    } finally {
      await h.close();
    }
  });
});
