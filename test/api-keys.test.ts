// API keys through HTTP on both databases: created and shown once, listed, revoked; only a hash
// stored; usable wherever a JWT is, limited to their scopes. Then two instances on PostgreSQL
// sharing a Redis: a revoked key, and a deactivated user's token, are refused on the other
// instance at once, and a stale copy put back into Redis is not believed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { createApiKey, json, register, uploadAs, type Account } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe.each(kinds)("API keys on %s", (kind) => {
  let h: Harness;
  let owner: Account;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
    owner = await register(h);
  }, 30_000);
  afterAll(() => h.close());

  test("create shows the key once; list shows everything but the key; only its SHA-256 is stored", async () => {
    const res = await h.request("/api/v1/api-keys", json({ name: "  ShareX  ", scopes: ["upload", "read", "upload"] }, owner.headers));
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(Object.keys(created).sort()).toEqual(["created_at", "id", "key", "name", "prefix", "scopes"]);
    expect(created.key).toMatch(/^chk_[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ name: "ShareX", prefix: created.key.slice(0, 12), scopes: ["read", "upload"] });

    const list = await (await h.request("/api/v1/api-keys", { headers: owner.headers })).json();
    const listed = list.find((k: { id: string }) => k.id === created.id);
    const { key: _, ...withoutKey } = created;
    expect(listed).toEqual(withoutKey);
    expect(JSON.stringify(list)).not.toContain(created.key);

    const rows = await h.deps.database.db.execute(sql`select * from api_keys where id = ${created.id}`);
    const row = JSON.stringify(rows);
    expect(row).toContain(sha256(created.key));
    expect(row).not.toContain(created.key.slice(12));
  });

  test("a key works wherever a JWT does, within its scopes", async () => {
    const all = await createApiKey(h, owner, ["upload", "delete", "read"]);
    const me = await h.request("/api/v1/auth/me", { headers: all.headers });
    expect((await me.json()).id).toBe(owner.id);
    const up = await uploadAs(h, all.headers, makePng());
    expect(up.status).toBe(201);
    expect(up.body.delete_token).toBeNull();
    const mine = await (await h.request("/api/v1/images?limit=100", { headers: all.headers })).json();
    expect(mine.images.map((i: { id: string }) => i.id)).toContain(up.body.id);
    expect((await h.request(`/api/v1/images/${up.body.id}/tags`, json({ tag: "keyed" }, all.headers))).status).toBe(201);
    expect((await h.request(`/api/v1/images/${up.body.id}/tags/keyed`, { method: "DELETE", headers: all.headers })).status).toBe(204);
    // The owner's JWT and key are the same owner.
    expect((await h.request(`/api/v1/images/${up.body.id}`, { method: "DELETE", headers: owner.headers })).status).toBe(204);
  });

  test("scopes are enforced: 403 FORBIDDEN naming the scope", async () => {
    const readOnly = await createApiKey(h, owner, ["read"]);
    const uploadOnly = await createApiKey(h, owner, ["upload"]);
    const image = await uploadAs(h, uploadOnly.headers, makePng());
    expect(image.status).toBe(201);
    const refusals: Array<[string, Response, string]> = [
      ["read key uploads", await h.upload(makePng(), "x.png", "image/png", readOnly.headers), "upload"],
      ["read key deletes", await h.request(`/api/v1/images/${image.body.id}`, { method: "DELETE", headers: readOnly.headers }), "delete"],
      ["read key tags", await h.request(`/api/v1/images/${image.body.id}/tags`, json({ tag: "nope" }, readOnly.headers)), "upload"],
      ["upload key deletes", await h.request(`/api/v1/images/${image.body.id}`, { method: "DELETE", headers: uploadOnly.headers }), "delete"],
      ["upload key untags", await h.request(`/api/v1/images/${image.body.id}/tags/nope`, { method: "DELETE", headers: uploadOnly.headers }), "delete"],
      ["upload key reads /me", await h.request("/api/v1/auth/me", { headers: uploadOnly.headers }), "read"],
      ["upload key lists", await h.request("/api/v1/images", { headers: uploadOnly.headers }), "read"],
    ];
    for (const [what, res, scope] of refusals) {
      const body = await res.json();
      expect(`${what}: ${res.status} ${body.error.code} ${body.error.details.required_scope}`).toBe(`${what}: 403 FORBIDDEN ${scope}`);
    }
    // The image is still there.
    expect((await h.request(`/api/v1/images/${image.body.id}`)).status).toBe(200);
  });

  test("a key cannot manage keys (that needs the user's token)", async () => {
    const all = await createApiKey(h, owner, ["upload", "delete", "read"]);
    for (const res of [
      await h.request("/api/v1/api-keys", json({ name: "child", scopes: ["read"] }, all.headers)),
      await h.request("/api/v1/api-keys", { headers: all.headers }),
      await h.request(`/api/v1/api-keys/${all.id}`, { method: "DELETE", headers: all.headers }),
    ]) {
      expect(res.status).toBe(403);
      expect((await res.json()).error.details.required).toBe("user_token");
    }
  });

  test("revoke: 204, then the key is refused; again, someone else's, or a malformed id: 404 API_KEY_NOT_FOUND", async () => {
    const k = await createApiKey(h, owner, ["read"]);
    expect((await h.request("/api/v1/auth/me", { headers: k.headers })).status).toBe(200);
    expect((await h.request(`/api/v1/api-keys/${k.id}`, { method: "DELETE", headers: owner.headers })).status).toBe(204);
    const after = await h.request("/api/v1/auth/me", { headers: k.headers });
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const other = await register(h);
    const theirs = await createApiKey(h, other, ["read"]);
    for (const id of [k.id, theirs.id, "nope"]) {
      const res = await h.request(`/api/v1/api-keys/${id}`, { method: "DELETE", headers: owner.headers });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("API_KEY_NOT_FOUND");
    }
    expect((await h.request("/api/v1/auth/me", { headers: theirs.headers })).status).toBe(200);
  });

  test.each([
    ["no scopes", { name: "k", scopes: [] }],
    ["an unknown scope", { name: "k", scopes: ["admin"] }],
    ["an empty name", { name: "  ", scopes: ["read"] }],
    ["a 101-character name", { name: "n".repeat(101), scopes: ["read"] }],
    ["a control character in the name", { name: "a\u0007b", scopes: ["read"] }],
  ])("creating a key with %s is 400", async (_, body) => {
    const res = await h.request("/api/v1/api-keys", json(body, owner.headers));
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("INVALID_REQUEST");
  });

  test("without credentials: 401", async () => {
    expect((await h.request("/api/v1/api-keys")).status).toBe(401);
    expect((await h.request("/api/v1/api-keys", json({ name: "k", scopes: ["read"] }))).status).toBe(401);
  });
});

describe.if(HAVE_POSTGRES && HAVE_REDIS)("two instances sharing PostgreSQL and Redis", () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    redis = await startTestRedis();
    a = await createHarness({ db: "postgres", redisUrl: redis.url });
    b = await createHarness({ db: "postgres", redisUrl: redis.url });
  }, 30_000);
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });

  const me = (h: Harness, headers: Record<string, string>) => h.request("/api/v1/auth/me", { headers });

  test("a key revoked on one instance is refused on the other at once, and a stale copy in Redis is not believed", async () => {
    const owner = await register(a);
    const k = await createApiKey(a, owner, ["read"]);
    const cacheKey = `chitram:apikey:${sha256(k.key)}`;
    expect((await me(b, k.headers)).status).toBe(200); // b loads it and caches it in Redis
    expect((await me(b, k.headers)).status).toBe(200); // and serves it from there
    const cached = await redis.command("GET", cacheKey);
    expect(cached).toContain(owner.id);

    expect((await a.request(`/api/v1/api-keys/${k.id}`, { method: "DELETE", headers: owner.headers })).status).toBe(204);
    // No wait: the very next request on the other instance.
    expect((await me(b, k.headers)).status).toBe(401);

    // Redis brought back the old copy (a restore, a lost purge): b has heard the revocation and refuses it.
    await eventually(async () => b.deps.invalidations.log.keys().includes(cacheKey), 2_000, 5, "b heard the revocation");
    await redis.command("SET", cacheKey, cached);
    expect((await me(b, k.headers)).status).toBe(401);
    expect((await me(a, k.headers)).status).toBe(401);
  });

  test("a user deactivated on one instance is refused on the other at once (token and key), whatever Redis holds", async () => {
    const owner = await register(a);
    const k = await createApiKey(a, owner, ["read"]);
    const admin = a.deps.accounts.service;
    for (const h of [a, b]) for (const headers of [owner.headers, k.headers]) expect((await me(h, headers)).status).toBe(200);
    const cacheKey = `chitram:user:${owner.id}`;
    const cached = await redis.command("GET", cacheKey);
    expect(JSON.parse(cached)).toMatchObject({ id: owner.id, isActive: true });

    await admin.setActive(owner.id, false);
    for (const headers of [owner.headers, k.headers]) {
      const res = await me(b, headers);
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("USER_INACTIVE");
    }
    await eventually(async () => b.deps.invalidations.log.keys().includes(cacheKey), 2_000, 5, "b heard the deactivation");
    await redis.command("SET", cacheKey, cached);
    expect((await me(b, owner.headers)).status).toBe(401);
    await admin.setActive(owner.id, true);
    expect((await me(b, owner.headers)).status).toBe(200);
  });
});
