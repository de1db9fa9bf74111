// The web pages through HTTP, in process: what each page says, its security headers, what it
// references, errors as pages, the tool files. Sessions, the account pages and CSRF are in
// web.sessions.test.ts; the browser itself is in web.browser.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Deps } from "../src/deps.ts";
import { imageLinks } from "../src/web/links.ts";
import { pageCsp } from "../src/web/render.ts";
import { sharexConfig, uploadScript } from "../src/web/sharex.ts";
import { register } from "./support/accounts.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture } from "./support/images.ts";

const BROWSER = { Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8" };

/** src and href attributes: everything a page makes the browser load or go to. */
const references = (html: string) => [...html.matchAll(/\b(?:src|href|action)="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));

function expectStrictPage(res: Response, html: string) {
  expect(res.headers.get("content-type")).toContain("text/html");
  const csp = res.headers.get("content-security-policy")!;
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "require-trusted-types-for 'script'"]) {
    expect(csp).toContain(d);
  }
  expect(csp).not.toContain("unsafe");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(html.startsWith("<!doctype html>")).toBe(true);
  // Nothing inline for the CSP to refuse: no script bodies, no style blocks or attributes, no handlers.
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).not.toMatch(/<style\b|\sstyle="|\son[a-z]+="/i);
  for (const ref of references(html)) expect(`${ref}`).toMatch(/^(\/|#)/);
}

async function uploadOne(h: Harness, name = "photo.jpg") {
  const res = await h.upload(await fixture(name), name);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; delete_token: string; filename: string };
}

describe("web pages", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite", env: { PUBLIC_URL: "https://img.example.com" } });
  }, 30_000);
  afterAll(() => h.close());

  test("/ is the upload page for browsers and the JSON index for programs", async () => {
    const page = await h.request("/", { headers: BROWSER });
    expect(page.status).toBe(200);
    const html = await page.text();
    expectStrictPage(page, html);
    expect(page.headers.get("vary")).toContain("Accept");
    expect(html).toContain('<h1 id="upload-title">Upload images</h1>');
    expect(html).toContain('id="file-input"');
    expect(html).toContain("JPEG, PNG, GIF or WebP, up to 5 MiB each.");
    expect(html).toContain("delete link");
    for (const accept of [undefined, "*/*", "application/json", "application/json, text/html;q=0.5"]) {
      const res = await h.request("/", accept ? { headers: { Accept: accept } } : {});
      expect(`${accept} ${res.headers.get("content-type")}`).toBe(`${accept} application/json`);
      expect(res.headers.get("vary")).toBe("Accept");
      expect((await res.json()).docs).toBe("https://img.example.com/docs");
    }
    const head = await h.request("/", { method: "HEAD", headers: BROWSER });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBe(new TextEncoder().encode(html).length);
  });

  test("every asset a page references loads with its type, cached for good under its version", async () => {
    const html = await (await h.request("/", { headers: BROWSER })).text();
    const assets = references(html).filter((r) => r.startsWith("/assets/"));
    expect(assets.map((a) => a.replace(/\?v=[0-9a-f]{16}$/, "")).sort()).toEqual(["/assets/app.css", "/assets/common.js", "/assets/icon.svg", "/assets/icon.svg", "/assets/upload.js"]);
    const types: Record<string, string> = { css: "text/css", js: "text/javascript", svg: "image/svg+xml" };
    for (const a of new Set(assets)) {
      const res = await h.request(a);
      expect(`${a} ${res.status}`).toBe(`${a} 200`);
      expect(res.headers.get("content-type")).toContain(types[a.split("?")[0]!.split(".").pop()!]!);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const etag = res.headers.get("etag")!;
      expect((await h.request(a, { headers: { "If-None-Match": etag } })).status).toBe(304);
      // Any other version (an old page) revalidates instead of keeping today's file for a year.
      expect((await h.request(a.replace(/\?v=.*/, "?v=old"))).headers.get("cache-control")).toBe("no-cache");
    }
    const scripts = await Promise.all(["common", "upload", "delete", "gallery", "keys", "tags"].map(async (n) => (await h.request(`/assets/${n}.js`)).text()));
    for (const s of scripts) expect(s).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|https?:\/\//);
    expect((await h.request("/assets/evil.js", { headers: BROWSER })).status).toBe(404);
  });

  test("image page: the picture, its facts, links under PUBLIC_URL and the delete form", async () => {
    const up = await uploadOne(h);
    const res = await h.request(`/images/${up.id}`, { headers: BROWSER });
    expect(res.status).toBe(200);
    const html = await res.text();
    expectStrictPage(res, html);
    expect(html).toContain("<title>photo.jpg · chitram</title>");
    expect(html).toContain(`<img src="/api/v1/images/${up.id}/file" alt="photo.jpg" width="640" height="480"`);
    expect(html).toMatch(/<dt>Dimensions<\/dt><dd>640 × 480 px<\/dd>/);
    expect(html).toMatch(/<dt>Thumbnail<\/dt><dd>being made<\/dd>/);
    for (const value of Object.values(imageLinks("https://img.example.com", { id: up.id, filename: "photo.jpg", width: 640, height: 480 }))) {
      expect(html).toContain(`value="${value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")}"`);
    }
    expect(html).toContain('data-mode="token"');
    expect(html).toContain('id="delete-token"');
    expect(html).not.toContain(up.delete_token);
  });

  test("delete page: asks and never deletes on GET, whatever the query says", async () => {
    const up = await uploadOne(h, "tiny.png");
    for (const path of [`/images/${up.id}/delete`, `/images/${up.id}/delete?delete_token=${up.delete_token}`]) {
      const res = await h.request(path, { headers: BROWSER });
      expect(res.status).toBe(200);
      const html = await res.text();
      expectStrictPage(res, html);
      expect(html).toContain('<h1 data-done-text="Image deleted">Delete this image?</h1>');
      expect(html).toContain(`data-api="/api/v1/images/${up.id}"`);
      expect(html).toContain('<button type="submit" class="button danger">Delete image</button>');
    }
    expect((await h.request(`/api/v1/images/${up.id}`)).status).toBe(200);
    const post = await h.request(`/images/${up.id}/delete`, { method: "POST", headers: { ...BROWSER, "Content-Type": "application/x-www-form-urlencoded" }, body: `token=${up.delete_token}` });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect(await post.text()).toContain("<h1>Not allowed here</h1>"); // a browser reads words
    expect((await (await h.request(`/images/${up.id}/delete`, { method: "POST" })).json()).error.code).toBe("METHOD_NOT_ALLOWED");
    expect((await h.request(`/api/v1/images/${up.id}`)).status).toBe(200);
  });

  test("an image with an owner: no token form, and the delete page says who may delete it", async () => {
    const owner = await register(h);
    const res = await h.upload(await fixture("tiny.gif"), "tiny.gif", "image/gif", owner.headers);
    expect(res.status).toBe(201);
    const up = (await res.json()) as { id: string; delete_token: string | null };
    expect(up.delete_token).toBeNull();
    const page = await (await h.request(`/images/${up.id}`, { headers: BROWSER })).text();
    expect(page).not.toContain("data-delete-form");
    const del = await (await h.request(`/images/${up.id}/delete`, { headers: BROWSER })).text();
    expect(del).not.toContain("data-delete-form");
    expect(del).toContain("only its owner can delete it");
  });

  test("errors are pages in words: unknown, malformed and deleted images, unknown pages; the API stays JSON", async () => {
    const up = await uploadOne(h, "tiny.webp");
    expect((await h.request(`/api/v1/images/${up.id}`, { method: "DELETE", headers: { "X-Delete-Token": up.delete_token } })).status).toBe(204);
    for (const path of [`/images/${up.id}`, `/images/${up.id}/delete`, "/images/not-an-id", `/images/${"x".repeat(5000)}`]) {
      const res = await h.request(path, { headers: BROWSER });
      expect(`${path.slice(0, 60)} ${res.status}`).toBe(`${path.slice(0, 60)} 404`);
      const html = await res.text();
      expectStrictPage(res, html);
      expect(html).toContain("<h1>Not found</h1>");
      expect(html).toContain("There is no image at this address.");
      expect(html).not.toContain('"error"');
    }
    const unknown = await h.request("/no/such/page", { headers: BROWSER });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain("There is no page at this address.");
    for (const [path, headers] of [["/no/such/page", {}], ["/api/v1/nothing", BROWSER]] as const) {
      const res = await h.request(path, { headers });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("NOT_FOUND");
    }
  });

  test("the tool files: ShareX and the script point at PUBLIC_URL, whatever Host the request named", async () => {
    const sxcu = await h.request("/tools/chitram.sxcu", { headers: { Host: "evil.example" } });
    expect(sxcu.status).toBe(200);
    expect(sxcu.headers.get("content-disposition")).toBe('attachment; filename="chitram.sxcu"');
    expect(sxcu.headers.get("cache-control")).toBe("no-store");
    expect(await sxcu.json()).toEqual({
      Version: "17.0.0",
      Name: "chitram (img.example.com)",
      DestinationType: "ImageUploader",
      RequestMethod: "POST",
      RequestURL: "https://img.example.com/api/v1/images/upload",
      Body: "MultipartFormData",
      FileFormName: "file",
      URL: "{json:url}",
      ThumbnailURL: "https://img.example.com/api/v1/images/{json:id}/thumbnail",
      DeletionURL: "https://img.example.com/images/{json:id}/delete#{json:delete_token}",
      ErrorMessage: "{json:error.message}",
    });
    const script = await h.request("/tools/chitram-upload.sh", { headers: { Host: "evil.example" } });
    expect(script.headers.get("content-disposition")).toBe('attachment; filename="chitram-upload.sh"');
    const text = await script.text();
    expect(text).toContain("CHITRAM_URL='https://img.example.com'");
    expect(text).not.toContain("evil");
    const tools = await h.request("/tools", { headers: BROWSER });
    const html = await tools.text();
    expectStrictPage(tools, html);
    expect(html).not.toContain("PUBLIC_URL is not set");
  });

  test("the tool files are valid: sh -n accepts the script; an API key goes into both", async () => {
    const base = { base: "https://img.example.com/pics", absoluteResponses: true };
    for (const opts of [base, { ...base, apiKey: "chk_abc123" }]) {
      const file = `${process.env.TMPDIR ?? "/tmp"}/chitram-script-${process.pid}.sh`;
      await Bun.write(file, uploadScript(opts));
      const check = Bun.spawnSync(["sh", "-n", file]);
      expect(check.exitCode).toBe(0);
    }
    expect(uploadScript({ ...base, apiKey: "chk_abc123" })).toContain('CHITRAM_API_KEY="${CHITRAM_API_KEY:-chk_abc123}"');
    const keyed = sharexConfig({ ...base, apiKey: "chk_abc123" });
    expect(keyed.Headers).toEqual({ Authorization: "Bearer chk_abc123" });
    // Owned uploads have no delete token: their deletion URL is the page, where the owner is signed in.
    expect(keyed.DeletionURL).toBe("https://img.example.com/pics/images/{json:id}/delete");
    expect(sharexConfig({ base: "http://10.0.0.5:3000", absoluteResponses: false }).URL).toBe("http://10.0.0.5:3000{json:url}");
  });

  test("CSP names the object store when downloads redirect there (presigned S3 URLs)", () => {
    const deps = { config: { S3_PRESIGNED_DOWNLOADS: true }, storage: { presignedUrl: () => "https://bucket.s3.example.com/chitram/x.png?X-Amz-Signature=1" } };
    expect(pageCsp(deps as unknown as Deps)).toContain("img-src 'self' blob: https://bucket.s3.example.com;");
    expect(pageCsp({ config: { S3_PRESIGNED_DOWNLOADS: false }, storage: {} } as unknown as Deps)).toContain("img-src 'self' blob:;");
  });

  test("links escape what Markdown and HTML would misread in a file name", () => {
    const l = imageLinks("https://i.example", { id: "abc", filename: 'a [b] "c" <d>.png', width: null, height: null });
    expect(l.markdown).toBe("![a \\[b\\] \"c\" <d>.png](https://i.example/api/v1/images/abc/file)");
    expect(l.html).toBe('<img src="https://i.example/api/v1/images/abc/file" alt="a [b] &quot;c&quot; &lt;d&gt;.png">');
  });
});

describe("web pages without PUBLIC_URL, or under a path", () => {
  test("tool files and copied links use the address the browser used; the page says PUBLIC_URL is not set", async () => {
    const h = await createHarness({ db: "pglite" });
    try {
      const sxcu = await (await h.request("http://192.168.1.20:3000/tools/chitram.sxcu")).json();
      expect(sxcu.RequestURL).toBe("http://192.168.1.20:3000/api/v1/images/upload");
      expect(sxcu.URL).toBe("http://192.168.1.20:3000{json:url}"); // the API answers with a path
      const tools = await (await h.request("http://192.168.1.20:3000/tools", { headers: BROWSER })).text();
      expect(tools).toContain("PUBLIC_URL is not set");
      const up = await uploadOne(h, "tiny.jpg");
      const page = await (await h.request(`http://192.168.1.20:3000/images/${up.id}`, { headers: BROWSER })).text();
      expect(page).toContain(`value="http://192.168.1.20:3000/images/${up.id}"`);
    } finally {
      await h.close();
    }
  }, 30_000);

  test("under a proxy path (PUBLIC_URL=https://example.org/pics) every link and asset carries the path", async () => {
    const h = await createHarness({ db: "pglite", env: { PUBLIC_URL: "https://example.org/pics" } });
    try {
      const up = await uploadOne(h, "tiny.jpg");
      for (const path of ["/", `/images/${up.id}`, `/images/${up.id}/delete`, "/tools"]) {
        const html = await (await h.request(path, { headers: BROWSER })).text();
        for (const ref of references(html).filter((r) => r.startsWith("/"))) expect(`${path}: ${ref}`).toMatch(new RegExp(`^${path.replace(/[?]/g, "\\?")}: /pics/`));
      }
    } finally {
      await h.close();
    }
  }, 30_000);

  test("ALLOW_ANONYMOUS_UPLOADS=false: visitors are told uploads need an account, and get no form", async () => {
    const h = await createHarness({ db: "pglite", env: { ALLOW_ANONYMOUS_UPLOADS: "false" } });
    try {
      const html = await (await h.request("/", { headers: BROWSER })).text();
      expect(html).not.toContain('id="upload-form"');
      expect(html).toContain("This server takes uploads from signed-in users only.");
    } finally {
      await h.close();
    }
  }, 30_000);
});
