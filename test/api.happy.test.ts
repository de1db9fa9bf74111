import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { FIXTURES_BY_TYPE, fixture, makePng } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

describe.each(kinds)("image API on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: kind });
  });
  afterAll(() => h.close());

  test.each(FIXTURES_BY_TYPE)("uploads $name as $type with its size read from the header", async (f) => {
    const bytes = await fixture(f.name);
    // The declared type and extension are lies; the bytes decide.
    const res = await h.upload(bytes, "holiday.txt", "text/plain");
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(Object.keys(body).sort()).toEqual(
      ["content_type", "created_at", "delete_token", "file_size", "filename", "height", "id", "metadata_removed", "thumbnail_error", "thumbnail_ready", "thumbnail_status", "thumbnail_url", "url", "width"].sort(),
    );
    expect(body).toMatchObject({
      filename: "holiday.txt",
      content_type: f.type,
      file_size: bytes.length,
      width: f.width,
      height: f.height,
      thumbnail_ready: false,
      thumbnail_url: null,
      url: `/api/v1/images/${body.id}/file`,
    });
    expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
    expect(body.delete_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const meta = await h.request(`/api/v1/images/${body.id}`);
    expect(meta.status).toBe(200);
    const m = await meta.json();
    expect(m).toEqual({
      id: body.id,
      filename: "holiday.txt",
      content_type: f.type,
      file_size: bytes.length,
      created_at: body.created_at,
      width: f.width,
      height: f.height,
      thumbnail_ready: false,
      thumbnail_url: null,
      url: `/api/v1/images/${body.id}/file`,
      thumbnail_status: "pending",
      thumbnail_error: null,
    });
    expect(meta.headers.get("x-cache")).toBe("DISABLED");

    const file = await h.request(`/api/v1/images/${body.id}/file`);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe(f.type);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    // Server-made storage key with the detected type's extension.
    const ext = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" }[f.type];
    expect(await h.deps.storage.list()).toContain(`${body.id}.${ext}`);
  });

  test("file responses carry safe headers, a strong ETag, 304 and ranges", async () => {
    const bytes = await fixture("photo.jpg");
    const { id } = await (await h.upload(bytes, "photo.jpg")).json();
    const url = `/api/v1/images/${id}/file`;
    const etag = `"${createHash("sha256").update(bytes).digest("hex")}"`;

    const full = await h.request(url);
    expect(full.headers.get("etag")).toBe(etag);
    expect(full.headers.get("x-content-type-options")).toBe("nosniff");
    expect(full.headers.get("cache-control")).toContain("immutable");
    expect(full.headers.get("content-disposition")).toBe('inline; filename="photo.jpg"');
    expect(full.headers.get("accept-ranges")).toBe("bytes");
    await full.arrayBuffer();

    const notModified = await h.request(url, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe(etag);
    expect((await notModified.arrayBuffer()).byteLength).toBe(0);
    expect((await h.request(url, { headers: { "If-None-Match": `W/${etag}, "other"` } })).status).toBe(304);
    expect((await h.request(url, { headers: { "If-None-Match": '"other"' } })).status).toBe(200);

    const part = await h.request(url, { headers: { Range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-199/${bytes.length}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(100, 200));

    const suffix = await h.request(url, { headers: { Range: "bytes=-10" } });
    expect(suffix.status).toBe(206);
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 10));

    const open = await h.request(url, { headers: { Range: `bytes=${bytes.length - 5}-` } });
    expect(open.status).toBe(206);
    expect((await open.arrayBuffer()).byteLength).toBe(5);

    const beyond = await h.request(url, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
    expect((await beyond.json()).error.code).toBe("RANGE_NOT_SATISFIABLE");

    // A stale If-Range validator means "send it all".
    const stale = await h.request(url, { headers: { Range: "bytes=0-1", "If-Range": '"old"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(bytes.length);
  });

  test("filenames: path traversal stripped, unicode kept with filename*, controls removed", async () => {
    const cases: Array<[string, string, string]> = [
      ["../../etc/passwd", "passwd", 'inline; filename="passwd"'],
      ["..\\..\\windows\\win.ini", "win.ini", 'inline; filename="win.ini"'],
      ["фото 猫.png", "фото 猫.png", `inline; filename="____ _.png"; filename*=UTF-8''${encodeURIComponent("фото 猫.png")}`],
      ["a\u0000b\u001fc\u007f.png", "abc.png", 'inline; filename="abc.png"'],
      ["", "unnamed", 'inline; filename="unnamed"'],
      ["x".repeat(300) + ".png", "x".repeat(255), `inline; filename="${"x".repeat(255)}"`],
    ];
    for (const [given, stored, disposition] of cases) {
      const res = await h.upload(makePng(), given);
      expect(res.status).toBe(201);
      const body = await res.json();
      expect(body.filename).toBe(stored);
      const file = await h.request(`/api/v1/images/${body.id}/file`);
      expect(file.headers.get("content-disposition")).toBe(disposition);
      await file.arrayBuffer();
    }
  });

  test("delete with the right token removes row and file; later reads are 404", async () => {
    const { id, delete_token } = await (await h.upload(makePng(), "bye.png")).json();
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(true);
    const res = await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await h.deps.repo.findById(id)).toBeUndefined();
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(false);
    expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(404);
    const again = await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" });
    expect(again.status).toBe(404);
  });

  test("upper-case ids are the same image", async () => {
    const { id } = await (await h.upload(makePng(), "a.png")).json();
    const res = await h.request(`/api/v1/images/${id.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect((await res.json()).id).toBe(id);
  });
});
