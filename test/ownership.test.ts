// Image ownership through HTTP on both databases: owned uploads, who may delete what,
// ALLOW_ANONYMOUS_UPLOADS, credentials that are sent must be valid; then, over real sockets with
// a Redis of their own, sign-in attempts limited per client and per account, and the upload limit
// counted per user when authenticated.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, PASSWORD, register, uniqueEmail, uploadAs, type Account } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { serveHarness } from "./support/server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

describe.each(kinds)("ownership on %s", (kind) => {
  let h: Harness;
  let owner: Account;
  let other: Account;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
    owner = await register(h);
    other = await register(h);
  }, 30_000);
  afterAll(() => h.close());

  const del = (id: string, headers: Record<string, string> = {}) => h.request(`/api/v1/images/${id}`, { method: "DELETE", headers });

  test("an authenticated upload is owned: delete_token null, no token stored, the owner is never shown", async () => {
    const up = await uploadAs(h, owner.headers, makePng());
    expect(up.status).toBe(201);
    expect(up.body.delete_token).toBeNull();
    const row = await h.deps.repo.findById(up.body.id);
    expect(row).toMatchObject({ userId: owner.id, deleteTokenHash: null });
    const meta = await (await h.request(`/api/v1/images/${up.body.id}`)).json();
    expect(JSON.stringify(meta)).not.toContain(owner.id);
    expect(Object.keys(meta)).not.toContain("user_id");
  });

  test("the owner deletes with the bearer token; another user gets 403 FORBIDDEN; anonymous, with or without a token, 403", async () => {
    const up = await uploadAs(h, owner.headers, makePng());
    for (const [who, res] of [
      ["another user", await del(up.body.id, other.headers)],
      ["anonymous", await del(up.body.id)],
      ["anonymous with a made-up token", await del(up.body.id, { "X-Delete-Token": "x".repeat(43) })],
    ] as const) {
      const body = await res.json();
      expect(`${who}: ${res.status} ${body.error.code}`).toBe(`${who}: 403 FORBIDDEN`);
    }
    expect((await h.request(`/api/v1/images/${up.body.id}`)).status).toBe(200);
    expect((await del(up.body.id, owner.headers)).status).toBe(204);
    expect((await h.request(`/api/v1/images/${up.body.id}`)).status).toBe(404);
    expect((await h.request(`/api/v1/images/${up.body.id}/file`)).status).toBe(404);
  });

  test("anonymous images still need their token, also from a signed-in user who did not upload them", async () => {
    const up = await uploadAs(h, {}, makePng());
    const noToken = await del(up.body.id, other.headers);
    expect(noToken.status).toBe(403);
    expect((await noToken.json()).error.code).toBe("DELETE_TOKEN_REQUIRED");
    expect((await del(up.body.id, { ...other.headers, "X-Delete-Token": up.body.delete_token })).status).toBe(204);
  });

  test("credentials that are sent must be valid: a bad token is 401, never an anonymous upload or delete", async () => {
    const bad = { Authorization: "Bearer not.a.token" };
    const res = await h.upload(makePng(), "x.png", "image/png", bad);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const anon = await uploadAs(h, {}, makePng());
    expect((await del(anon.body.id, { ...bad, "X-Delete-Token": anon.body.delete_token })).status).toBe(401);
    expect((await h.request(`/api/v1/images/${anon.body.id}`)).status).toBe(200);
  });

  test("after the image was read (and cached where there is a cache), a delete is still checked against the owner", async () => {
    const up = await uploadAs(h, owner.headers, makePng());
    await h.request(`/api/v1/images/${up.body.id}`); // read once (cached where there is a cache)
    expect((await del(up.body.id, other.headers)).status).toBe(403);
    expect((await del(up.body.id, owner.headers)).status).toBe(204);
  });
});

describe.each(kinds)("ALLOW_ANONYMOUS_UPLOADS=false on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: kind, env: { ALLOW_ANONYMOUS_UPLOADS: "false" } });
  }, 30_000);
  afterAll(() => h.close());

  test("an anonymous upload is 401 UNAUTHORIZED with a Bearer challenge; a signed-in one is stored", async () => {
    const res = await h.upload(makePng(), "x.png", "image/png");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect((await res.json()).error.code).toBe("UNAUTHORIZED");
    const user = await register(h);
    expect((await uploadAs(h, user.headers, makePng())).status).toBe(201);
  });

  test("the default lets anonymous uploads in (the README's two commands)", async () => {
    const dflt = await createHarness({ db: kind, env: {} });
    try {
      expect(dflt.deps.config.ALLOW_ANONYMOUS_UPLOADS).toBe(true);
      expect((await dflt.upload(makePng(), "x.png", "image/png")).status).toBe(201);
    } finally {
      await dflt.close();
    }
  });
});

describe.if(HAVE_REDIS)("rate limits with accounts (real sockets, a Redis of their own)", () => {
  let redis: TestRedis;
  let h: Harness;
  let srv: ReturnType<typeof serveHarness>;
  beforeAll(async () => {
    redis = await startTestRedis();
    h = await createHarness({
      db: "pglite",
      redisUrl: redis.url,
      env: {
        TRUSTED_PROXIES: "127.0.0.1/32",
        RATE_LIMIT_ENABLED: "true",
        RATE_LIMIT_PER_MINUTE: "2",
        RATE_LIMIT_WINDOW_SECONDS: "60",
        LOGIN_RATE_LIMIT_PER_CLIENT: "6",
        LOGIN_RATE_LIMIT_PER_ACCOUNT: "3",
        LOGIN_RATE_LIMIT_WINDOW_SECONDS: "60",
      },
    });
    srv = serveHarness(h);
  }, 30_000);
  afterAll(async () => {
    srv.stop();
    await h.close();
    await redis.stop();
  });

  const from = (ip: string, headers: Record<string, string> = {}) => ({ "X-Forwarded-For": ip, ...headers });
  const loginFrom = (ip: string, email: string, password = "wrong-password") =>
    fetch(`${srv.url}/api/v1/auth/login`, json({ email, password }, from(ip)));
  const registerFrom = async (ip: string): Promise<Account> => {
    const email = uniqueEmail("rl");
    const res = await fetch(`${srv.url}/api/v1/auth/register`, json({ email, password: PASSWORD }, from(ip)));
    const body = await res.json();
    expect(res.status).toBe(201);
    return { id: body.user.id, email, password: PASSWORD, token: body.access_token, headers: { Authorization: `Bearer ${body.access_token}` } };
  };
  const uploadFrom = (ip: string, headers: Record<string, string> = {}) => {
    const form = new FormData();
    form.append("file", new Blob([makePng()]), "r.png");
    return fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form, headers: from(ip, headers) });
  };

  test("per account: the 4th attempt on one email is 429 with Retry-After, from any address, known or unknown email alike", async () => {
    const user = await registerFrom("198.51.100.1");
    for (const email of [user.email, uniqueEmail("ghost")]) {
      for (let i = 0; i < 3; i++) expect((await loginFrom(`198.51.100.${10 + i}`, email)).status).toBe(401);
      const limited = await loginFrom("198.51.100.20", email);
      expect(limited.status).toBe(429);
      const retryAfter = Number(limited.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect((await limited.json()).error).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", details: { limit: 3, retry_after: retryAfter } });
      // Even the right password waits: the limit is on attempts.
      expect((await loginFrom("198.51.100.21", email, PASSWORD)).status).toBe(429);
    }
    // Another account is unaffected.
    expect((await loginFrom("198.51.100.22", uniqueEmail("fresh"))).status).toBe(401);
  });

  test("per client: the 7th attempt from one address is 429, whatever the emails; register counts too", async () => {
    const ip = "203.0.113.50";
    for (let i = 0; i < 6; i++) expect((await loginFrom(ip, uniqueEmail(`c${i}`))).status).toBe(401);
    const limited = await loginFrom(ip, uniqueEmail("c7"));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const reg = await fetch(`${srv.url}/api/v1/auth/register`, json({ email: uniqueEmail(), password: PASSWORD }, from(ip)));
    expect(reg.status).toBe(429);
    expect((await loginFrom("203.0.113.51", uniqueEmail("other"))).status).toBe(401);
  });

  test("uploads count per user when authenticated (all their credentials together), per address otherwise", async () => {
    const ip = "192.0.2.77";
    const alice = await registerFrom("192.0.2.1");
    const bob = await registerFrom("192.0.2.2");
    for (let i = 0; i < 2; i++) expect((await uploadFrom(ip, alice.headers)).status).toBe(201);
    const limited = await uploadFrom("192.0.2.78", alice.headers); // another address: still alice
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).not.toBeNull();
    // Same address, another user, and anonymous: their own counts.
    expect((await uploadFrom(ip, bob.headers)).status).toBe(201);
    expect((await uploadFrom(ip)).status).toBe(201);
    expect((await uploadFrom(ip)).status).toBe(201);
    expect((await uploadFrom(ip)).status).toBe(429);
    expect((await uploadFrom(ip, bob.headers)).status).toBe(201);
  });
});
