// Who may register (the first account is the admin; REGISTRATION_ENABLED), what the admin may
// do (see and deactivate accounts, delete any image), and the JWT signing key (made once in the
// database, shared by every instance, or JWT_SECRET_KEY). Each test on an empty database.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { loadJwtSecret } from "../src/accounts/tokens.ts";
import { createPostgresDatabase } from "../src/db/client.ts";
import { createApiKey, json, login, PASSWORD, register, uniqueEmail, uploadAs } from "./support/accounts.ts";
import { freshDatabase, type FreshDatabase } from "./support/fresh-db.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { createScratchDatabase, HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

describe.each(kinds)("registration and administration on %s", (kind) => {
  let fresh: FreshDatabase;
  const open: Harness[] = [];
  /** A harness over the empty database; REGISTRATION_ENABLED unset unless given. */
  const harness = async (env: Record<string, string> = {}) => {
    const h = await createHarness({ db: fresh.db, env: { REGISTRATION_ENABLED: "", ...env } });
    open.push(h);
    return h;
  };
  beforeAll(async () => {
    fresh = await freshDatabase(kind, "admin");
  }, 60_000);
  beforeEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await fresh.reset();
  });
  afterAll(async () => {
    for (const h of open.splice(0)) await h.close();
    await fresh.close();
  });

  const registerStatus = async (h: Harness, email = uniqueEmail()) => {
    const res = await h.request("/api/v1/auth/register", json({ email, password: PASSWORD }));
    return { status: res.status, body: await res.json() };
  };

  test("the first account is the admin; then registration is closed (403 REGISTRATION_CLOSED) and sign-in still works", async () => {
    const h = await harness();
    const first = await registerStatus(h);
    expect(first.status).toBe(201);
    expect(first.body.user.is_admin).toBe(true);
    const second = await registerStatus(h);
    expect(second.status).toBe(403);
    expect(second.body.error.code).toBe("REGISTRATION_CLOSED");
    // Closed means closed, also for an email that exists (no enumeration through register).
    const again = await registerStatus(h, first.body.user.email);
    expect(again.body.error.code).toBe("REGISTRATION_CLOSED");
    expect((await login(h, first.body.user.email)).status).toBe(200);
    expect(h.logs.some((l) => l.includes("first account created; it is the admin"))).toBe(true);
  });

  test("REGISTRATION_ENABLED=true keeps it open (later accounts are not admins); false closes it, even before the first", async () => {
    const openH = await harness({ REGISTRATION_ENABLED: "true" });
    expect((await registerStatus(openH)).body.user.is_admin).toBe(true);
    const later = await registerStatus(openH);
    expect(later.status).toBe(201);
    expect(later.body.user.is_admin).toBe(false);
    await fresh.reset();
    const closed = await harness({ REGISTRATION_ENABLED: "false" });
    const refused = await registerStatus(closed);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("REGISTRATION_CLOSED");
  });

  test("concurrent first registrations: exactly one gets in, as the admin (and with registration open, one admin among all)", async () => {
    const [a, b] = [await harness(), await harness()];
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => registerStatus(i % 2 ? a : b)));
    expect(results.filter((r) => r.status === 201).length).toBe(1);
    expect(results.find((r) => r.status === 201)!.body.user.is_admin).toBe(true);
    expect(results.filter((r) => r.status === 403 && r.body.error.code === "REGISTRATION_CLOSED").length).toBe(7);

    await fresh.reset();
    const [c, d] = [await harness({ REGISTRATION_ENABLED: "true" }), await harness({ REGISTRATION_ENABLED: "true" })];
    const all = await Promise.all(Array.from({ length: 8 }, (_, i) => registerStatus(i % 2 ? c : d)));
    expect(all.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(all.filter((r) => r.body.user.is_admin).length).toBe(1);
  });

  test("the admin lists accounts by cursor and deactivates one: its token and API keys stop, sign-in says USER_INACTIVE; reactivation restores it", async () => {
    const h = await harness({ REGISTRATION_ENABLED: "true" });
    const admin = await register(h);
    const users = [];
    for (let i = 0; i < 4; i++) users.push(await register(h));
    const user = users[0]!;
    const key = await createApiKey(h, user, ["read", "upload"]);
    expect((await h.request("/api/v1/auth/me", { headers: key.headers })).status).toBe(200);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await h.request(`/api/v1/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { headers: admin.headers });
      expect(res.status).toBe(200);
      const page = await res.json();
      expect(page.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.users.map((u: { email: string }) => u.email));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...users].reverse().map((u) => u.email).concat(admin.email)); // newest first

    const off = await h.request(`/api/v1/admin/users/${user.id}`, { method: "PATCH", headers: { ...admin.headers, "Content-Type": "application/json" }, body: JSON.stringify({ is_active: false }) });
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ id: user.id, is_active: false, is_admin: false });
    for (const headers of [user.headers, key.headers]) {
      const res = await h.request("/api/v1/auth/me", { headers });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("USER_INACTIVE");
    }
    expect((await uploadAs(h, key.headers, makePng())).status).toBe(401);
    expect((await (await login(h, user.email)).json()).error.code).toBe("USER_INACTIVE");

    const on = await h.request(`/api/v1/admin/users/${user.id}`, { method: "PATCH", headers: { ...admin.headers, "Content-Type": "application/json" }, body: JSON.stringify({ is_active: true }) });
    expect((await on.json()).is_active).toBe(true);
    expect((await h.request("/api/v1/auth/me", { headers: key.headers })).status).toBe(200);
    expect((await login(h, user.email)).status).toBe(200);
  });

  test("only the admin's own token may administer: others 403, API keys 403, no self-deactivation, unknown users 404", async () => {
    const h = await harness({ REGISTRATION_ENABLED: "true" });
    const admin = await register(h);
    const user = await register(h);
    const patch = (id: string, headers: Record<string, string>, body: unknown = { is_active: false }) =>
      h.request(`/api/v1/admin/users/${id}`, { method: "PATCH", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(body) });
    expect((await h.request("/api/v1/admin/users")).status).toBe(401);
    const notAdmin = await h.request("/api/v1/admin/users", { headers: user.headers });
    expect(notAdmin.status).toBe(403);
    expect((await notAdmin.json()).error.code).toBe("FORBIDDEN");
    expect((await patch(admin.id, user.headers)).status).toBe(403);
    const adminKey = await createApiKey(h, admin, ["read", "upload", "delete"]);
    expect((await h.request("/api/v1/admin/users", { headers: adminKey.headers })).status).toBe(403);
    const self = await patch(admin.id, admin.headers);
    expect(self.status).toBe(400);
    expect((await self.json()).error.code).toBe("INVALID_REQUEST");
    for (const id of [crypto.randomUUID(), "not-a-uuid"]) {
      const res = await patch(id, admin.headers);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("USER_NOT_FOUND");
    }
    expect((await patch(user.id, admin.headers, { is_active: "no" })).status).toBe(400);
    expect((await h.request("/api/v1/admin/users?cursor=bogus", { headers: admin.headers })).status).toBe(400);
  });

  test("the admin deletes any image: another user's, and an anonymous one without its token", async () => {
    const h = await harness({ REGISTRATION_ENABLED: "true" });
    const admin = await register(h);
    const user = await register(h);
    const owned = await uploadAs(h, user.headers, makePng());
    const anonymous = await uploadAs(h, {}, makePng());
    for (const id of [owned.body.id, anonymous.body.id]) {
      expect((await h.request(`/api/v1/images/${id}`, { method: "DELETE", headers: admin.headers })).status).toBe(204);
      expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    }
    // With an API key that has the delete scope too; without it, 403.
    const img = await uploadAs(h, user.headers, makePng());
    const readOnly = await createApiKey(h, admin, ["read"]);
    expect((await h.request(`/api/v1/images/${img.body.id}`, { method: "DELETE", headers: readOnly.headers })).status).toBe(403);
    const deleter = await createApiKey(h, admin, ["delete"]);
    expect((await h.request(`/api/v1/images/${img.body.id}`, { method: "DELETE", headers: deleter.headers })).status).toBe(204);
  });

  test("the signing key is made once and kept in the database: instances accept each other's tokens, also after a restart", async () => {
    const a = await harness({ REGISTRATION_ENABLED: "true" });
    const b = await harness({ REGISTRATION_ENABLED: "true" });
    const user = await register(a);
    expect((await b.request("/api/v1/auth/me", { headers: user.headers })).status).toBe(200);
    await a.close();
    open.splice(open.indexOf(a), 1);
    const restarted = await harness();
    expect((await restarted.request("/api/v1/auth/me", { headers: user.headers })).status).toBe(200);
    // JWT_SECRET_KEY, when set, is the key instead: the stored one's tokens are refused.
    const configured = await harness({ JWT_SECRET_KEY: "k".repeat(40) });
    expect((await configured.request("/api/v1/auth/me", { headers: user.headers })).status).toBe(401);
    const signed = await (await login(configured, user.email)).json();
    expect((await configured.request("/api/v1/auth/me", { headers: { Authorization: `Bearer ${signed.access_token}` } })).status).toBe(200);
    expect((await b.request("/api/v1/auth/me", { headers: { Authorization: `Bearer ${signed.access_token}` } })).status).toBe(401);
  });
});

describe.if(HAVE_POSTGRES)("the generated signing key on PostgreSQL", () => {
  test("instances starting together on an empty database all get the same key", async () => {
    const scratch = await createScratchDatabase("jwtkey");
    const handles = Array.from({ length: 6 }, () => createPostgresDatabase(scratch.url));
    try {
      await handles[0]!.migrate();
      const keys = await Promise.all(handles.map((db) => loadJwtSecret(db, undefined)));
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]!.length).toBeGreaterThanOrEqual(64);
      expect(await loadJwtSecret(handles[1]!, undefined)).toBe(keys[0]!);
    } finally {
      await Promise.all(handles.map((db) => db.close()));
      await scratch.drop();
    }
  });
});
