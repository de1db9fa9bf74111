// Tag rules beyond the seed system's own tests (test/seed-port.test.ts), on both databases:
// normalisation and bounds, categories, LIKE wildcards taken literally, tags of deleted images,
// concurrent adds, and the owner-only rule for anonymous images.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, register, uploadAs, type Account } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

describe.each(kinds)("tags on %s", (kind) => {
  let h: Harness;
  let owner: Account;
  // Tag names unique to this run: the shared database keeps every test's tags.
  const run = `r${crypto.randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
    owner = await register(h);
  }, 30_000);
  afterAll(() => h.close());

  const image = async () => (await uploadAs(h, owner.headers, makePng())).body.id as string;
  const add = (id: string, body: unknown, who: Account = owner) => h.request(`/api/v1/images/${id}/tags`, json(body, who.headers));
  const names = async (path: string) => ((await (await h.request(path)).json()) as Array<{ name: string }>).map((t) => t.name);

  test.each([
    ["one character after trimming", { tag: "  a  " }],
    ["51 characters", { tag: "t".repeat(51) }],
    ["a control character", { tag: "ab\u0000c" }],
    ["a newline", { tag: "ab\nc" }],
    ["no tag", { category: "x" }],
    ["a 21-character category", { tag: "fine", category: "c".repeat(21) }],
    ["a number", { tag: 42 }],
  ])("a tag with %s is 400 INVALID_REQUEST", async (_, body) => {
    const res = await add(await image(), body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("INVALID_REQUEST");
  });

  test("bounds: 2 and 50 characters (after trimming and lower-casing), a 20-character category, an empty category is none", async () => {
    const id = await image();
    const two = await add(id, { tag: `  ${"AB"}  ` });
    expect(await two.json()).toEqual({ name: "ab", category: null, source: "user", confidence: null });
    const fifty = `${run}${"x".repeat(50 - run.length)}`;
    expect((await add(id, { tag: fifty.toUpperCase(), category: "c".repeat(20) })).status).toBe(201);
    expect((await add(id, { tag: `${run}-empty`, category: "" })).status).toBe(201);
    const tags = await (await h.request(`/api/v1/images/${id}/tags`)).json();
    expect(tags).toEqual([
      { name: "ab", category: null, source: "user", confidence: null },
      { name: `${run}-empty`, category: null, source: "user", confidence: null },
      { name: fifty, category: "c".repeat(20), source: "user", confidence: null },
    ]);
  });

  test("a tag's category is the one it was first made with", async () => {
    const [a, b] = [await image(), await image()];
    const name = `${run}-sky`;
    expect(await (await add(a, { tag: name, category: "nature" })).json()).toMatchObject({ category: "nature" });
    expect(await (await add(b, { tag: name, category: "weather" })).json()).toMatchObject({ category: "nature" });
  });

  test("search takes % and _ literally", async () => {
    const id = await image();
    const p = `${run}s`;
    for (const t of [`${p}a_b`, `${p}axb`, `${p}%q`, `${p}zz`]) expect((await add(id, { tag: t })).status).toBe(201);
    expect(await names(`/api/v1/tags/search?q=${encodeURIComponent(`${p}a_`)}`)).toEqual([`${p}a_b`]);
    expect(await names(`/api/v1/tags/search?q=${encodeURIComponent(`${p}%`)}`)).toEqual([`${p}%q`]);
    expect(await names(`/api/v1/tags/search?q=${encodeURIComponent(p)}&limit=100`)).toEqual([`${p}%q`, `${p}a_b`, `${p}axb`, `${p}zz`]);
    expect(await names(`/api/v1/tags/search?q=${encodeURIComponent(`  ${p.toUpperCase()}Z `)}`)).toEqual([`${p}zz`]);
  });

  test("tags of a deleted image are gone, and a tag on no image drops out of the listings", async () => {
    const id = await image();
    const name = `${run}-gone`;
    await add(id, { tag: name });
    expect(await names(`/api/v1/tags/search?q=${name}`)).toEqual([name]);
    expect((await h.request(`/api/v1/images/${id}`, { method: "DELETE", headers: owner.headers })).status).toBe(204);
    expect(await (await h.request(`/api/v1/images/${id}/tags`)).json()).toEqual([]);
    expect(await names(`/api/v1/tags/search?q=${name}`)).toEqual([]);
    expect(await names("/api/v1/tags/popular?limit=100")).not.toContain(name);
    // Untagging the last image does the same.
    const other = await image();
    await add(other, { tag: `${name}2` });
    await h.request(`/api/v1/images/${other}/tags/${name}2`, { method: "DELETE", headers: owner.headers });
    expect(await names(`/api/v1/tags/search?q=${name}2`)).toEqual([]);
  });

  test("concurrent adds: one tag row for many images; one image gets a tag once", async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, image));
    const name = `${run}-race`;
    const many = await Promise.all(ids.map((id) => add(id, { tag: name })));
    expect(many.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect((await (await h.request(`/api/v1/tags/popular?limit=100`)).json()).find((t: { name: string }) => t.name === name)).toEqual({ name, category: null, count: 6 });
    const once = await Promise.all(Array.from({ length: 5 }, () => add(ids[0]!, { tag: `${name}-once` })));
    expect(once.map((r) => r.status).sort()).toEqual([201, 400, 400, 400, 400]);
  });

  test("anonymous images cannot be tagged (no owner); unknown images: GET [], POST and DELETE 404", async () => {
    const anon = (await uploadAs(h, {}, makePng())).body.id;
    const res = await add(anon, { tag: "nope" });
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe("FORBIDDEN");
    const unknown = crypto.randomUUID();
    expect(await (await h.request(`/api/v1/images/${unknown}/tags`)).json()).toEqual([]);
    expect((await add(unknown, { tag: "nope" })).status).toBe(404);
    const del = await h.request(`/api/v1/images/${unknown}/tags/nope`, { method: "DELETE", headers: owner.headers });
    expect(del.status).toBe(404);
    expect((await del.json()).error.code).toBe("IMAGE_NOT_FOUND");
  });

  test.each(["/api/v1/tags?limit=0", "/api/v1/tags?limit=101", "/api/v1/tags/popular?limit=x", `/api/v1/tags/search?q=${"q".repeat(51)}`, "/api/v1/tags/search?q=a&limit=0"])(
    "%s is 400",
    async (path) => {
      const res = await h.request(path);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe("INVALID_REQUEST");
    },
  );

  test("listings carry the seed system's fields", async () => {
    const id = await image();
    await add(id, { tag: `${run}-shape`, category: "c" });
    const [found] = await (await h.request(`/api/v1/tags/search?q=${run}-shape`)).json();
    expect(Object.keys(found).sort()).toEqual(["category", "created_at", "id", "name"]);
    expect(found).toMatchObject({ name: `${run}-shape`, category: "c" });
    const popular = await (await h.request("/api/v1/tags/popular?limit=1")).json();
    expect(Object.keys(popular[0]).sort()).toEqual(["category", "count", "name"]);
  });
});
