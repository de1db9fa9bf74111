// Accounts through HTTP on both databases: register, login, token (OAuth2 form), me,
// password-reset; validation, no user enumeration, WWW-Authenticate, and forged or stale JWTs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { bearer, json, login, PASSWORD, register, uniqueEmail } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];
const SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
/** A JWT with any header and claims, signed with HMAC (`hash`) under `secret`, or unsigned. */
function forge(header: Record<string, unknown>, claims: Record<string, unknown>, secret: string | null = SECRET, hash = "sha256") {
  const unsigned = `${b64(header)}.${b64(claims)}`;
  return `${unsigned}.${secret === null ? "" : createHmac(hash, secret).update(unsigned).digest("base64url")}`;
}
const now = () => Math.floor(Date.now() / 1000);

describe.each(kinds)("accounts on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: kind, env: { JWT_SECRET_KEY: SECRET } });
  }, 30_000);
  afterAll(() => h.close());

  test("register: 201 with the user and a bearer token that /me accepts", async () => {
    const email = uniqueEmail("reg");
    const res = await h.request("/api/v1/auth/register", json({ email: `  ${email.toUpperCase()} `, password: PASSWORD }));
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "token_type", "user"]);
    expect(body.token_type).toBe("bearer");
    expect(body.expires_in).toBe(24 * 3600);
    expect(Object.keys(body.user).sort()).toEqual(["created_at", "email", "id", "is_active", "is_admin"]);
    expect(body.user).toMatchObject({ email, is_active: true });
    expect(new Date(body.user.created_at).toISOString()).toBe(body.user.created_at);
    const [header, claims] = body.access_token.split(".").slice(0, 2).map((p: string) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header).toEqual({ alg: "HS256", typ: "JWT" });
    expect(claims.sub).toBe(body.user.id);
    expect(claims.exp - claims.iat).toBe(24 * 3600);

    const me = await h.request("/api/v1/auth/me", { headers: bearer(body.access_token) });
    expect(me.status).toBe(200);
    const user = await me.json();
    expect(user).toEqual(body.user);
    expect(JSON.stringify(user)).not.toContain("password");
  });

  test("a taken email (any case) is 400 EMAIL_EXISTS", async () => {
    const a = await register(h);
    const res = await h.request("/api/v1/auth/register", json({ email: a.email.toUpperCase(), password: "another-password" }));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: "EMAIL_EXISTS", details: { field: "email" } });
  });

  test.each([
    ["an invalid email", { email: "not-an-email", password: PASSWORD }, "email"],
    ["a 7-character password", { email: uniqueEmail(), password: "short12" }, "password"],
    ["a 129-character password", { email: uniqueEmail(), password: "x".repeat(129) }, "password"],
    ["no password", { email: uniqueEmail() }, "password"],
    ["a number for an email", { email: 42, password: PASSWORD }, "email"],
  ])("register with %s is 400 INVALID_REQUEST naming the field", async (_, body, field) => {
    const res = await h.request("/api/v1/auth/register", json(body));
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe("INVALID_REQUEST");
    expect(error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  test("8 and 128 characters are accepted", async () => {
    await register(h, uniqueEmail(), "12345678");
    const long = "p".repeat(128);
    const a = await register(h, uniqueEmail(), long);
    expect((await login(h, a.email, long)).status).toBe(200);
  });

  test("malformed bodies: not JSON, wrong content type, too large", async () => {
    const notJson = await h.request("/api/v1/auth/register", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe("INVALID_REQUEST");
    const text = await h.request("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "hi" });
    expect(text.status).toBe(400);
    expect((await text.json()).error.code).toBe("INVALID_REQUEST");
    const big = await h.request("/api/v1/auth/login", json({ email: uniqueEmail(), password: PASSWORD, pad: "x".repeat(20_000) }));
    expect(big.status).toBe(413);
    expect((await big.json()).error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { max_size_bytes: 16384 } });
  });

  test("login (JSON) and token (OAuth2 password form) sign in; the email is case-insensitive", async () => {
    const a = await register(h);
    const res = await login(h, ` ${a.email.toUpperCase()}`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ token_type: "bearer", user: { id: a.id, email: a.email } });
    expect((await h.request("/api/v1/auth/me", { headers: bearer(body.access_token) })).status).toBe(200);

    const form = new URLSearchParams({ grant_type: "password", username: a.email, password: PASSWORD, scope: "" });
    const tok = await h.request("/api/v1/auth/token", { method: "POST", body: form });
    expect(tok.status).toBe(200);
    const t = await tok.json();
    expect(Object.keys(t).sort()).toEqual(["access_token", "expires_in", "token_type"]);
    expect((await h.request("/api/v1/auth/me", { headers: bearer(t.access_token) })).json()).resolves.toMatchObject({ id: a.id });

    const otherGrant = await h.request("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", username: a.email, password: PASSWORD }) });
    expect(otherGrant.status).toBe(400);
    const jsonBody = await h.request("/api/v1/auth/token", json({ username: a.email, password: PASSWORD }));
    expect(jsonBody.status).toBe(400);
  });

  test("no enumeration: an unknown email and a wrong password get the same status, headers and body", async () => {
    const a = await register(h);
    const answers = [];
    for (const res of [
      await login(h, a.email, "wrong-password"),
      await login(h, uniqueEmail("nobody"), "wrong-password"),
      await h.request("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: a.email, password: "wrong-password" }) }),
      await h.request("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: uniqueEmail("nobody"), password: "x" }) }),
    ]) {
      answers.push({ status: res.status, challenge: res.headers.get("www-authenticate"), body: await res.json() });
    }
    expect(answers[0]).toEqual({
      status: 401,
      challenge: "Bearer",
      body: { error: { code: "INVALID_CREDENTIALS", message: "Invalid email or password", details: {} } },
    });
    for (const a of answers) expect(a).toEqual(answers[0]!);
  });

  test("a deactivated account: USER_INACTIVE only with the right password; its tokens stop working", async () => {
    const a = await register(h);
    expect((await h.request("/api/v1/auth/me", { headers: a.headers })).status).toBe(200);
    await h.deps.accounts.service.setActive(a.id, false);
    const wrong = await login(h, a.email, "wrong-password");
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error.code).toBe("INVALID_CREDENTIALS");
    const right = await login(h, a.email);
    expect(right.status).toBe(401);
    expect(right.headers.get("www-authenticate")).toBe("Bearer");
    expect((await right.json()).error.code).toBe("USER_INACTIVE");
    const me = await h.request("/api/v1/auth/me", { headers: a.headers });
    expect(me.status).toBe(401);
    expect((await me.json()).error.code).toBe("USER_INACTIVE");
    await h.deps.accounts.service.setActive(a.id, true);
    expect((await h.request("/api/v1/auth/me", { headers: a.headers })).status).toBe(200);
  });

  test("/me without credentials, with garbage, or another scheme: 401 with a Bearer challenge", async () => {
    const none = await h.request("/api/v1/auth/me");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    expect((await none.json()).error.code).toBe("UNAUTHORIZED");
    for (const [authorization, challenge] of [
      ["Bearer invalid.token.here", 'Bearer error="invalid_token"'],
      ["Bearer ", 'Bearer error="invalid_request"'],
      ["Basic dXNlcjpwYXNz", 'Bearer error="invalid_request"'],
      [`Bearer ${"a".repeat(5000)}`, 'Bearer error="invalid_request"'],
      ["Bearer chk_notARealKeyButShapedLikeOneXXXXXXXXXXXXXXXXXX", 'Bearer error="invalid_token"'],
    ] as const) {
      const res = await h.request("/api/v1/auth/me", { headers: { Authorization: authorization } });
      expect(`${authorization.slice(0, 30)} ${res.status} ${res.headers.get("www-authenticate")}`).toBe(`${authorization.slice(0, 30)} 401 ${challenge}`);
      expect((await res.json()).error.code).toBe("UNAUTHORIZED");
    }
  });

  test("forged and stale JWTs are refused: alg none, other algorithms, wrong secret, expired, missing claims", async () => {
    const a = await register(h);
    const good = { sub: a.id, iat: now(), exp: now() + 600 };
    const hs256 = { alg: "HS256", typ: "JWT" };
    // The control: a token made here with the server's key is accepted.
    expect((await h.request("/api/v1/auth/me", { headers: bearer(forge(hs256, good)) })).status).toBe(200);
    const refused: Array<[string, string]> = [
      ["alg none, unsigned", forge({ alg: "none", typ: "JWT" }, good, null)],
      ["alg none with a signature", forge({ alg: "none", typ: "JWT" }, good)],
      ["alg NONE", forge({ alg: "NONE" }, good, null)],
      ["HS512 with the right key", forge({ alg: "HS512", typ: "JWT" }, good, SECRET, "sha512")],
      ["HS384 with the right key", forge({ alg: "HS384", typ: "JWT" }, good, SECRET, "sha384")],
      ["RS256 header over an HMAC", forge({ alg: "RS256", typ: "JWT" }, good)],
      ["a wrong secret", forge(hs256, good, "another-secret-of-the-same-length-0123456789abcd")],
      ["expired", forge(hs256, { ...good, iat: now() - 3600, exp: now() - 1 })],
      ["no exp", forge(hs256, { sub: a.id, iat: now() })],
      ["no iat", forge(hs256, { sub: a.id, exp: now() + 600 })],
      ["no sub", forge(hs256, { iat: now(), exp: now() + 600 })],
      ["sub not a uuid", forge(hs256, { ...good, sub: "admin" })],
      ["exp as a string", forge(hs256, { ...good, exp: String(now() + 600) })],
      ["issued an hour in the future", forge(hs256, { ...good, iat: now() + 3600, exp: now() + 7200 })],
      ["an unknown user", forge(hs256, { ...good, sub: crypto.randomUUID() })],
      ["a tampered payload", (() => { const [hd, , sig] = forge(hs256, good).split("."); return `${hd}.${b64({ ...good, sub: crypto.randomUUID() })}.${sig}`; })()],
      ["four parts", `${forge(hs256, good)}.x`],
    ];
    for (const [what, token] of refused) {
      const res = await h.request("/api/v1/auth/me", { headers: bearer(token) });
      expect(`${what}: ${res.status} ${res.headers.get("www-authenticate")}`).toBe(`${what}: 401 Bearer error="invalid_token"`);
    }
    // A little clock skew between instances is tolerated.
    expect((await h.request("/api/v1/auth/me", { headers: bearer(forge(hs256, { ...good, iat: now() + 30 })) })).status).toBe(200);
  });

  test("password-reset: always 202 with the same message; nothing sent, and the log says so", async () => {
    const a = await register(h);
    const known = await h.request("/api/v1/auth/password-reset", json({ email: a.email }));
    const unknown = await h.request("/api/v1/auth/password-reset", json({ email: uniqueEmail("nobody") }));
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(await known.json()).toEqual(await unknown.json());
    expect(h.logs.some((l) => l.includes("no mailer is configured"))).toBe(true);
    expect(h.logs.some((l) => l.includes(a.email))).toBe(false);
    const bad = await h.request("/api/v1/auth/password-reset", json({ email: "nope" }));
    expect(bad.status).toBe(400);
  });

  test("only an argon2id hash is stored", async () => {
    const a = await register(h);
    const row = await h.deps.accounts.users.findById(a.id);
    expect(row!.passwordHash).toStartWith("$argon2id$");
    expect(row!.passwordHash).not.toContain(PASSWORD);
  });
});
