import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startChitram } from "./support/process.ts";
import { rawExchange, serveHarness } from "./support/server.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";

describe("upload size limit on the wire", () => {
  let h: Harness;
  let srv: ReturnType<typeof serveHarness>;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite" });
    srv = serveHarness(h);
  }, 30_000); // the first harness in a process initialises PGlite: seconds on a busy machine
  afterAll(async () => {
    srv.stop();
    await h.close();
  });

  test("a 6 MB upload is refused with 413 before its body is read", async () => {
    const boundary = "----chitram";
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`;
    const total = 6 * 1024 * 1024;
    const request = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${total}\r\n\r\n`;
    // Send the headers and only the first 64 kB; the answer must come without the rest.
    const r = await rawExchange(srv.port, [request, head, new Uint8Array(64 * 1024)], { timeoutMs: 3_000 });
    expect(r.response).toStartWith("HTTP/1.1 413");
    expect(r.response).toContain('"code":"FILE_TOO_LARGE"');
    expect(r.sentBytes).toBeLessThan(total);
  });

  test("a chunked upload is cut off once it passes the limit, without buffering it all", async () => {
    const boundary = "----chitram";
    const request = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const chunk = (data: Uint8Array | string) => {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      const out = new Uint8Array(bytes.length + 16);
      const header = new TextEncoder().encode(`${bytes.length.toString(16)}\r\n`);
      out.set(header);
      out.set(bytes, header.length);
      out.set(new TextEncoder().encode("\r\n"), header.length + bytes.length);
      return out.subarray(0, header.length + bytes.length + 2);
    };
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n`;
    const parts = [request, chunk(head), ...Array.from({ length: 200 }, () => chunk(new Uint8Array(64 * 1024)))]; // 12.5 MB offered
    const r = await rawExchange(srv.port, parts, { timeoutMs: 10_000, gapMs: 1 });
    expect(r.response).toStartWith("HTTP/1.1 413");
    expect(r.sentBytes).toBeLessThan(8 * 1024 * 1024);
    expect(await h.deps.storage.list()).toEqual([]);
  });

  // Phone photos are 6-12 MB. Bun's own body limit once answered these with a bare 413 and no
  // body; now the route refuses them, in the envelope, whatever the client does with its body.
  test.each([6, 20])("a complete %i MiB upload gets 413 FILE_TOO_LARGE in the JSON envelope", async (mib) => {
    const form = new FormData();
    form.append("file", new Blob([makePng({ padTo: mib * 1024 * 1024 })]), "phone.png");
    const res = await fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const body = await res.json();
    expect(body).toEqual({ error: { code: "FILE_TOO_LARGE", message: expect.any(String), details: { max_size_bytes: 5 * 1024 * 1024 } } });
    // The connection is still usable afterwards.
    expect((await fetch(`${srv.url}/health`)).status).toBe(200);
  });

  test("a 20 MiB declared body gets the envelope at once, after only its first bytes", async () => {
    const total = 20 * 1024 * 1024;
    const request = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${total}\r\n\r\n`;
    const r = await rawExchange(srv.port, [request, "--b\r\n"], { timeoutMs: 3_000 });
    expect(r.response).toStartWith("HTTP/1.1 413");
    expect(r.response).toMatch(/\r\ncontent-type: application\/json/i);
    expect(r.response).toMatch(/\r\nx-request-id: \S+/i);
    expect(r.response).toContain('{"error":{"code":"FILE_TOO_LARGE"');
  });

  test("a normal upload over the socket still works", async () => {
    const form = new FormData();
    form.append("file", new Blob([makePng()]), "ok.png");
    const res = await fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form });
    expect(res.status).toBe(201);
  });
});

describe.if(HAVE_POSTGRES)("upload size limit of the real program", () => {
  test("bun run src/main.ts answers a 20 MiB upload with the 413 envelope", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chitram-limit-"));
    const r = await startChitram({ env: { DATABASE_URL: TEST_DATABASE_URL, DATA_DIR: dir } });
    try {
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(20 * 1024 * 1024)]), "huge.jpg");
      const res = await fetch(`${r.url}/api/v1/images/upload`, { method: "POST", body: form });
      expect(res.status).toBe(413);
      expect((await res.json()).error.code).toBe("FILE_TOO_LARGE");
    } finally {
      expect(await r.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
