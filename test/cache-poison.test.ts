// Cached values are untrusted input: a value that is not exactly what this server would have
// written under its key is a miss, is removed, and is never served (on any route, in any tier).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApiKey, register } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

const DB: DbKind = HAVE_POSTGRES ? "postgres" : "pglite";

describe.if(HAVE_REDIS)("poisoned cache values", () => {
  let redis: TestRedis;
  let h: Harness;
  let victim: { id: string; bytes: Uint8Array<ArrayBuffer> };
  let other: { id: string; bytes: Uint8Array<ArrayBuffer> };

  async function upload(width: number) {
    const bytes = makePng({ width, height: 3 });
    const res = await h.upload(bytes, `${width}.png`);
    expect(res.status).toBe(201);
    return { id: ((await res.json()) as { id: string }).id, bytes };
  }
  const key = (id: string) => `chitram:image:${id}`;
  const genuine = async (id: string) => JSON.parse(await redis.command("GET", key(id))) as Record<string, unknown>;

  beforeAll(async () => {
    redis = await startTestRedis();
    // What Redis holds is the untrusted input here: the in-process tier, which holds only copies
    // this process decoded and checked, is off so every read goes to Redis.
    h = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_L1_MAX_ENTRIES: "0" } });
    victim = await upload(4);
    other = await upload(9);
  });
  afterAll(async () => {
    await h.close();
    await redis.stop();
  });

  // Each poison is written over the victim's genuine entry.
  const poisons: Array<[string, (v: Record<string, unknown>) => unknown]> = [
    ["another image's storage key (would serve its bytes under this id)", (v) => ({ ...v, storageKey: `${other.id}.png` })],
    ["another image's id", (v) => ({ ...v, id: other.id })],
    ["a storage key that is a path", (v) => ({ ...v, storageKey: "../../etc/passwd" })],
    ["text/html as the content type", (v) => ({ ...v, contentType: "text/html" })],
    ["CR/LF in the content type (header injection)", (v) => ({ ...v, contentType: "image/png\r\nX-Evil: 1" })],
    ["CR/LF in the filename", (v) => ({ ...v, filename: "a\r\nSet-Cookie: x=1" })],
    ["a negative size", (v) => ({ ...v, fileSize: -5 })],
    ["a version of 0", (v) => ({ ...v, version: 0 })],
    ["a thumbnail key of another image", (v) => ({ ...v, thumbnailKey: `${other.id}.thumb.jpg` })],
    ["a hash that is not one", (v) => ({ ...v, sha256: "x" })],
    ["no cachedAt", (v) => ({ ...v, cachedAt: undefined })],
    ["a JSON array", () => [1, 2]],
  ];

  for (const [name, poison] of poisons) {
    test(`${name}: a MISS served from the database, on metadata and file routes; the entry is repaired`, async () => {
      await eventually(async () => (await redis.command("EXISTS", key(victim.id))) === ":1");
      await redis.command("SET", key(victim.id), JSON.stringify(poison(await genuine(victim.id))));

      h.deps.images.drop(victim.id); // the file route must meet the poisoned entry, not its in-process facts
      const file = await h.request(`/api/v1/images/${victim.id}/file`);
      expect(file.status).toBe(200);
      expect(file.headers.get("content-type")).toBe("image/png");
      expect(file.headers.get("x-evil")).toBeNull();
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(victim.bytes);

      await redis.command("SET", key(victim.id), JSON.stringify(poison(await genuine(victim.id).catch(() => ({})))));
      const meta = await h.request(`/api/v1/images/${victim.id}`);
      expect(meta.status).toBe(200);
      expect(meta.headers.get("x-cache")).toBe("MISS");
      const body = (await meta.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ id: victim.id, content_type: "image/png", filename: "4.png", file_size: victim.bytes.length });

      // Repaired: the next read is a genuine HIT.
      await eventually(async () => (await h.request(`/api/v1/images/${victim.id}`)).headers.get("x-cache") === "HIT", 3_000);
      expect(await genuine(victim.id)).toMatchObject({ id: victim.id, storageKey: `${victim.id}.png`, contentType: "image/png" });
    });
  }

  test("a value that is not a string (WRONGTYPE) is a miss and is replaced", async () => {
    await redis.command("DEL", key(victim.id));
    await redis.command("HSET", key(victim.id), "id", victim.id);
    const meta = await h.request(`/api/v1/images/${victim.id}`);
    expect(meta.status).toBe(200);
    expect(meta.headers.get("x-cache")).toBe("MISS");
    await eventually(async () => (await redis.command("TYPE", key(victim.id))) === "+string", 3_000);
    expect(h.deps.cache.state()).toBe("connected"); // an error reply does not open the breaker
  });

  test("a 30 MB value is refused without reading it whole, removed, and costs the read little", async () => {
    // Built inside Redis: a JSON-looking head, 30 MB of padding, a tail.
    await redis.command("SET", key(victim.id), `{"id":"${victim.id}","pad":"`);
    await redis.command("SETRANGE", key(victim.id), String(30 * 1024 * 1024), '"}');
    const rssBefore = process.memoryUsage().rss;
    const t = performance.now();
    const meta = await h.request(`/api/v1/images/${victim.id}`);
    const ms = performance.now() - t;
    expect(meta.status).toBe(200);
    expect(meta.headers.get("x-cache")).toBe("MISS");
    expect(ms).toBeLessThan(150);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(30 * 1024 * 1024);
    await eventually(async () => Number((await redis.command("STRLEN", key(victim.id))).slice(1)) < 4096, 3_000);
  });

  test("the in-process file map never takes a poisoned value, so nothing poisoned outlives a FLUSHALL", async () => {
    await redis.command("FLUSHALL");
    await redis.command("SET", key(victim.id), JSON.stringify({ ...(await genuineOf(h, victim.id)), storageKey: `${other.id}.png` }));
    h.deps.images.drop(victim.id);
    expect(new Uint8Array(await (await h.request(`/api/v1/images/${victim.id}/file`)).arrayBuffer())).toEqual(victim.bytes);
    await redis.command("FLUSHALL");
    expect(new Uint8Array(await (await h.request(`/api/v1/images/${victim.id}/file`)).arrayBuffer())).toEqual(victim.bytes);
  });
});

/** The entry this server itself would write for `id` (read back after a fresh MISS). */
async function genuineOf(h: Harness, id: string): Promise<Record<string, unknown>> {
  const row = await h.deps.repo.findById(id);
  const { createdAt, uploadIp: _ip, deleteTokenHash: _hash, ...rest } = row!;
  return { ...rest, createdAt: createdAt.toISOString(), cachedAt: Date.now() };
}

describe.if(HAVE_REDIS)("poisoned user and API key entries", () => {
  let redis: TestRedis;
  let h: Harness;
  beforeAll(async () => {
    redis = await startTestRedis();
    // Redis' values are the input here: the in-process tier would answer before Redis is read.
    h = await createHarness({ db: DB, redisUrl: redis.url, env: { CACHE_L1_MAX_ENTRIES: "0" } });
  }, 30_000);
  afterAll(async () => {
    await h.close();
    await redis.stop();
  });

  const userPoisons: Array<[string, (v: Record<string, unknown>, otherId: string) => unknown]> = [
    ["another user's id", (v, otherId) => ({ ...v, id: otherId })],
    ["isActive as a string", (v) => ({ ...v, isActive: "true" })],
    ["isAdmin missing", (v) => ({ ...v, isAdmin: undefined })],
    ["CR/LF in the email", (v) => ({ ...v, email: "a@b.c\r\nX-Evil: 1" })],
    ["an upper-case email (never stored so)", (v) => ({ ...v, email: String(v.email).toUpperCase() })],
    ["a version of 0", (v) => ({ ...v, version: 0 })],
    ["a JSON array", () => [1]],
  ];
  for (const [name, poison] of userPoisons) {
    test(`user entry with ${name}: the request is authorised from the database, the entry repaired`, async () => {
      const [user, other] = [await register(h), await register(h)];
      expect((await h.request("/api/v1/auth/me", { headers: user.headers })).status).toBe(200);
      const key = `chitram:user:${user.id}`;
      await eventually(async () => (await redis.command("EXISTS", key)) === ":1");
      const genuine = JSON.parse(await redis.command("GET", key)) as Record<string, unknown>;
      await redis.command("SET", key, JSON.stringify(poison(genuine, other.id)));
      const me = await h.request("/api/v1/auth/me", { headers: user.headers });
      expect(me.status).toBe(200);
      expect((await me.json()).id).toBe(user.id);
      const withoutTime = ({ cachedAt: _, ...v }: Record<string, unknown>) => v;
      await eventually(async () => Bun.deepEquals(withoutTime(JSON.parse(await redis.command("GET", key))), withoutTime(genuine)));
    });
  }

  const keyPoisons: Array<[string, (v: Record<string, unknown>) => unknown]> = [
    ["another key's hash", (v) => ({ ...v, keyHash: "0".repeat(64) })],
    ["an owner that is not a uuid", (v) => ({ ...v, userId: "admin" })],
    ["an unknown scope", (v) => ({ ...v, scopes: ["read", "admin"] })],
    ["no scopes", (v) => ({ ...v, scopes: [] })],
    ["a scope list that is a string", (v) => ({ ...v, scopes: "read,delete" })],
  ];
  for (const [name, poison] of keyPoisons) {
    test(`API key entry with ${name}: the key is checked against the database, the entry repaired`, async () => {
      const owner = await register(h);
      const k = await createApiKey(h, owner, ["read"]);
      expect((await h.request("/api/v1/auth/me", { headers: k.headers })).status).toBe(200);
      const key = `chitram:apikey:${new Bun.CryptoHasher("sha256").update(k.key).digest("hex")}`;
      await eventually(async () => (await redis.command("EXISTS", key)) === ":1");
      const genuine = JSON.parse(await redis.command("GET", key)) as Record<string, unknown>;
      await redis.command("SET", key, JSON.stringify(poison(genuine)));
      expect((await h.request("/api/v1/auth/me", { headers: k.headers })).status).toBe(200);
      // Still only its own scope.
      expect((await h.request("/api/v1/images", { method: "GET", headers: k.headers })).status).toBe(200);
      expect((await h.upload(makePng(), "x.png", "image/png", k.headers)).status).toBe(403);
      await eventually(async () => (JSON.parse(await redis.command("GET", key)) as Record<string, unknown>).keyHash === genuine.keyHash);
    });
  }
});
