import { utimesSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];
const MB = 1024 * 1024;

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = await res.json();
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(typeof body.error.details).toBe("object");
  return body.error as { code: string; message: string; details: Record<string, unknown> };
}

describe.each(kinds)("refusals and errors on %s", (kind) => {
  let h: Harness;
  let rowsBefore: number;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
    rowsBefore = await h.deps.repo.count();
  });
  afterAll(() => h.close());

  const refusals: Array<[string, () => Promise<Uint8Array>]> = [
    ["PDF", async () => new TextEncoder().encode("%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF")],
    ["ZIP", async () => new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Array(40).fill(0)])],
    ["BMP", async () => new Uint8Array([0x42, 0x4d, 0x3a, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x18, 0, ...new Array(28).fill(0)])],
    ["SVG", async () => new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><script>alert(1)</script></svg>')],
    ["plain text", async () => new TextEncoder().encode("just some text, not an image\n")],
    ["HTML", async () => new TextEncoder().encode("<!doctype html><html><body>hi</body></html>")],
  ];

  test.each(refusals)("%s is refused as INVALID_FILE_FORMAT whatever it claims to be", async (_name, make) => {
    const res = await h.upload(await make(), "innocent.png", "image/png");
    const err = await expectError(res, 400, "INVALID_FILE_FORMAT");
    expect(err.details.allowed_types).toEqual(["image/jpeg", "image/png", "image/gif", "image/webp"]);
    expect(typeof err.details.detected_type).toBe("string");
  });

  test("an empty file is INVALID_REQUEST naming the field", async () => {
    const err = await expectError(await h.upload(new Uint8Array(0), "empty.png"), 400, "INVALID_REQUEST");
    expect(err.details.field).toBe("file");
  });

  test("a missing file field, a text field named file, and a non-multipart body are INVALID_REQUEST", async () => {
    const form = new FormData();
    form.append("picture", new Blob([await fixture("tiny.png")]), "a.png");
    await expectError(await h.request("/api/v1/images/upload", { method: "POST", body: form }), 400, "INVALID_REQUEST");

    const textField = new FormData();
    textField.append("file", "not a file");
    await expectError(await h.request("/api/v1/images/upload", { method: "POST", body: textField }), 400, "INVALID_REQUEST");

    const json = await h.request("/api/v1/images/upload", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } });
    await expectError(json, 400, "INVALID_REQUEST");
    await expectError(await h.request("/api/v1/images/upload", { method: "POST" }), 400, "INVALID_REQUEST");
  });

  test("exactly the size limit is accepted; one byte more is 413 FILE_TOO_LARGE", async () => {
    const atLimit = makePng({ padTo: 5 * MB });
    expect(atLimit.length).toBe(5 * MB);
    const ok = await h.upload(atLimit, "big.png");
    expect(ok.status).toBe(201);
    expect((await ok.json()).file_size).toBe(5 * MB);

    const err = await expectError(await h.upload(makePng({ padTo: 5 * MB + 1 }), "big.png"), 413, "FILE_TOO_LARGE");
    expect(err.details.max_size_bytes).toBe(5 * MB);
    await expectError(await h.upload(makePng({ padTo: 6 * MB }), "bigger.png"), 413, "FILE_TOO_LARGE");
  });

  test("unknown and malformed ids are IMAGE_NOT_FOUND on every image route", async () => {
    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "1", "' OR 1=1 --", "%00", "x".repeat(5000)]) {
      const enc = encodeURIComponent(id);
      await expectError(await h.request(`/api/v1/images/${enc}`), 404, "IMAGE_NOT_FOUND");
      await expectError(await h.request(`/api/v1/images/${enc}/file`), 404, "IMAGE_NOT_FOUND");
      await expectError(await h.request(`/api/v1/images/${enc}?delete_token=x`, { method: "DELETE" }), 404, "IMAGE_NOT_FOUND");
    }
  });

  test("unknown routes are NOT_FOUND; a known path with a wrong method is METHOD_NOT_ALLOWED with Allow", async () => {
    await expectError(await h.request("/nope"), 404, "NOT_FOUND");
    await expectError(await h.request("/api/v1"), 404, "NOT_FOUND");
    await expectError(await h.request("/api/v1/users"), 404, "NOT_FOUND");
    await expectError(await h.request("/api/v1/images/x/y/z"), 404, "NOT_FOUND");
    // The static upload path is not an image called "upload".
    const upload = await h.request("/api/v1/images/upload", { method: "GET" });
    const err = await expectError(upload, 405, "METHOD_NOT_ALLOWED");
    expect(upload.headers.get("allow")).toBe("POST");
    expect(err.details.allow).toEqual(["POST"]);
    expect(err.message).not.toContain("not found");
    const put = await h.request("/api/v1/images/00000000-0000-4000-8000-000000000000", { method: "PUT" });
    await expectError(put, 405, "METHOD_NOT_ALLOWED");
    expect(put.headers.get("allow")).toBe("DELETE, GET, HEAD");
    const postFile = await h.request("/api/v1/images/00000000-0000-4000-8000-000000000000/file", { method: "POST" });
    await expectError(postFile, 405, "METHOD_NOT_ALLOWED");
    expect(postFile.headers.get("allow")).toBe("GET, HEAD");
    const deleteHealth = await h.request("/health/", { method: "DELETE" });
    await expectError(deleteHealth, 405, "METHOD_NOT_ALLOWED");
    expect(deleteHealth.headers.get("allow")).toBe("GET, HEAD");
  });

  test("delete needs the image's own token: missing, wrong, another image's, then right", async () => {
    const a = await (await h.upload(makePng(), "a.png")).json();
    const b = await (await h.upload(makePng(), "b.png")).json();
    const url = `/api/v1/images/${a.id}`;
    await expectError(await h.request(url, { method: "DELETE" }), 403, "DELETE_TOKEN_REQUIRED");
    await expectError(await h.request(`${url}?delete_token=`, { method: "DELETE" }), 403, "DELETE_TOKEN_REQUIRED");
    await expectError(await h.request(`${url}?delete_token=wrong`, { method: "DELETE" }), 403, "INVALID_DELETE_TOKEN");
    await expectError(await h.request(`${url}?delete_token=${b.delete_token}`, { method: "DELETE" }), 403, "INVALID_DELETE_TOKEN");
    const long = await expectError(await h.request(`${url}?delete_token=${"A".repeat(10_000)}`, { method: "DELETE" }), 400, "INVALID_REQUEST");
    expect(JSON.stringify(long.details)).toContain("delete_token");
    expect((await h.request(url)).status).toBe(200); // still there
    expect((await h.request(`${url}?delete_token=${a.delete_token}`, { method: "DELETE" })).status).toBe(204);
  });

  test("only the token's SHA-256 is stored, never the token", async () => {
    const { id, delete_token } = await (await h.upload(makePng(), "t.png")).json();
    const row = await h.deps.repo.findById(id);
    expect(row!.deleteTokenHash).toBe(new Bun.CryptoHasher("sha256").update(delete_token).digest("hex"));
    expect(JSON.stringify(row)).not.toContain(delete_token);
  });

  test("a file removal that fails after the delete committed: 204, the row is gone, and the reconciler removes the file", async () => {
    const { id, delete_token } = await (await h.upload(makePng(), "keep.png")).json();
    const spy = spyOn(h.deps.storage, "delete").mockImplementationOnce(async () => {
      throw new Error("disk on fire");
    });
    try {
      expect((await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    } finally {
      spy.mockRestore();
    }
    expect(h.logs.some((l) => l.includes("disk on fire") && l.includes(`${id}.png`))).toBe(true);
    expect(await h.deps.repo.findById(id)).toBeUndefined();
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(404);
    // A file without a row is harmless, and swept once it is older than the grace period.
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(true);
    const old = new Date(Date.now() - 2 * h.deps.config.RECONCILE_GRACE_SECONDS * 1000);
    utimesSync(join(h.deps.config.LOCAL_STORAGE_PATH, `${id}.png`), old, old);
    const report = await h.deps.reconciler.runOnce();
    expect(report?.orphansRemoved).toBe(1);
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(false);
  });

  test("a failing insert leaves no file behind", async () => {
    const before = await h.deps.storage.list();
    const spy = spyOn(h.deps.repo, "insert").mockImplementationOnce(async () => {
      throw new Error("insert failed");
    });
    try {
      await expectError(await h.upload(makePng(), "x.png"), 500, "INTERNAL_ERROR");
    } finally {
      spy.mockRestore();
    }
    expect(await h.deps.storage.list()).toEqual(before);
  });

  test("after all refusals, every row has its file and every file its row", async () => {
    const files = await h.deps.storage.list();
    expect(files.every((f) => /^[0-9a-f-]{36}\.(png|jpg|gif|webp)$/.test(f))).toBe(true); // no temp files
    for (const f of files) expect(await h.deps.repo.findById(f.slice(0, 36))).toBeDefined();
    // Rows added by this file's tests = successful uploads still present = files on disk.
    expect((await h.deps.repo.count()) - rowsBefore).toBe(files.length);
  });
});
