// The pages in a real headless Chromium against the real server on a loopback socket: upload by
// file picker and by drag and drop with progress, thumbnails appearing, copying a link, deleting
// through the kept delete link, the ShareX file and the shell script replayed. Every request any
// page makes is recorded and must go to this server; no console error or CSP violation may occur.
// Screenshots of every page, desktop and phone, go to test/artifacts/screenshots/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { DESKTOP, HAVE_CHROMIUM, launchChromium, newRecorder, PHONE, recordRequests, screenshot } from "./support/browser.ts";
import { formatBytes, formatDate } from "../src/web/components.tsx";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { spareTcpPort } from "./support/redis-server.ts";
import { serveHarness } from "./support/server.ts";
import { HAVE_POSTGRES } from "./support/services.ts";
import { clearThumbnailJobs } from "./support/thumbnails.ts";

// The callbacks given to page.evaluate and waitForFunction run in the browser, on its DOM; this
// file is type-checked without the DOM library (it would change Bun's global types everywhere).
declare const document: any;
declare const DataTransfer: any;
declare const ClipboardEvent: any;

const FIELDS = ["page", "file", "thumbnail", "markdown", "html"] as const;

/** Runs a shell script without blocking this process (its server answers the script's curl). */
async function sh(args: string[], stdin?: Uint8Array): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(["sh", ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 20_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

describe.if(HAVE_CHROMIUM)("web pages in Chromium", () => {
  let h: Harness;
  let server: ReturnType<typeof serveHarness>;
  let origin: string;
  let browser: Browser;
  let desktop: BrowserContext;
  let phone: BrowserContext;
  const recorder = newRecorder();
  const downloads = mkdtempSync(join(tmpdir(), "chitram-downloads-"));

  beforeAll(async () => {
    const port = await spareTcpPort();
    origin = `http://127.0.0.1:${port}`;
    h = await createHarness({ db: HAVE_POSTGRES ? "postgres" : "pglite", env: { PUBLIC_URL: origin, THUMBNAIL_WORKERS: "1" } });
    await clearThumbnailJobs(h);
    server = serveHarness(h, port);
    h.deps.thumbnails.start(); // the real background runner: uploads wake it
    browser = await launchChromium();
    desktop = await browser.newContext(DESKTOP);
    phone = await browser.newContext(PHONE);
    for (const c of [desktop, phone]) recordRequests(c, recorder);
    await desktop.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.stop();
    await h?.close();
    rmSync(downloads, { recursive: true, force: true });
  });

  /** The same page at phone width, in the phone context (its own storage: no remembered tokens). */
  async function phoneShot(path: string, name: string, ready?: (page: Page) => Promise<void>) {
    const page = await phone.newPage();
    await page.goto(`${origin}${path}`);
    await ready?.(page);
    await screenshot(page, `${name}-phone`);
    await page.close();
  }

  const itemStates = (page: Page) => page.$$eval(".upload-item", (items) => items.map((i) => (i as any).dataset.state));
  const fieldsOf = (page: Page, scope: string) =>
    page.$$eval(`${scope} .link-field`, (fields) =>
      Object.fromEntries(fields.map((f) => [(f as any).dataset.field ?? f.querySelector("input")!.id.replace(/^link-/, ""), f.querySelector("input")!.value])),
    );

  let uploaded: Array<{ id: string; name: string; fields: Record<string, string | undefined> }> = [];

  test("upload page: two images by file picker and one by drag and drop, with progress, links, then thumbnails", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/`);
    expect(await page.title()).toBe("Upload images · chitram");
    await screenshot(page, "upload-desktop");
    await phoneShot("/", "upload");

    // The file picker is reachable from the keyboard.
    let focused = "";
    for (let i = 0; i < 8 && focused !== "file-input"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement?.id ?? "");
    }
    expect(focused).toBe("file-input");

    // A slow uplink (Chromium's own throttling) so that progress is seen between 0 and 100.
    const cdp = await desktop.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    const big = makePng({ width: 48, height: 32, padTo: 1_200_000 });
    await page.setInputFiles("#file-input", [
      { name: "photo.jpg", mimeType: "image/jpeg", buffer: Buffer.from(await fixture("photo.jpg")) },
      { name: "big.png", mimeType: "image/png", buffer: Buffer.from(big) },
    ]);
    await page.waitForFunction(() => [...document.querySelectorAll("progress")].some((p) => p.value > 0 && p.value < 100), undefined, { timeout: 15_000 });
    const midway = await page.$$eval(".upload-status", (s) => s.map((e) => e.textContent));
    expect(midway.some((t) => /Uploading… \d+%/.test(t ?? ""))).toBe(true);
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-state="done"]').length === 2, undefined, { timeout: 30_000 });
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    // Drag and drop: a file dropped on the drop zone, as a person dragging from their desktop.
    const dropped = Array.from(await fixture("q-alpha.png"));
    const dataTransfer = await page.evaluateHandle((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
      return dt;
    }, dropped);
    await page.dispatchEvent("#upload-form", "dragenter", { dataTransfer });
    expect(await page.getAttribute("#upload-form", "data-dragging")).toBe("");
    await page.dispatchEvent("#upload-form", "dragover", { dataTransfer });
    await page.dispatchEvent("#upload-form", "drop", { dataTransfer });
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-state="done"]').length === 3, undefined, { timeout: 15_000 });
    expect(await page.getAttribute("#upload-form", "data-dragging")).toBeNull();

    // Thumbnails: made by the server's runner, picked up by the page's polling.
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-thumbnail="ready"]').length === 3, undefined, { timeout: 30_000 });
    const thumbs = await page.$$eval(".upload-thumb", (imgs) => imgs.map((i) => ({ src: (i as any).src, w: (i as any).naturalWidth })));
    for (const t of thumbs) {
      expect(t.src).toMatch(/\/api\/v1\/images\/[0-9a-f-]{36}\/thumbnail$/);
      expect(t.w).toBeGreaterThan(0);
    }

    uploaded = [];
    for (const item of await page.$$(".upload-item")) {
      const id = (await item.getAttribute("data-image-id"))!;
      const name = (await item.$eval(".upload-name", (e) => e.textContent))!;
      uploaded.push({ id, name, fields: await fieldsOf(page, `.upload-item[data-image-id="${id}"]`) });
    }
    expect(uploaded.map((u) => u.name).sort()).toEqual(["big.png", "dropped.png", "photo.jpg"]);
    for (const u of uploaded) {
      expect(u.fields.page).toBe(`${origin}/images/${u.id}`);
      expect(u.fields.file).toBe(`${origin}/api/v1/images/${u.id}/file`);
      expect(u.fields.markdown).toBe(`![${u.name}](${origin}/api/v1/images/${u.id}/file)`);
      expect(u.fields.delete).toMatch(new RegExp(`^${origin}/images/${u.id}/delete#[A-Za-z0-9_-]{43}$`));
    }
    expect(await itemStates(page)).toEqual(["done", "done", "done"]);
    await screenshot(page, "upload-results-desktop");
    await page.setViewportSize(PHONE.viewport!);
    await screenshot(page, "upload-results-phone");
    await page.setViewportSize(DESKTOP.viewport!);

    // Copy the direct link of the photo and fetch what was copied.
    const photo = uploaded.find((u) => u.name === "photo.jpg")!;
    await page.click(`.upload-item[data-image-id="${photo.id}"] [data-field="file"] button.copy`);
    await page.waitForSelector(`.upload-item[data-image-id="${photo.id}"] [data-field="file"] button[data-copied]`);
    const copied = await page.evaluate(() => (navigator as any).clipboard.readText() as Promise<string>);
    expect(copied).toBe(photo.fields.file!);
    const res = await fetch(copied);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    await page.close();
  }, 120_000);

  test("errors are words: a file that is not an image, and one over the size limit", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/`);
    await page.setInputFiles("#file-input", [
      { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("just some words, not a picture\n") },
      { name: "huge.png", mimeType: "image/png", buffer: Buffer.from(makePng({ padTo: h.deps.config.maxFileBytes + 1 })) },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('.upload-item[data-state="failed"]').length === 2, undefined, { timeout: 15_000 });
    const messages = await page.$$eval(".upload-item .upload-status", (s) => s.map((e) => e.textContent ?? ""));
    expect(messages.sort()).toEqual([
      "This file is larger than the 5 MiB limit.",
      "This is not a JPEG, PNG, GIF or WebP image.",
    ]);
    await screenshot(page, "upload-errors-desktop");
    await page.setViewportSize(PHONE.viewport!);
    await screenshot(page, "upload-errors-phone");
    await page.close();
  }, 60_000);

  test("paste: an image pasted from the clipboard is uploaded under a name worth keeping", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/`);
    const bytes = Array.from(await fixture("tiny.png"));
    await page.evaluate((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], "image.png", { type: "image/png" }));
      document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForSelector('.upload-item[data-state="done"]', { timeout: 15_000 });
    expect(await page.textContent(".upload-name")).toMatch(/^pasted-\d{8}-\d{6}\.png$/);
    // Dark mode, for a look at the other palette.
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "upload-pasted-dark-desktop");
    await page.close();
  }, 60_000);

  test("image page: the picture, its facts and the same links as the upload page", async () => {
    const photo = uploaded.find((u) => u.name === "photo.jpg")!;
    const page = await desktop.newPage();
    await page.goto(`${origin}/images/${photo.id}`);
    expect(await page.textContent("h1")).toBe("photo.jpg");
    await page.waitForFunction(() => {
      const img = document.querySelector(".picture img") as any;
      return img.complete && img.naturalWidth === 640 && img.src.endsWith("/file"); // the original replaced the thumbnail
    }, undefined, { timeout: 10_000 });
    const facts = await page.$$eval(".facts dd", (dd) => dd.map((d) => d.textContent));
    expect(facts).toEqual(["JPEG", expect.stringMatching(/KiB$/), "640 × 480 px", expect.stringMatching(/UTC$/), "ready"]);
    const fields = await fieldsOf(page, ".share-links");
    for (const f of FIELDS) expect(`${f}: ${fields[f]}`).toBe(`${f}: ${photo.fields[f]}`);
    // This browser uploaded it: the delete form knows the token.
    await page.click(".delete-section summary");
    expect(await page.inputValue("#delete-token")).toBe(photo.fields.delete!.split("#")[1]!);
    await screenshot(page, "image-desktop");
    await phoneShot(`/images/${photo.id}`, "image", async (p) => {
      await p.waitForFunction(() => (document.querySelector(".picture img") as any).src.endsWith("/file"));
    });
    await page.close();
  }, 60_000);

  test("the kept delete link: the page asks, a GET deletes nothing, the button deletes, the image is gone", async () => {
    const big = uploaded.find((u) => u.name === "big.png")!;
    const link = big.fields.delete!;
    const token = link.split("#")[1]!;
    // A browser that never uploaded anything: the token can only come from the link's fragment.
    const context = await browser.newContext(DESKTOP);
    recordRequests(context, recorder);
    let page = await context.newPage();

    // A wrong token first: refused, in words, and nothing deleted.
    await page.goto(link.replace(token, "x".repeat(43)));
    await page.click("button[type=submit]");
    await page.waitForSelector('.delete-result[data-kind="error"]');
    expect(await page.textContent(".delete-result")).toBe("This token does not belong to this image. Check that the delete link was copied whole.");

    await page.close();
    page = await context.newPage();
    await page.goto(link);
    expect(await page.textContent("h1")).toBe("Delete this image?");
    expect(await page.isVisible("#delete-token")).toBe(false); // the link carries the token
    expect((await h.request(`/api/v1/images/${big.id}`)).status).toBe(200);
    await screenshot(page, "delete-desktop");
    await phoneShot(`/images/${big.id}/delete#${token}`, "delete");
    expect((await h.request(`/api/v1/images/${big.id}`)).status).toBe(200);

    await page.click("button[type=submit]");
    await page.waitForSelector('.delete-result[data-kind="done"]');
    expect(await page.textContent(".delete-result")).toContain("Deleted.");
    expect(await page.textContent("h1")).toBe("Image deleted");
    expect(page.url()).toBe(`${origin}/images/${big.id}/delete`); // the spent token left the address bar
    await screenshot(page, "delete-done-desktop");
    expect((await h.request(`/api/v1/images/${big.id}`)).status).toBe(404);

    const gone = await page.goto(`${origin}/images/${big.id}`);
    expect(gone!.status()).toBe(404);
    expect(await page.textContent("h1")).toBe("Not found");
    expect(await page.textContent("main")).toContain("There is no image at this address");
    await screenshot(page, "image-gone-desktop");
    await phoneShot(`/images/${big.id}`, "image-gone");
    await context.close();
    // The token never reached the server: not in any request the browsers made.
    expect(recorder.requests.filter((u) => u.includes(token))).toEqual([]);
  }, 60_000);

  test("ShareX & scripts: the .sxcu downloads, and replaying its fields uploads an image that its deletion URL deletes", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/tools`);
    await screenshot(page, "tools-desktop");
    await phoneShot("/tools", "tools");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('a[href="/tools/chitram.sxcu"]')]);
    expect(download.suggestedFilename()).toBe("chitram.sxcu");
    const path = join(downloads, "chitram.sxcu");
    await download.saveAs(path);
    const sxcu = JSON.parse(readFileSync(path, "utf8"));
    expect(sxcu).toMatchObject({
      DestinationType: "ImageUploader",
      RequestMethod: "POST",
      RequestURL: `${origin}/api/v1/images/upload`,
      Body: "MultipartFormData",
      FileFormName: "file",
      URL: "{json:url}",
      DeletionURL: `${origin}/images/{json:id}/delete#{json:delete_token}`,
    });

    // What ShareX does with it: the multipart POST, then its templates filled from the JSON answer.
    const form = new FormData();
    form.append(sxcu.FileFormName, new Blob([await fixture("tiny.webp")]), "screenshot.webp");
    const answer = await fetch(sxcu.RequestURL, { method: sxcu.RequestMethod, headers: sxcu.Headers ?? {}, body: form });
    expect(answer.status).toBe(201);
    const json = await answer.json();
    const fill = (template: string) => template.replace(/\{json:([\w.]+)\}/g, (_, key: string) => String(key.split(".").reduce((o: any, k) => o?.[k], json)));
    const imageUrl = fill(sxcu.URL);
    expect(imageUrl).toBe(`${origin}/api/v1/images/${json.id}/file`);
    expect((await fetch(imageUrl)).headers.get("content-type")).toBe("image/webp");
    const deletion = fill(sxcu.DeletionURL);
    const del = await desktop.newPage();
    await del.goto(deletion);
    await del.click("button[type=submit]");
    await del.waitForSelector('.delete-result[data-kind="done"]');
    expect((await fetch(imageUrl)).status).toBe(404);
    await del.close();

    // The curl / Flameshot script, run as a person would (file argument, then standard input).
    const [scriptDownload] = await Promise.all([page.waitForEvent("download"), page.click('a[href="/tools/chitram-upload.sh"]')]);
    const script = join(downloads, "chitram-upload.sh");
    await scriptDownload.saveAs(script);
    const image = join(downloads, "cat picture.png");
    await Bun.write(image, await fixture("tiny.png"));
    const run = await sh([script, image]);
    expect(run.stderr).toMatch(new RegExp(`^delete link for .*cat picture.png: ${origin}/images/[0-9a-f-]{36}/delete#[A-Za-z0-9_-]{43}\\n$`));
    expect(run.code).toBe(0);
    const scriptUrl = run.stdout.trim();
    const fetched = await fetch(scriptUrl);
    expect(fetched.status).toBe(200);
    expect(new Uint8Array(await fetched.arrayBuffer())).toEqual(await fixture("tiny.png"));
    const piped = await sh([script], await fixture("tiny.gif"));
    expect(piped.code).toBe(0);
    const pipedId = piped.stdout.trim().match(/images\/([0-9a-f-]{36})\/file$/)![1]!;
    expect((await (await h.request(`/api/v1/images/${pipedId}`)).json()).filename).toBe("screenshot.png");
    await page.close();
  }, 90_000);

  test("/docs: Swagger UI renders the API from this server alone (every request is recorded: see the last test)", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/docs`);
    await page.waitForSelector(".opblock-summary-path", { timeout: 20_000 });
    const paths = await page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.getAttribute("data-path")));
    expect(paths).toContain("/api/v1/images/upload");
    expect(paths).toContain("/api/v1/images/{id}/file");
    expect(await page.textContent(".info .title")).toContain("chitram");
    await screenshot(page, "docs-desktop");
    await page.close();
  }, 30_000);

  test("the page scripts write sizes and dates exactly as the server's pages do", async () => {
    const page = await desktop.newPage();
    await page.goto(`${origin}/`);
    const sizes = [0, 1, 1023, 1024, 1536, 10_240, 48_213, 1_048_575, 1_048_576, 5 * 1024 * 1024, 3 * 1024 ** 3];
    const dates = ["2026-11-28T22:05:09.123Z", "2026-01-01T00:00:00.000Z"];
    const inBrowser = await page.evaluate(
      ({ sizes, dates }) => {
        const { formatBytes, formatDate } = (globalThis as unknown as { chitram: { formatBytes(n: number): string; formatDate(iso: string): string } }).chitram;
        return { sizes: sizes.map(formatBytes), dates: dates.map(formatDate) };
      },
      { sizes, dates },
    );
    expect(inBrowser).toEqual({ sizes: sizes.map(formatBytes), dates: dates.map(formatDate) });
    await page.close();
  });

  test("no page asked any other host for anything, and none logged an error", () => {
    expect(recorder.requests.length).toBeGreaterThan(20);
    const elsewhere = recorder.requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("blob:"));
    expect(elsewhere).toEqual([]);
    expect(recorder.problems).toEqual([]);
    // Only the refusals the tests asked for: no asset, thumbnail or page failed to load.
    const id = "[0-9a-f-]{36}";
    const expected = [/^400 POST \/api\/v1\/images\/upload$/, new RegExp(`^403 DELETE /api/v1/images/${id}$`), new RegExp(`^404 GET /images/${id}$`)];
    const unexpected = recorder.failures.filter((f) => !expected.some((e) => e.test(f)));
    expect(unexpected).toEqual([]);
  });
});
