// A thumbnail job finishing while its image is deleted: both touch the image row and the job row.
// They must not deadlock (the delete's answer would be a 500, the job's a failed attempt).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { createPostgresDatabase, type DatabaseHandle } from "../src/db/client.ts";
import { thumbnailJobs } from "../src/db/schema.ts";
import { createImagesRepo } from "../src/images/repo.ts";
import { createThumbnailJobs } from "../src/thumbnails/jobs.ts";
import { createScratchDatabase, HAVE_POSTGRES } from "./support/services.ts";

describe.if(HAVE_POSTGRES)("thumbnail job changes and image deletes", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let db: DatabaseHandle;
  beforeAll(async () => {
    scratch = await createScratchDatabase("locks");
    db = createPostgresDatabase(scratch.url);
    await db.migrate();
  });
  afterAll(async () => {
    await db.close();
    await scratch.drop();
  });

  test("run together 150 times: no deadlock, no error; each pair ends with the image gone and no job left", async () => {
    const repo = createImagesRepo(db);
    const jobs = createThumbnailJobs(db, "t:image:");
    const failures: string[] = [];
    for (let i = 0; i < 150; i++) {
      const id = crypto.randomUUID();
      await repo.insert({ id, filename: "a.png", storageKey: `${id}.png`, contentType: "image/png", fileSize: 1, sha256: "a".repeat(64) });
      await db.db.update(thumbnailJobs).set({ state: "running", lockedBy: "h", lockedUntil: sql`now() + interval '1 minute'` }).where(sql`${thumbnailJobs.imageId} = ${id}`);
      const finish = i % 2 === 0 ? jobs.complete(id, "h", { key: `${id}.thumb.jpg`, sha256: "b".repeat(64) }, async () => {}) : jobs.fail(id, "h", "bad", async () => {});
      const results = await Promise.allSettled([finish, repo.delete(id, [{ key: `t:image:${id}`, version: null }])]);
      for (const r of results) if (r.status === "rejected") failures.push(String(r.reason).slice(0, 200));
      expect(await repo.findById(id)).toBeUndefined();
      expect(await jobs.find(id)).toBeUndefined();
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
