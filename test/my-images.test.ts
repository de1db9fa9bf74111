// GET /api/v1/images ("my images") through HTTP on both databases: newest first by cursor, only
// the caller's images, the tag filter, pages that never repeat or skip an image while uploads and
// deletes interleave with the paging, identical timestamps, and the index that serves it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { ownedPage } from "../src/images/repo.ts";
import { createApiKey, json, register, uploadAs, type Account } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

type Page = { images: Array<{ id: string; created_at: string }>; next_cursor: string | null };

describe.each(kinds)("my images on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
  }, 30_000);
  afterAll(() => h.close());

  const page = async (user: Account, query = ""): Promise<Page> => {
    const res = await h.request(`/api/v1/images${query}`, { headers: user.headers });
    const body = await res.json();
    expect(`${res.status} ${JSON.stringify(body).slice(0, 200)}`).toStartWith("200");
    return body;
  };
  /** Every page of `user`'s images (limit per page), optionally doing `between` after each page. */
  const allPages = async (user: Account, limit: number, extra = "", between?: (pageNo: number) => Promise<void>) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let n = 0; ; n++) {
      const p = await page(user, `?limit=${limit}${extra}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(p.images.length).toBeLessThanOrEqual(limit);
      ids.push(...p.images.map((i) => i.id));
      cursor = p.next_cursor;
      if (!cursor) return ids;
      expect(n).toBeLessThan(1000);
      await between?.(n);
    }
  };
  const uploadMany = async (user: Account, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await uploadAs(h, user.headers, makePng(), `m${i}.png`)).body.id);
    return ids;
  };

  test("needs credentials (read scope); a new user has an empty page", async () => {
    const none = await h.request("/api/v1/images");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    const user = await register(h);
    expect(await page(user)).toEqual({ images: [], next_cursor: null });
    const key = await createApiKey(h, user, ["read"]);
    expect((await h.request("/api/v1/images", { headers: key.headers })).status).toBe(200);
  });

  test("only the caller's images, newest first, in pages with the metadata shape", async () => {
    const user = await register(h);
    const other = await register(h);
    const mine = await uploadMany(user, 7);
    await uploadMany(other, 2);
    await uploadAs(h, {}, makePng());
    const first = await page(user, "?limit=3");
    expect(first.images.map((i) => i.id)).toEqual(mine.slice(-3).reverse());
    expect(Object.keys(first.images[0]!).sort()).toEqual(
      ["content_type", "created_at", "file_size", "filename", "height", "id", "thumbnail_error", "thumbnail_ready", "thumbnail_status", "thumbnail_url", "url", "width"],
    );
    expect(first.images[0]!.id).toBe(mine[6]!);
    expect(await allPages(user, 3)).toEqual([...mine].reverse());
    expect(await allPages(user, 100)).toEqual([...mine].reverse());
    // Exactly a page's worth: the last page says so (no empty page after it).
    expect((await page(user, "?limit=7")).next_cursor).toBeNull();
    expect((await page(user)).images.length).toBe(7); // default limit 20
  });

  test("pages never repeat or skip an image while uploads and deletes interleave with the paging", async () => {
    const user = await register(h);
    const before = await uploadMany(user, 30);
    const deleted = new Set<string>();
    const added: string[] = [];
    const inFlight: Array<Promise<unknown>> = [];
    // After each page, without waiting for them, so they race the next page's request: a new
    // upload, a delete of an image not shown yet, and a delete of one already shown.
    const ids = await allPages(user, 4, "", async (n) => {
      const victimAhead = before[before.length - 1 - (4 * (n + 1) + 1)];
      const victimSeen = before[before.length - 1 - n];
      inFlight.push(uploadAs(h, user.headers, makePng()).then((r) => added.push(r.body.id)));
      for (const v of [victimAhead, victimSeen]) {
        if (!v || deleted.has(v)) continue;
        deleted.add(v);
        inFlight.push(h.request(`/api/v1/images/${v}`, { method: "DELETE", headers: user.headers }).then((r) => expect(r.status).toBe(204)));
      }
    });
    await Promise.all(inFlight);
    expect(new Set(ids).size).toBe(ids.length); // no repeats
    for (const id of before) if (!deleted.has(id)) expect(ids).toContain(id); // no skips
    for (const id of added) expect(ids).not.toContain(id); // newer than the first page: never in later ones
    const order = ids.map((id) => before.indexOf(id));
    expect(order).toEqual([...order].sort((a, b) => b - a)); // newest first throughout
    expect(deleted.size).toBeGreaterThan(5);
  });

  test("identical timestamps: the id breaks the tie, one image per page", async () => {
    const user = await register(h);
    const ids = await uploadMany(user, 5);
    await h.deps.database.db.execute(sql`update images set created_at = '2030-01-01 00:00:00.123456+00' where user_id = ${user.id}::uuid`);
    const seen = await allPages(user, 1);
    expect(seen).toEqual([...ids].sort().reverse());
  });

  test("?tag= keeps only images carrying the tag (case-insensitive), paged", async () => {
    const user = await register(h);
    const ids = await uploadMany(user, 6);
    const tag = `cat${crypto.randomUUID().slice(0, 6)}`;
    for (const id of ids.filter((_, i) => i % 2 === 0)) {
      expect((await h.request(`/api/v1/images/${id}/tags`, json({ tag }, user.headers))).status).toBe(201);
    }
    expect(await allPages(user, 2, `&tag=${tag.toUpperCase()}`)).toEqual(ids.filter((_, i) => i % 2 === 0).reverse());
    expect((await page(user, "?tag=nothing-has-this")).images).toEqual([]);
    // Another user's images with that tag are not mine.
    const other = await register(h);
    const theirs = (await uploadAs(h, other.headers, makePng())).body.id;
    await h.request(`/api/v1/images/${theirs}/tags`, json({ tag }, other.headers));
    expect((await page(user, `?tag=${tag}&limit=100`)).images.map((i) => i.id)).not.toContain(theirs);
  });

  test.each([
    ["?limit=0"],
    ["?limit=101"],
    ["?limit=ten"],
    ["?cursor=bogus"],
    [`?cursor=${Buffer.from(JSON.stringify(["2020-01-01", "x"])).toString("base64url")}`],
    [`?cursor=${Buffer.from(JSON.stringify(["2020-01-01 00:00:00+00", "00000000-0000-4000-8000-000000000000", 1])).toString("base64url")}`],
    [`?tag=${"t".repeat(51)}`],
  ])("%s is 400 INVALID_REQUEST", async (query) => {
    const user = await register(h);
    const res = await h.request(`/api/v1/images${query}`, { headers: user.headers });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("INVALID_REQUEST");
  });

  test("PostgreSQL serves a page from the (user_id, created_at, id) index, without sorting", async () => {
    const user = await register(h);
    await uploadMany(user, 3);
    const p = await page(user, "?limit=2");
    const cursor = JSON.parse(Buffer.from(p.next_cursor!, "base64url").toString());
    const q = ownedPage(h.deps.database.db, user.id, { before: { at: cursor[0], id: cursor[1] }, limit: 21 }).toSQL();
    let plan: string;
    if (kind === "postgres") {
      const one = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        // A small table would be scanned whole (or bitmap-scanned and sorted): ask whether the index CAN serve it in order.
        await one.unsafe("set enable_seqscan = off; set enable_bitmapscan = off; set enable_sort = off");
        plan = (await one.unsafe(`explain ${q.sql}`, q.params as never[])).map((r) => Object.values(r)[0]).join("\n");
      } finally {
        await one.end();
      }
    } else {
      const pg = (h.deps.database.db as unknown as { $client: { query(s: string, p?: unknown[]): Promise<{ rows: Array<Record<string, string>> }>; exec(s: string): Promise<unknown> } }).$client;
      await pg.exec("set enable_seqscan = off; set enable_bitmapscan = off; set enable_sort = off");
      try {
        plan = (await pg.query(`explain ${q.sql}`, q.params)).rows.map((r) => Object.values(r)[0]).join("\n");
      } finally {
        await pg.exec("reset enable_seqscan; reset enable_bitmapscan; reset enable_sort");
      }
    }
    expect(plan).toContain("images_user_created_idx");
    expect(plan).toContain("Backward");
    expect(plan).not.toContain("Sort");
  });
});
