// Browser sessions through HTTP, in process, as a browser sends them (the cookie, Origin and
// Sec-Fetch-Site, the page's CSRF token): signing in and out with the pages' forms, the cookie's
// attributes, the API routes the pages' scripts call, every CSRF rule, and sessions that end
// (signed out, expired, replaced, a deactivated account) on this instance and on another one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { HOST_SESSION_COOKIE, SESSION_COOKIE, sessionCookieName, sessionCookieOptions } from "../src/web/session.ts";
import { safeNext } from "../src/web/account-routes.ts";
import { bearer, createApiKey, json, PASSWORD, register, uniqueEmail } from "./support/accounts.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { HAVE_POSTGRES, HAVE_REDIS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

const ORIGIN = "https://img.example.com";
const BROWSER = { Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
/** What a browser adds to a request one of this site's pages makes. */
const SAME = { "Sec-Fetch-Site": "same-origin", Origin: ORIGIN };
const CROSS = { "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" };
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A browser's cookie jar for one site: the session cookie, and the CSRF token of the last page it loaded. */
type Browser = { cookie: string | undefined; csrf: string | undefined };

function formBody(fields: Record<string, string>): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams(fields).toString();
  // Browsers always send a form's length (the CSRF guard reads only forms that declare a small one).
  return { body, headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(Buffer.byteLength(body)) } };
}

const setCookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith(`${HOST_SESSION_COOKIE}=`));

function cookieHeader(b: Browser): Record<string, string> {
  return b.cookie ? { Cookie: `${HOST_SESSION_COOKIE}=${b.cookie}` } : {};
}

/** Takes the session cookie a response sets (or clears) into the jar. */
function keep(b: Browser, res: Response): Response {
  const set = setCookieOf(res);
  if (set) b.cookie = /Max-Age=0\b/.test(set) ? undefined : set.slice(HOST_SESSION_COOKIE.length + 1).split(";")[0];
  return res;
}

describe("sessions, the account pages and CSRF", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite", env: { PUBLIC_URL: ORIGIN } });
  }, 30_000);
  afterAll(() => h.close());

  const submit = async (b: Browser, path: string, fields: Record<string, string>, extra: Record<string, string> = SAME) => {
    const f = formBody(fields);
    return keep(b, await h.request(path, { method: "POST", headers: { ...BROWSER, ...f.headers, ...cookieHeader(b), ...extra }, body: f.body }));
  };
  /** Loads a page as the browser; remembers its CSRF token. */
  const load = async (b: Browser, path: string) => {
    const res = keep(b, await h.request(path, { headers: { ...BROWSER, ...cookieHeader(b) } }));
    const html = await res.text();
    b.csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
    return { res, html };
  };
  /** A fetch by the page's script: same origin, the cookie, the page's CSRF token. */
  const call = (b: Browser, path: string, init: RequestInit = {}) =>
    h.request(path, { ...init, headers: { Accept: "application/json", ...SAME, ...cookieHeader(b), ...(b.csrf ? { "X-CSRF-Token": b.csrf } : {}), ...(init.headers as Record<string, string>) } });
  const uploadAs = (b: Browser, extra: Record<string, string> = {}) => {
    const form = new FormData();
    form.append("file", new Blob([makePng()], { type: "image/png" }), "p.png");
    return call(b, "/api/v1/images/upload", { method: "POST", body: form, headers: extra });
  };
  const signedUp = async (): Promise<Browser & { email: string }> => {
    const b: Browser & { email: string } = { cookie: undefined, csrf: undefined, email: uniqueEmail("web") };
    const res = await submit(b, "/register", { email: b.email, password: PASSWORD });
    expect(res.status).toBe(303);
    await load(b, "/");
    expect(b.csrf).toBeDefined();
    return b;
  };

  test("register with the form: a __Host- session cookie (HttpOnly, Secure, SameSite=Lax), only its hash stored, then the upload page", async () => {
    const page = await load({ cookie: undefined, csrf: undefined }, "/register");
    expect(page.res.status).toBe(200);
    expect(page.html).toContain('<form method="post" action="/register" class="account-form">');
    expect(page.html).toContain('autocomplete="new-password"');

    const b: Browser = { cookie: undefined, csrf: undefined };
    const email = uniqueEmail("form");
    const res = await submit(b, "/register", { email: `  ${email.toUpperCase()} `, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const set = setCookieOf(res)!;
    expect(set).toMatch(new RegExp(`^${HOST_SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=86400; Path=/; HttpOnly; Secure; SameSite=Lax$`));

    const { html } = await load(b, "/");
    expect(html).toContain(`<span class="account-email">${email}</span>`);
    expect(html).toContain('<a href="/me">My images</a>');
    expect(html).toContain(`<input type="hidden" name="_csrf" value="${b.csrf}"/>`);
    expect(html).toContain("Your uploads are yours");
    expect(b.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.csrf).not.toBe(b.cookie);

    const rows = await h.deps.database.db.execute(sql`select s.token_hash from sessions s join users u on u.id = s.user_id where u.email = ${email}`);
    expect(JSON.stringify(rows)).toContain(sha256(b.cookie!));
    expect(JSON.stringify(rows)).not.toContain(b.cookie!);
  });

  test("sign in with the form: the same words for a wrong password and an unknown email, the email kept; next= only within the site", async () => {
    const account = await register(h);
    const attempts = [
      { email: account.email, password: "wrong-password" },
      { email: uniqueEmail("nobody"), password: PASSWORD },
    ];
    const answers = [];
    for (const fields of attempts) {
      const b: Browser = { cookie: undefined, csrf: undefined };
      const res = await submit(b, "/login", fields);
      const html = await res.text();
      expect(res.status).toBe(401);
      expect(b.cookie).toBeUndefined();
      expect(html).toContain(`value="${fields.email}"`);
      expect(html).toContain('aria-invalid="true"');
      answers.push(html.match(/<div class="form-error"[^]*?<\/div>/)![0]);
    }
    expect(answers[0]).toBe(answers[1]!);
    expect(answers[0]).toContain("The email or the password is not right.");

    const bad = await submit({ cookie: undefined, csrf: undefined }, "/login", { email: "not an email", password: PASSWORD });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("Enter your email address");

    for (const [next, location] of [
      ["/images/x?a=1", "/images/x?a=1"],
      ["https://evil.example/", "/me"],
      ["//evil.example/", "/me"],
      ["/\\evil.example", "/me"],
      ["/logout", "/me"],
    ]) {
      const b: Browser = { cookie: undefined, csrf: undefined };
      const res = await submit(b, "/login", { email: account.email, password: PASSWORD, next: next! });
      expect(`${next} ${res.status} ${res.headers.get("location")}`).toBe(`${next} 303 ${location}`);
      expect(b.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(safeNext("/pics/me", "/pics")).toBe("/pics/me");
    expect(safeNext("/me", "/pics")).toBeUndefined();
  });

  test("pages for the signed-in user send visitors to sign in, and back afterwards", async () => {
    for (const path of ["/me", "/me?tag=cats", "/keys"]) {
      const res = await h.request(path, { headers: BROWSER });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const page = await (await h.request("/login?next=%2Fkeys", { headers: BROWSER })).text();
    expect(page).toContain('<input type="hidden" name="next" value="/keys"/>');
    expect(page).toContain("Sign in to go on to that page.");
  });

  test("the cookie works on the API routes the pages call, with the page's CSRF token: upload, my images, tags, keys, delete", async () => {
    const b = await signedUp();
    const up = await uploadAs(b);
    expect(up.status).toBe(201);
    const image = await up.json();
    expect(image.delete_token).toBeNull(); // owned

    const mine = await (await call(b, "/api/v1/images")).json();
    expect(mine.images.map((i: { id: string }) => i.id)).toEqual([image.id]);
    expect((await call(b, `/api/v1/images/${image.id}/tags`, json({ tag: "Cats" }))).status).toBe(201);
    expect((await (await call(b, "/api/v1/images?tag=cats")).json()).images).toHaveLength(1);

    const key = await call(b, "/api/v1/api-keys", json({ name: "laptop", scopes: ["upload"] }));
    expect(key.status).toBe(201); // a session is a signed-in user, not an API key
    const created = await key.json();
    expect((await h.upload(makePng(), "k.png", "image/png", bearer(created.key))).status).toBe(201);
    expect((await call(b, `/api/v1/api-keys/${created.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(b, "/api/v1/auth/me")).status).toBe(200);

    // The pages show it: the gallery, the tag filter, the owner's forms on the image page.
    const gallery = await load(b, "/me");
    expect(gallery.html).toContain(`data-image-id="${image.id}"`);
    expect(gallery.html).toContain('<a href="/me?tag=cats">cats <span class="tag-count">1</span></a>');
    const imagePage = await load(b, `/images/${image.id}`);
    expect(imagePage.html).toContain('data-mode="owner"');
    expect(imagePage.html).toContain('id="tag-form"');

    expect((await call(b, `/api/v1/images/${image.id}/tags/cats`, { method: "DELETE" })).status).toBe(204);
    expect((await call(b, `/api/v1/images/${image.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await h.request(`/api/v1/images/${image.id}`)).status).toBe(404);
  });

  test("CSRF: with the cookie, every state change needs this origin and the session's token; GETs do not", async () => {
    const b = await signedUp();
    const image = await (await uploadAs(b)).json();
    const refusals: Array<[string, Promise<Response>, string]> = [
      ["no token", call({ ...b, csrf: undefined }, `/api/v1/images/${image.id}`, { method: "DELETE" }), "csrf_token"],
      ["a wrong token", call({ ...b, csrf: "x".repeat(43) }, `/api/v1/images/${image.id}`, { method: "DELETE" }), "csrf_token"],
      ["another session's token", call({ ...b, csrf: (await signedUp()).csrf }, `/api/v1/images/${image.id}`, { method: "DELETE" }), "csrf_token"],
      ["another site", call(b, `/api/v1/images/${image.id}`, { method: "DELETE", headers: CROSS }), "csrf_origin"],
      ["a sibling subdomain", call(b, `/api/v1/images/${image.id}`, { method: "DELETE", headers: { "Sec-Fetch-Site": "same-site", Origin: "https://x.img.example.com" } }), "csrf_origin"],
      ["no origin at all", call(b, `/api/v1/images/${image.id}`, { method: "DELETE", headers: { "Sec-Fetch-Site": "", Origin: "" } }), "csrf_origin"],
      ["a form upload from another site", uploadAs(b, CROSS), "csrf_origin"],
      ["an upload without the token", uploadAs({ ...b, csrf: undefined }), "csrf_token"],
      ["JSON without the token", call({ ...b, csrf: undefined }, "/api/v1/api-keys", json({ name: "k", scopes: ["read"] })), "csrf_token"],
      ["sign-out without the token", submit({ ...b }, "/logout", {}), "csrf_token"],
      ["a key download without the token", submit({ ...b }, "/tools/chitram.sxcu", {}), "csrf_token"],
    ];
    for (const [what, pending, reason] of refusals) {
      const res = await pending;
      const text = await res.text();
      expect(`${what}: ${res.status}`).toBe(`${what}: 403`);
      if (res.headers.get("content-type")?.includes("json")) expect(`${what}: ${JSON.parse(text).error.details.reason}`).toBe(`${what}: ${reason}`);
      else expect(text).toContain("Refused:"); // the forms get a page in words
    }
    expect((await h.request(`/api/v1/images/${image.id}`)).status).toBe(200);
    expect((await load(b, "/")).html).toContain("account-email"); // still signed in
    // A form field is read only from a small form that says how small it is.
    const big = new URLSearchParams({ _csrf: b.csrf!, pad: "x".repeat(17 * 1024) }).toString();
    const res = await h.request("/logout", { method: "POST", headers: { ...BROWSER, ...SAME, ...cookieHeader(b), "Content-Type": "application/x-www-form-urlencoded" }, body: big });
    expect(res.status).toBe(403);
  });

  test("login CSRF: another site's form can neither sign a browser in nor create an account", async () => {
    const account = await register(h);
    for (const [path, email] of [["/login", account.email], ["/register", uniqueEmail("csrf")]] as const) {
      for (const headers of [CROSS, { Origin: "https://evil.example" }, {}] as Array<Record<string, string>>) {
        const b: Browser = { cookie: undefined, csrf: undefined };
        const res = await submit(b, path, { email, password: PASSWORD }, headers);
        expect(`${path} ${JSON.stringify(headers)} ${res.status}`).toBe(`${path} ${JSON.stringify(headers)} 403`);
        expect(b.cookie).toBeUndefined();
      }
    }
  });

  test("sign-out ends the session everywhere: the cookie is cleared, and the old value is a visitor on pages and a 401 on the API", async () => {
    const b = await signedUp();
    const old = b.cookie!;
    const res = await submit(b, "/logout", { _csrf: b.csrf! });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login?signed_out");
    expect(setCookieOf(res)).toMatch(new RegExp(`^${HOST_SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`));
    expect(b.cookie).toBeUndefined();
    expect(await (await h.request("/login?signed_out", { headers: BROWSER })).text()).toContain("You have signed out.");

    // The old value, replayed (a copy someone kept): nobody.
    const replay: Browser = { cookie: old, csrf: b.csrf };
    const page = await load(replay, "/");
    expect(page.html).not.toContain("account-email");
    expect(setCookieOf(page.res)).toContain("Max-Age=0"); // the page tells the browser to forget it
    replay.cookie = old;
    replay.csrf = b.csrf;
    for (const res of [await uploadAs(replay), await call(replay, "/api/v1/images"), await call(replay, "/api/v1/auth/me")]) {
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("UNAUTHORIZED");
    }
    // A page loaded while signed in, whose browser has signed out since (another tab): its upload
    // carries the CSRF token but no cookie, and is refused rather than made anonymous.
    const anonymousLooking = await uploadAs({ cookie: undefined, csrf: b.csrf });
    expect(anonymousLooking.status).toBe(401);
    expect((await uploadAs({ cookie: undefined, csrf: undefined })).status).toBe(201); // a visitor's page uploads anonymously
  });

  test("a new sign-in replaces the session the browser held", async () => {
    const b = await signedUp();
    const first = b.cookie!;
    const res = await submit(b, "/login", { email: b.email, password: PASSWORD, _csrf: b.csrf! });
    expect(res.status).toBe(303);
    expect(b.cookie).not.toBe(first);
    expect((await call({ cookie: first, csrf: b.csrf }, "/api/v1/auth/me")).status).toBe(401);
    await load(b, "/");
    expect((await call(b, "/api/v1/auth/me")).status).toBe(200);
  });

  test("an expired session is refused, and so is a deactivated user's (USER_INACTIVE on the API, a visitor on pages)", async () => {
    const expired = await signedUp();
    await h.deps.database.db.execute(sql`update sessions set expires_at = now() - interval '1 second' where token_hash = ${sha256(expired.cookie!)}`);
    // (The test changes the row behind the cache's back; the harness runs without Redis.)
    expect((await call(expired, "/api/v1/auth/me")).status).toBe(401);
    expect((await load({ ...expired }, "/")).html).not.toContain("account-email");

    const b = await signedUp();
    const me = await (await call(b, "/api/v1/auth/me")).json();
    await h.deps.accounts.service.setActive(me.id, false);
    const res = await call(b, "/api/v1/auth/me");
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe("USER_INACTIVE");
    expect((await uploadAs(b)).status).toBe(401);
    const page = await load({ ...b }, "/me");
    expect(page.res.status).toBe(303); // a visitor now
    const login = await submit({ cookie: undefined, csrf: undefined }, "/login", { email: b.email, password: PASSWORD });
    expect(login.status).toBe(401);
    expect(await login.text()).toContain("This account has been deactivated");
    await h.deps.accounts.service.setActive(me.id, true);
    expect((await call(b, "/api/v1/auth/me")).status).toBe(200);
  });

  test("cookies and values that are not a session: nobody, with no lookup for malformed ones", async () => {
    for (const value of ["", "x", "a".repeat(43), "a".repeat(4000), "%00%0d%0a"]) {
      const page = await load({ cookie: value, csrf: undefined }, "/");
      expect(page.res.status).toBe(200);
      expect(page.html).not.toContain("account-email");
    }
    // An Authorization header wins over the cookie: it is the request's explicit credential.
    const b = await signedUp();
    const other = await register(h);
    const me = await (await call(b, "/api/v1/auth/me", { headers: other.headers })).json();
    expect(me.email).toBe(other.email);
  });

  test("ShareX & scripts signed in: each download makes a new upload-only key and puts it in the file; GET stays anonymous", async () => {
    const b = await signedUp();
    const tools = await load(b, "/tools");
    expect(tools.html).toContain('<form method="post" action="/tools/chitram.sxcu" class="download-form">');
    const sxcu = await submit(b, "/tools/chitram.sxcu", { _csrf: b.csrf! });
    expect(sxcu.status).toBe(200);
    expect(sxcu.headers.get("content-disposition")).toBe('attachment; filename="chitram.sxcu"');
    expect(sxcu.headers.get("cache-control")).toBe("no-store");
    const config = await sxcu.json();
    const key = config.Headers.Authorization.replace(/^Bearer /, "");
    expect(key).toMatch(/^chk_[A-Za-z0-9_-]{43}$/);
    expect(config.DeletionURL).toBe(`${ORIGIN}/images/{json:id}/delete`);
    const script = await (await submit(b, "/tools/chitram-upload.sh", { _csrf: b.csrf! })).text();
    const scriptKey = /CHITRAM_API_KEY="\$\{CHITRAM_API_KEY:-(chk_[A-Za-z0-9_-]{43})\}"/.exec(script)![1]!;
    expect(scriptKey).not.toBe(key);

    const keys = await (await call(b, "/api/v1/api-keys")).json();
    expect(keys.map((k: { name: string; scopes: string[] }) => `${k.name} ${k.scopes}`).sort()).toEqual(["ShareX (chitram.sxcu) upload", "Upload script (chitram-upload.sh) upload"]);
    const owned = await h.upload(makePng(), "sx.png", "image/png", bearer(key));
    expect(owned.status).toBe(201);
    expect((await owned.json()).delete_token).toBeNull();
    expect((await h.request("/api/v1/auth/me", { headers: bearer(key) })).status).toBe(403); // upload only

    expect((await h.request("/tools/chitram.sxcu")).headers.get("content-type")).toContain("json");
    expect((await (await h.request("/tools/chitram.sxcu", { headers: cookieHeader(b) })).json()).Headers).toBeUndefined();
    // Without a session, the keyed files are not made.
    const visitor = await submit({ cookie: undefined, csrf: undefined }, "/tools/chitram.sxcu", {});
    expect(visitor.status).toBe(401);
    expect(await visitor.text()).toContain("Sign in first");
  });

  test("the gallery pages by cursor without JavaScript too (the Load more link), within a tag; bad cursors and tags are 400 pages", async () => {
    const b = await signedUp();
    const ids: string[] = [];
    for (let i = 0; i < 26; i++) {
      const up = await (await uploadAs(b)).json();
      ids.unshift(up.id); // newest first
      if (i % 2 === 0) expect((await call(b, `/api/v1/images/${up.id}/tags`, json({ tag: "even" }))).status).toBe(201);
    }
    const shown = (html: string) => [...html.matchAll(/<li class="card" data-image-id="([^"]+)"/g)].map((m) => m[1]);
    const first = await load(b, "/me");
    expect(shown(first.html)).toEqual(ids.slice(0, 24));
    const next = /<a id="load-more" class="button" href="([^"]+)"/.exec(first.html)![1]!.replace(/&amp;/g, "&");
    expect(first.html).toContain(`data-next-cursor="${new URL(next, ORIGIN).searchParams.get("cursor")}"`);
    const second = await load(b, next);
    expect(shown(second.html)).toEqual(ids.slice(24));
    expect(second.html).toContain('<a id="load-more" class="button" hidden="">');
    const even = await load(b, "/me?tag=EVEN");
    expect(shown(even.html)).toEqual(ids.filter((_, i) => i % 2 === 1));
    expect(even.html).toContain("<title>My images tagged even · chitram</title>");
    for (const path of ["/me?cursor=nope", "/me?tag=x", `/me?tag=${"x".repeat(51)}`]) {
      const res = await h.request(path, { headers: { ...BROWSER, ...cookieHeader(b) } });
      expect(`${path} ${res.status}`).toBe(`${path} 400`);
      expect(await res.text()).toContain("<h1>That request did not make sense</h1>");
    }
  });

  test("the keys page lists keys (never the key itself), newest first", async () => {
    const b = await signedUp();
    const a1 = await (await call(b, "/api/v1/api-keys", json({ name: "first", scopes: ["read"] }))).json();
    const a2 = await (await call(b, "/api/v1/api-keys", json({ name: "second", scopes: ["upload", "delete"] }))).json();
    const { html } = await load(b, "/keys");
    expect(html.indexOf(`data-key-id="${a2.id}"`)).toBeLessThan(html.indexOf(`data-key-id="${a1.id}"`));
    expect(html).toContain(`${a2.prefix}…`);
    expect(html).toContain("delete, upload");
    expect(html).not.toContain(a1.key);
    expect(html).not.toContain(a2.key);
  });
});

describe("cookie names and attributes", () => {
  test("__Host- under https at the root; plain name under a path or over http", () => {
    expect(sessionCookieName({ PUBLIC_URL: "https://img.example.com" })).toBe(HOST_SESSION_COOKIE);
    expect(sessionCookieName({ PUBLIC_URL: "https://example.org/pics" })).toBe(SESSION_COOKIE);
    expect(sessionCookieName({ PUBLIC_URL: "http://10.0.0.5:3000" })).toBe(SESSION_COOKIE);
    expect(sessionCookieName({ PUBLIC_URL: undefined })).toBe(SESSION_COOKIE);
    expect(sessionCookieOptions({ PUBLIC_URL: "https://example.org/pics" })).toEqual({ httpOnly: true, secure: true, sameSite: "Lax", path: "/pics" });
    expect(sessionCookieOptions({ PUBLIC_URL: "http://10.0.0.5:3000" })).toEqual({ httpOnly: true, secure: false, sameSite: "Lax", path: "/" });
  });

  test("over http without PUBLIC_URL: chitram_session, not Secure; closed registration says so and the login page offers none", async () => {
    const h = await createHarness({ db: "pglite", env: { REGISTRATION_ENABLED: "false", ALLOW_ANONYMOUS_UPLOADS: "false" } });
    try {
      // An account made behind the closed door (as the admin's deactivation test does).
      const email = uniqueEmail("closed");
      const made = await h.deps.accounts.users.create({ id: crypto.randomUUID(), email, passwordHash: await h.deps.accounts.passwords.hash(PASSWORD) }, "open");
      expect("created" in made).toBe(true);
      const f = formBody({ email, password: PASSWORD });
      const res = await h.request("http://10.0.0.5:3000/login", { method: "POST", headers: { ...f.headers, "Sec-Fetch-Site": "same-origin" }, body: f.body });
      expect(res.status).toBe(303);
      expect(res.headers.getSetCookie()[0]).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax$`));
      const closed = await h.request("/register", { headers: BROWSER });
      expect(closed.status).toBe(403);
      expect(await closed.text()).toContain("<h1>Registration is closed</h1>");
      const post = formBody({ email: uniqueEmail(), password: PASSWORD });
      const refused = await h.request("/register", { method: "POST", headers: { ...BROWSER, ...post.headers, "Sec-Fetch-Site": "same-origin" }, body: post.body });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain("<h1>Registration is closed</h1>");
      const login = await (await h.request("/login", { headers: BROWSER })).text();
      expect(login).not.toContain('href="/register');
      expect(login).toContain("does not take new accounts");
      // Anonymous uploads off: the upload and tools pages ask visitors to sign in.
      const upload = await (await h.request("/", { headers: BROWSER })).text();
      expect(upload).toContain('<a href="/login?next=%2F">Sign in</a> to upload.');
      expect(await (await h.request("/tools", { headers: BROWSER })).text()).toContain("This server takes uploads from signed-in users only.");
    } finally {
      await h.close();
    }
  }, 30_000);
});

const kinds: DbKind[] = HAVE_POSTGRES ? ["postgres"] : [];
describe.if(kinds.length > 0 && HAVE_REDIS)("two instances sharing PostgreSQL and Redis", () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    redis = await startTestRedis();
    a = await createHarness({ db: "postgres", redisUrl: redis.url, env: { PUBLIC_URL: ORIGIN } });
    b = await createHarness({ db: "postgres", redisUrl: redis.url, env: { PUBLIC_URL: ORIGIN } });
  }, 30_000);
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });

  test("a session signed out on one instance is refused on the other at once, and a stale copy in Redis is not believed", async () => {
    const email = uniqueEmail("fleet");
    const f = formBody({ email, password: PASSWORD });
    const reg = await a.request("/register", { method: "POST", headers: { ...f.headers, ...SAME }, body: f.body });
    const token = setCookieOf(reg)!.slice(HOST_SESSION_COOKIE.length + 1).split(";")[0]!;
    const cookie = { Cookie: `${HOST_SESSION_COOKIE}=${token}` };
    const me = (h: Harness) => h.request("/api/v1/auth/me", { headers: cookie });
    expect((await me(b)).status).toBe(200); // b loads it and caches it in Redis
    expect((await me(b)).status).toBe(200);
    const cacheKey = `chitram:session:${sha256(token)}`;
    const cached = await redis.command("GET", cacheKey);
    expect(cached).toContain(sha256(token));

    const html = await (await a.request("/", { headers: { ...BROWSER, ...cookie } })).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
    const out = formBody({ _csrf: csrf });
    expect((await a.request("/logout", { method: "POST", headers: { ...out.headers, ...SAME, ...cookie }, body: out.body })).status).toBe(303);
    // No wait: the very next request on the other instance.
    expect((await me(b)).status).toBe(401);

    await eventually(async () => b.deps.invalidations.log.keys().includes(cacheKey), 2_000, 5, "b heard the sign-out");
    await redis.command("SET", cacheKey, cached);
    expect((await me(b)).status).toBe(401);
    expect((await me(a)).status).toBe(401);
  });
});
