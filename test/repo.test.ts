import { beforeAll, describe, expect, test } from "bun:test";
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
    repo = createImagesRepo(db.db);
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

  test("deleteWith commits only if the callback succeeds", async () => {
    const row = await repo.insert(newRow());
    await expect(repo.deleteWith(row.id, async () => {
      throw new Error("cannot remove file");
    })).rejects.toThrow("cannot remove file");
    expect(await repo.findById(row.id)).toBeDefined();

    let seen: string | undefined;
    const deleted = await repo.deleteWith(row.id, async (r) => {
      seen = r.storageKey;
    });
    expect(deleted?.id).toBe(row.id);
    expect(seen).toBe(row.storageKey);
    expect(await repo.findById(row.id)).toBeUndefined();
    expect(await repo.deleteWith(row.id, async () => {})).toBeUndefined();
  });

  test("count counts rows", async () => {
    const before = await repo.count();
    await repo.insert(newRow());
    expect(await repo.count()).toBe(before + 1);
  });
});
