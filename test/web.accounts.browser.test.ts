// The account pages in a real headless Chromium against the real server on a loopback socket:
// register, upload as the signed-in user (file picker and drag and drop, with progress), the
// gallery with its thumbnails, infinite scroll, tags and delete, copying a link, API keys, the
// ShareX file and the script made with a new key and replayed with curl, deleting through the
// deletion URL as the owner, CSRF refused, signing out. Every request is recorded and must go to
// this server; no console error or CSP violation may occur. Screenshots of every page, desktop
// and phone, go to test/artifacts/screenshots/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { json, PASSWORD, uniqueEmail } from "./support/accounts.ts";
import { DESKTOP, HAVE_CHROMIUM, launchChromium, newRecorder, PHONE, recordRequests, screenshot, type Recorder } from "./support/browser.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { spareTcpPort } from "./support/redis-server.ts";
import { serveHarness } from "./support/server.ts";
import { HAVE_POSTGRES } from "./support/services.ts";
import { clearThumbnailJobs } from "./support/thumbnails.ts";

// page.evaluate and waitForFunction callbacks run in the browser (see web.browser.test.ts).
declare const document: any;
declare const window: any;
declare const DataTransfer: any;

const ID = "[0-9a-f-]{36}";
const GALLERY_FIXTURES = ["q-baseline.jpg", "wide.jpg", "q-alpha.png", "q-lossy.webp", "q-palette.png", "q-orient6.jpg", "small.png", "q-progressive.jpg"];

async function run(cmd: string[], stdin?: Uint8Array): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(cmd, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 20_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

describe.if(HAVE_CHROMIUM)("account pages in Chromium", () => {
  let h: Harness;
  let closedH: Harness;
  let server: ReturnType<typeof serveHarness>;
  let closedServer: ReturnType<typeof serveHarness>;
  let evilServer: ReturnType<typeof Bun.serve> | undefined;
  let origin: string;
  let closedOrigin: string;
  let browser: Browser;
  let desktop: BrowserContext;
  let phone: BrowserContext;
  const recorder = newRecorder();
  const downloads = mkdtempSync(join(tmpdir(), "chitram-account-downloads-"));
  const email = uniqueEmail("ann");
  let photoId = "";
  let ownedIds: string[] = [];
  const deletedIds: string[] = [];

  beforeAll(async () => {
    const [port, closedPort] = [await spareTcpPort(), await spareTcpPort()];
    origin = `http://127.0.0.1:${port}`;
    closedOrigin = `http://127.0.0.1:${closedPort}`;
    const db = HAVE_POSTGRES ? "postgres" : "pglite";
    h = await createHarness({ db, env: { PUBLIC_URL: origin, THUMBNAIL_WORKERS: "1" } });
    // The same database behind a server that takes no new accounts and no anonymous uploads.
    closedH = await createHarness({ db, env: { PUBLIC_URL: closedOrigin, REGISTRATION_ENABLED: "false", ALLOW_ANONYMOUS_UPLOADS: "false", THUMBNAIL_WORKERS: "0" } });
    await clearThumbnailJobs(h);
    server = serveHarness(h, port);
    closedServer = serveHarness(closedH, closedPort);
    h.deps.thumbnails.start();
    browser = await launchChromium();
    desktop = await browser.newContext(DESKTOP);
    phone = await browser.newContext(PHONE);
    for (const c of [desktop, phone]) recordRequests(c, recorder);
    await desktop.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.stop();
    closedServer?.stop();
    evilServer?.stop(true);
    await closedH?.close();
    await h?.close();
    rmSync(downloads, { recursive: true, force: true });
  });

  /** The phone context's page at `path` (it signs in once, through the login page). */
  async function phoneShot(path: string, name: string, ready?: (page: Page) => Promise<unknown>) {
    const page = await phone.newPage();
    await page.goto(`${origin}${path}`);
    await ready?.(page);
    await screenshot(page, `${name}-phone`);
    await page.close();
  }

  const thumbnailsLoaded = (page: Page, n: number) =>
    page.waitForFunction(
      (count: number) => {
        const imgs = [...document.querySelectorAll(".gallery .card img")];
        return imgs.length >= count && imgs.slice(0, count).every((i: any) => i.complete && i.naturalWidth > 0);
      },
      n,
      { timeout: 30_000 },
    );

  test("register: the form, then the upload page signed in", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/register`);
    expect(await page.title()).toBe("Create an account · chitram");
    await screenshot(page, "register-desktop");
    await phoneShot("/register", "register");
    // The browser's own check first: a short password is not even sent.
    await page.fill("#email", email);
    await page.fill("#password", "short");
    await page.click("button[type=submit]");
    expect(page.url()).toBe(`${origin}/register`);
    expect(await page.evaluate(() => document.querySelector("#password").validity.tooShort)).toBe(true);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL(`${origin}/`), page.click("button[type=submit]")]);
    expect(await page.textContent(".account-email")).toBe(email);
    expect(await page.textContent("main")).toContain("Your uploads are yours");
    // The cookie: HttpOnly (no script sees it), SameSite=Lax; not Secure over plain http.
    const [cookie] = await desktop.cookies(origin);
    expect(cookie).toMatchObject({ name: "chitram_session", httpOnly: true, sameSite: "Lax", secure: false, path: "/" });
    expect(await page.evaluate(() => document.cookie)).toBe("");
    await screenshot(page, "upload-signed-in-desktop");
    await page.close();
  }, 60_000);

  test("sign in on the phone: a wrong password in words, then signed in and sent on", async () => {
    const page = await phone.newPage();
    await page.goto(`${origin}/me`);
    expect(page.url()).toBe(`${origin}/login?next=%2Fme`);
    await screenshot(page, "login-phone");
    await page.fill("#email", email);
    await page.fill("#password", "not-the-password");
    await page.click("button[type=submit]");
    await page.waitForSelector(".form-error");
    expect(await page.textContent(".form-error")).toBe("The email or the password is not right. Check both and try again.");
    expect(await page.inputValue("#email")).toBe(email);
    expect(await page.evaluate(() => document.activeElement.id)).toBe("password");
    await screenshot(page, "login-error-phone");
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL(`${origin}/me`), page.click("button[type=submit]")]);
    expect(await page.textContent("h1")).toBe("My images");
    expect(await page.isVisible("#gallery-empty")).toBe(true);
    await screenshot(page, "me-empty-phone");
    await page.close();

    const desktopPage = await desktop.newPage();
    await desktopPage.goto(`${origin}/login`); // signed in already: sent on
    expect(desktopPage.url()).toBe(`${origin}/me`);
    await screenshot(desktopPage, "me-empty-desktop");
    await desktopPage.close();
    await phoneShot("/", "upload-signed-in");
    // The login page as a visitor sees it, desktop.
    const visitor = await browser.newContext(DESKTOP);
    recordRequests(visitor, recorder);
    const v = await visitor.newPage();
    await v.goto(`${origin}/login`);
    await screenshot(v, "login-desktop");
    await visitor.close();
  }, 60_000);

  test("upload as the signed-in user: two by file picker and one by drag and drop, with progress; then the thumbnails in the gallery", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/`);
    const cdp = await desktop.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    await page.setInputFiles("#file-input", [
      { name: "photo.jpg", mimeType: "image/jpeg", buffer: Buffer.from(await fixture("photo.jpg")) },
      { name: "big.png", mimeType: "image/png", buffer: Buffer.from(makePng({ width: 48, height: 32, padTo: 1_200_000 })) },
    ]);
    await page.waitForFunction(() => [...document.querySelectorAll("progress")].some((p: any) => p.value > 0 && p.value < 100), undefined, { timeout: 15_000 });
    expect((await page.$$eval(".upload-status", (s) => s.map((e) => e.textContent))).some((t) => /Uploading… \d+%/.test(t ?? ""))).toBe(true);
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-state="done"]').length === 2, undefined, { timeout: 30_000 });
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    const dataTransfer = await page.evaluateHandle((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
      return dt;
    }, Array.from(await fixture("q-alpha.png")));
    await page.dispatchEvent("#upload-form", "dragenter", { dataTransfer });
    await page.dispatchEvent("#upload-form", "dragover", { dataTransfer });
    await page.dispatchEvent("#upload-form", "drop", { dataTransfer });
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-state="done"]').length === 3, undefined, { timeout: 15_000 });
    // Owned uploads: no delete link to keep (the owner deletes while signed in).
    expect(await page.$$eval('[data-field="delete"]', (f) => f.map((e: any) => e.hidden))).toEqual([true, true, true]);
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-thumbnail="ready"]').length === 3, undefined, { timeout: 30_000 });
    await screenshot(page, "upload-results-signed-in-desktop");
    ownedIds = await page.$$eval(".upload-item", (items) => items.map((i: any) => i.dataset.imageId));
    photoId = (await page.$eval('.upload-item:has(.upload-name:text-is("photo.jpg"))', (i: any) => i.dataset.imageId)) as string;
    await page.close();

    const gallery = await desktop.newPage();
    await gallery.goto(`${origin}/me`);
    const names = await gallery.$$eval(".card-title", (t) => t.map((e) => e.textContent));
    expect(names).toEqual(["dropped.png", ...names.slice(1)]); // newest first
    expect([...names].sort()).toEqual(["big.png", "dropped.png", "photo.jpg"]);
    await thumbnailsLoaded(gallery, 3);
    const srcs = await gallery.$$eval(".card img", (imgs) => imgs.map((i: any) => i.src));
    for (const s of srcs) expect(s).toMatch(new RegExp(`^${origin}/api/v1/images/${ID}/thumbnail$`));
    await screenshot(gallery, "me-desktop");
    await phoneShot("/me", "me", (p) => thumbnailsLoaded(p, 3));

    // Copy a link from the gallery and fetch what was copied.
    await gallery.click(`.card[data-image-id="${photoId}"] button.copy`);
    await gallery.waitForSelector(`.card[data-image-id="${photoId}"] button.copy[data-copied]`);
    const copied = await gallery.evaluate(() => (navigator as any).clipboard.readText() as Promise<string>);
    expect(copied).toBe(`${origin}/api/v1/images/${photoId}/file`);
    const res = await fetch(copied);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    await gallery.close();
  }, 120_000);

  test("tags: the owner adds them on the image page, and the gallery filters by them", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/images/${photoId}`);
    for (const tag of ["Holiday", "beach"]) {
      await page.fill("#tag-input", tag);
      await page.press("#tag-input", "Enter");
      await page.waitForSelector(`.tag-chip[data-tag="${tag.toLowerCase()}"]`);
    }
    await page.fill("#tag-input", "holiday");
    await page.press("#tag-input", "Enter");
    await page.waitForFunction(() => document.querySelector("#tag-error").textContent !== "");
    expect(await page.textContent("#tag-error")).toBe("This image already has the tag “holiday”.");
    await page.click('.tag-chip[data-tag="beach"] button');
    await page.waitForSelector('.tag-chip[data-tag="beach"]', { state: "detached" });
    await page.fill("#tag-input", "beach");
    await page.press("#tag-input", "Enter");
    await page.waitForSelector('.tag-chip[data-tag="beach"]');
    await page.waitForFunction(() => document.querySelector(".picture img").src.endsWith("/file"));
    await page.click(".delete-section summary");
    await screenshot(page, "image-owner-desktop");
    await phoneShot(`/images/${photoId}`, "image-owner", (p) => p.waitForFunction(() => document.querySelector(".picture img").src.endsWith("/file")));

    await Promise.all([page.waitForURL(`${origin}/me?tag=holiday`), page.click('.tag-chip[data-tag="holiday"] a')]);
    expect(await page.$$eval(".card", (c) => c.map((e: any) => e.dataset.imageId))).toEqual([photoId]);
    expect(await page.textContent(".tag-filter [aria-current=page]")).toBe("holiday 1");
    await thumbnailsLoaded(page, 1);
    await screenshot(page, "me-tagged-desktop");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "me-tagged-dark-desktop");
    await page.emulateMedia({ colorScheme: "light" });
    await phoneShot("/me?tag=holiday", "me-tagged", (p) => thumbnailsLoaded(p, 1));
    await page.close();
  }, 60_000);

  test("infinite scroll over the cursor API, and delete from the gallery with a second press", async () => {
    // 30 more, through the API as the same user (a token from the JSON login).
    const login = await (await fetch(`${origin}/api/v1/auth/login`, json({ email, password: PASSWORD }))).json();
    const auth = { Authorization: `Bearer ${login.access_token}` };
    for (let i = 0; i < 30; i++) {
      const name = GALLERY_FIXTURES[i % GALLERY_FIXTURES.length]!;
      const form = new FormData();
      form.append("file", new Blob([await fixture(name)]), `${String(i + 1).padStart(2, "0")}-${name}`);
      const res = await fetch(`${origin}/api/v1/images/upload`, { method: "POST", headers: auth, body: form });
      expect(res.status).toBe(201);
    }
    const page = await desktop.newPage();
    await page.goto(`${origin}/me`);
    expect(await page.$$eval(".card", (c) => c.length)).toBe(24);
    for (let i = 0; i < 20 && (await page.$$eval(".card", (c) => c.length)) < 33; i++) {
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.waitForTimeout(250);
    }
    const ids = await page.$$eval(".card", (c) => c.map((e: any) => e.dataset.imageId));
    expect(ids.length).toBe(33);
    expect(new Set(ids).size).toBe(33);
    expect(ids.slice(-3).sort()).toEqual([...ownedIds].sort()); // the first three uploads come last
    expect(await page.textContent("#gallery-status")).toBe("All 33 images shown.");
    expect(await page.isHidden("#load-more")).toBe(true);
    await page.evaluate(() => window.scrollTo(0, 0));
    await thumbnailsLoaded(page, 12);
    await screenshot(page, "me-many-desktop");
    await phoneShot("/me", "me-many", (p) => thumbnailsLoaded(p, 4));

    // Delete the newest: "Delete" asks, "Delete" again deletes, and focus moves to the next image.
    const victim = ids[0]!;
    const card = `.card[data-image-id="${victim}"]`;
    await page.click(`${card} [data-delete]`);
    expect(await page.isVisible(`${card} .card-confirm`)).toBe(true);
    await page.click(`${card} [data-cancel]`);
    expect(await page.isHidden(`${card} .card-confirm`)).toBe(true);
    await page.click(`${card} [data-delete]`);
    await screenshot(page, "me-confirm-delete-desktop");
    await page.click(`${card} [data-confirm]`);
    await page.waitForSelector(card, { state: "detached" });
    expect(await page.evaluate(() => document.activeElement.closest(".card")?.dataset.imageId)).toBe(ids[1]);
    expect((await fetch(`${origin}/api/v1/images/${victim}`)).status).toBe(404);
    deletedIds.push(victim);
    // Without the page's CSRF token the same request is refused, even from this page.
    const refused = await page.evaluate(async (id: string) => {
      const res = await fetch(`/api/v1/images/${id}`, { method: "DELETE", headers: { Accept: "application/json" } });
      return { status: res.status, body: await res.json() };
    }, ids[1]!);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: "FORBIDDEN", details: { reason: "csrf_token" } } } });
    expect((await fetch(`${origin}/api/v1/images/${ids[1]}`)).status).toBe(200);
    await page.close();
  }, 120_000);

  test("API keys: create shows the key once, it works, revoke stops it", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/keys`);
    await screenshot(page, "keys-empty-desktop");
    await page.click("#key-form button[type=submit]");
    expect(await page.textContent("#key-error")).toBe("Give the key a name, to tell it apart from the others.");
    await page.fill("#key-name", "laptop");
    await page.check('input[name=scopes][value="read"]');
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#new-key:not([hidden])");
    const key = await page.inputValue("#new-key-value");
    expect(key).toMatch(/^chk_[A-Za-z0-9_-]{43}$/);
    expect(await page.textContent(".key-item .key-name")).toBe("laptop");
    await screenshot(page, "keys-new-desktop");
    const me = await fetch(`${origin}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${key}` } });
    expect((await me.json()).email).toBe(email);
    await page.reload();
    expect(await page.content()).not.toContain(key); // shown once
    await phoneShot("/keys", "keys");

    await page.click('.key-item:has-text("laptop") [data-revoke]');
    await page.click('.key-item:has-text("laptop") [data-confirm]');
    await page.waitForSelector('.key-item:has-text("laptop")', { state: "detached" });
    expect((await fetch(`${origin}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(401);
    await page.close();
  }, 60_000);

  test("ShareX & scripts: files made with a new upload key; the .sxcu replayed with curl uploads into the account, and its deletion URL deletes as the owner", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/tools`);
    await screenshot(page, "tools-signed-in-desktop");
    await phoneShot("/tools", "tools-signed-in");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("form[action='/tools/chitram.sxcu'] button")]);
    expect(download.suggestedFilename()).toBe("chitram.sxcu");
    const path = join(downloads, "chitram.sxcu");
    await download.saveAs(path);
    const sxcu = JSON.parse(readFileSync(path, "utf8"));
    // A copy: bun 1.4.5's toMatchObject writes asymmetric matchers into the object it checks.
    expect(structuredClone(sxcu)).toMatchObject({
      RequestMethod: "POST",
      RequestURL: `${origin}/api/v1/images/upload`,
      Body: "MultipartFormData",
      FileFormName: "file",
      URL: "{json:url}",
      DeletionURL: `${origin}/images/{json:id}/delete`,
      Headers: { Authorization: expect.stringMatching(/^Bearer chk_[A-Za-z0-9_-]{43}$/) },
    });

    // What ShareX does with it, with curl: the headers, the multipart field, then the templates.
    const image = join(downloads, "screenshot.webp");
    await Bun.write(image, await fixture("q-lossy.webp"));
    const headerArgs = Object.entries(sxcu.Headers as Record<string, string>).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    const curl = await run(["curl", "-sS", "-X", sxcu.RequestMethod, ...headerArgs, "-F", `${sxcu.FileFormName}=@${image}`, sxcu.RequestURL]);
    expect(curl.code).toBe(0);
    const answer = JSON.parse(curl.stdout);
    expect(`${answer.id} ${curl.stdout}`).toMatch(new RegExp(`^${ID} `));
    expect(answer.delete_token).toBeNull(); // owned: the key acts for the account
    const fill = (template: string) => template.replace(/\{json:([\w.]+)\}/g, (_, key: string) => String(key.split(".").reduce((o: any, k) => o?.[k], answer)));
    const imageUrl = fill(sxcu.URL);
    expect((await fetch(imageUrl)).headers.get("content-type")).toBe("image/webp");
    await page.goto(`${origin}/me`);
    expect(await page.textContent(".card-title")).toBe("screenshot.webp");

    // The deletion URL, opened in the signed-in browser: the owner's delete page.
    await page.goto(fill(sxcu.DeletionURL));
    expect(await page.textContent("h1")).toBe("Delete this image?");
    expect(await page.isVisible("#delete-token")).toBe(false);
    await screenshot(page, "delete-owner-desktop");
    await phoneShot(`/images/${answer.id}/delete`, "delete-owner");
    await page.click(".delete-form button[type=submit]");
    await page.waitForSelector('.delete-result[data-kind="done"]');
    expect(await page.textContent(".delete-result a")).toBe("Back to my images");
    await screenshot(page, "delete-owner-done-desktop");
    expect((await fetch(imageUrl)).status).toBe(404);

    // The curl / Flameshot script with its own new key.
    await page.goto(`${origin}/tools`);
    const [scriptDownload] = await Promise.all([page.waitForEvent("download"), page.click("form[action='/tools/chitram-upload.sh'] button")]);
    const script = join(downloads, "chitram-upload.sh");
    await scriptDownload.saveAs(script);
    const piped = await run(["sh", script], await fixture("tiny.gif"));
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe(""); // no delete link: the image is the account's
    const id = piped.stdout.trim().match(new RegExp(`images/(${ID})/file$`))![1]!;
    await page.goto(`${origin}/me`);
    expect(await page.getAttribute(".card", "data-image-id")).toBe(id);
    await page.goto(`${origin}/keys`);
    expect(await page.$$eval(".key-name", (n) => n.map((e) => e.textContent))).toEqual(["Upload script (chitram-upload.sh)", "ShareX (chitram.sxcu)"]);
    await screenshot(page, "keys-desktop");
    await page.close();
  }, 90_000);

  test("another site cannot make the signed-in browser change anything (its form and fetch reach the server without the token)", async () => {
    const evilPort = await spareTcpPort();
    const evilOrigin = `http://127.0.0.1:${evilPort}`; // same site as chitram (ports do not count): the Lax cookie goes along
    const victim = ownedIds[0]!;
    evilServer = Bun.serve({
      hostname: "127.0.0.1",
      port: evilPort,
      fetch: () =>
        new Response(
          `<!doctype html><title>cats</title>
<form id="f" method="post" action="${origin}/logout"></form>
<script>
fetch("${origin}/api/v1/images/${victim}", { method: "POST", mode: "no-cors", credentials: "include", body: "x" }).catch(() => {});
const fd = new FormData(); fd.append("file", new Blob(["GIF89a"]), "x.gif");
fetch("${origin}/api/v1/images/upload", { method: "POST", mode: "no-cors", credentials: "include", body: fd }).catch(() => {});
setTimeout(() => document.getElementById("f").submit(), 300);
</script>`,
          { headers: { "Content-Type": "text/html" } },
        ),
    });
    // A browser of its own (its requests go to another origin on purpose), signed in like a person would.
    const context = await browser.newContext(DESKTOP);
    const evilRecorder: Recorder = newRecorder();
    recordRequests(context, evilRecorder);
    const page = await context.newPage();
    await page.goto(`${origin}/login`);
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL(`${origin}/me`), page.click("button[type=submit]")]);
    const before = (await (await fetch(`${origin}/api/v1/auth/login`, json({ email, password: PASSWORD }))).json()).access_token;
    const count = async () => (await (await fetch(`${origin}/api/v1/images?limit=100`, { headers: { Authorization: `Bearer ${before}` } })).json()).images.length;
    const images = await count();

    const refused = page.waitForResponse((r) => r.url() === `${origin}/logout`);
    await page.goto(evilOrigin);
    const logout = await refused;
    expect(logout.status()).toBe(403);
    await page.waitForLoadState();
    expect(await page.textContent("h1")).toBe("Not allowed");
    expect(await page.textContent("main")).toContain("Refused: this request came from another site");
    await screenshot(page, "csrf-refused-desktop");
    expect(evilRecorder.failures).toEqual(expect.arrayContaining(["403 POST /logout"]));

    // Nothing changed: still signed in, the image still there, no upload added.
    await page.goto(`${origin}/me`);
    expect(page.url()).toBe(`${origin}/me`);
    expect((await fetch(`${origin}/api/v1/images/${victim}`)).status).toBe(200);
    expect(await count()).toBe(images);
    await context.close();
  }, 60_000);

  test("a server that takes no new accounts and no anonymous uploads says so, in words", async () => {
    const context = await browser.newContext(DESKTOP);
    const closedRecorder = newRecorder();
    recordRequests(context, closedRecorder);
    const page = await context.newPage();
    await page.goto(`${closedOrigin}/register`);
    expect(await page.textContent("h1")).toBe("Registration is closed");
    await screenshot(page, "register-closed-desktop");
    await page.goto(`${closedOrigin}/`);
    expect(await page.textContent("main")).toContain("This server takes uploads from signed-in users only.");
    expect(await page.$("#upload-form")).toBeNull();
    await screenshot(page, "upload-sign-in-first-desktop");
    await page.goto(`${closedOrigin}/tools`);
    expect(await page.$("a[download]")).toBeNull();
    await screenshot(page, "tools-sign-in-first-desktop");
    await page.goto(`${closedOrigin}/login`);
    expect(await page.$('a[href^="/register"]')).toBeNull();
    await context.close();
    const p = await browser.newContext(PHONE);
    recordRequests(p, closedRecorder);
    const pp = await p.newPage();
    for (const [path, name] of [["/register", "register-closed"], ["/", "upload-sign-in-first"], ["/tools", "tools-sign-in-first"], ["/login?signed_out", "login-signed-out"]]) {
      await pp.goto(`${closedOrigin}${path}`);
      await screenshot(pp, `${name}-phone`);
    }
    await p.close();
    expect(closedRecorder.requests.filter((u) => !u.startsWith(`${closedOrigin}/`))).toEqual([]);
    expect(closedRecorder.problems).toEqual([]);
  }, 60_000);

  test("sign out: the session ends, the pages are a visitor's, and the deleted image is gone", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/images/${photoId}`);
    await Promise.all([page.waitForURL(`${origin}/login?signed_out`), page.click(".account button[type=submit]")]);
    expect(await page.textContent(".notice")).toBe("You have signed out.");
    await screenshot(page, "login-signed-out-desktop");
    expect(await desktop.cookies(origin)).toEqual([]);
    await page.goto(`${origin}/me`);
    expect(page.url()).toBe(`${origin}/login?next=%2Fme`);
    // The photo is still there, but not this visitor's to delete or tag.
    await page.goto(`${origin}/images/${photoId}`);
    expect(await page.$(".delete-section")).toBeNull();
    expect(await page.$("#tag-form")).toBeNull();
    expect(await page.$$eval(".tag-chip", (c) => c.map((e) => e.textContent))).toEqual(["beach", "holiday"]);
    await screenshot(page, "image-visitor-tagged-desktop");
    // The image deleted from the gallery is gone, for everyone.
    const gone = await page.goto(`${origin}/images/${deletedIds[0]}`);
    expect(gone!.status()).toBe(404);
    expect(await page.textContent("main")).toContain("There is no image at this address");
    expect((await fetch(`${origin}/api/v1/images/${deletedIds[0]}/file`)).status).toBe(404);
    await page.close();
  }, 60_000);

  test("no page asked any other host for anything, and none logged an error", () => {
    expect(recorder.requests.length).toBeGreaterThan(50);
    const elsewhere = recorder.requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("blob:"));
    expect(elsewhere).toEqual([]);
    expect(recorder.problems).toEqual([]);
    // Only the refusals the tests asked for: a wrong password, a duplicate tag, a DELETE without the token, a deleted image.
    const expected = [/^401 POST \/login$/, new RegExp(`^400 POST /api/v1/images/${ID}/tags$`), new RegExp(`^403 DELETE /api/v1/images/${ID}$`), new RegExp(`^404 GET /images/${ID}$`)];
    expect(recorder.failures.filter((f) => !expected.some((e) => e.test(f)))).toEqual([]);
  });
});
