import { beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { cacheInvalidations } from "../src/db/schema.ts";
import { createImagesRepo, type ImagesRepo } from "../src/images/repo.ts";
import { database, type DbKind } from "./support/harness.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

const newRow = (over: Partial<Parameters<ImagesRepo["insert"]>[0]> = {}) => {
  const id = crypto.randomUUID();
  return {
    id,
    filename: "a.png",
    storageKey: `${id}.png`,
    contentType: "image/png",
    fileSize: 10,
    uploadIp: "127.0.0.1",
    width: 1,
    height: 2,
    deleteTokenHash: "ab".repeat(32),
    sha256: "cd".repeat(32),
    ...over,
  };
};

describe.each(kinds)("images repository on %s", (kind) => {
  let repo: ImagesRepo;
  beforeAll(async () => {
    const db = await database(kind);
    await db.migrate();
    repo = createImagesRepo(db);
  });

  test("insert returns the stored row with server defaults; findById reads it back", async () => {
    const row = newRow({ fileSize: 5 * 1024 * 1024 * 1024 }); // bigint column: > 2^31
    const inserted = await repo.insert(row);
    expect(inserted).toMatchObject(row);
    expect(inserted.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(inserted.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(inserted.userId).toBeNull();
    expect(inserted.thumbnailKey).toBeNull();
    expect(await repo.findById(row.id)).toEqual(inserted);
    expect(await repo.findById(crypto.randomUUID())).toBeUndefined();
  });

  test("storage keys are unique", async () => {
    const a = await repo.insert(newRow());
    await expect(repo.insert(newRow({ storageKey: a.storageKey }))).rejects.toThrow();
  });

  test("insert is idempotent by id: a retry after a lost answer returns the committed row", async () => {
    const row = newRow();
    const first = await repo.insert(row);
    expect(await repo.insert(row)).toEqual(first);
    // The same id with other bytes is not "the same upload".
    await expect(repo.insert({ ...row, storageKey: `${crypto.randomUUID()}.png` })).rejects.toThrow(/taken/);
  });

  test("delete removes the row and records its invalidations in the same transaction, then runs afterCommit", async () => {
    const row = await repo.insert(newRow());
    const key = `test:image:${row.id}`;
    let seen: { storageKey: string; outboxIds: number[] } | undefined;
    const deleted = await repo.delete(row.id, [{ key, version: null }], async (r, outboxIds) => {
      seen = { storageKey: r.storageKey, outboxIds };
    });
    expect(deleted?.row.id).toBe(row.id);
    expect(seen?.storageKey).toBe(row.storageKey);
    expect(seen?.outboxIds).toEqual(deleted!.outboxIds);
    expect(deleted!.outboxIds).toHaveLength(1);
    expect(await repo.findById(row.id)).toBeUndefined();
    const db = await database(kind);
    const [outbox] = await db.db.select().from(cacheInvalidations).where(eq(cacheInvalidations.id, deleted!.outboxIds[0]!));
    expect(outbox).toMatchObject({ cacheKey: key, version: null, appliedAt: null });
    expect(await repo.delete(row.id, [{ key, version: null }])).toBeUndefined();
  });

  test("a delete whose invalidation cannot be recorded does not happen: the row stays", async () => {
    const row = await repo.insert(newRow());
    // A NUL byte cannot be stored in a text column: the outbox insert fails, and with it the statement.
    await expect(repo.delete(row.id, [{ key: "bad\u0000key", version: null }])).rejects.toThrow();
    expect(await repo.findById(row.id)).toBeDefined();
  });

  test("storageKeysInUse finds originals and thumbnails; keysPage walks every row by id", async () => {
    const a = await repo.insert(newRow());
    const orphan = `${crypto.randomUUID()}.png`;
    expect(await repo.storageKeysInUse([a.storageKey, orphan, `${a.id}.thumb.jpg`])).toEqual(new Set([a.storageKey]));
    const seen = new Set<string>();
    for (let after: string | undefined; ; ) {
      const page = await repo.keysPage(after, 7);
      for (const r of page) seen.add(r.id);
      if (page.length < 7) break;
      after = page[page.length - 1]!.id;
    }
    expect(seen.has(a.id)).toBe(true);
    expect(seen.size).toBe(await repo.count());
  });

  test("count counts rows", async () => {
    const before = await repo.count();
    await repo.insert(newRow());
    expect(await repo.count()).toBe(before + 1);
  });
});
