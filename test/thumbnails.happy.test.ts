// Thumbnails through HTTP: every allowed kind of input becomes a correct 300 px JPEG (decoded here
// and compared colour by colour with the source), NOT_READY before, ready after, served with the
// same caching and Range as originals, removed with the image. Includes the seed system's own
// thumbnail tests (backend/tests/api/test_thumbnails.py, unit/test_thumbnail_service.py), with our
// error envelope ({"error": …}) instead of FastAPI's {"detail": …}.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { THUMBNAIL_WORKER_URL } from "../src/deps.ts";
import { makeThumbnail } from "../src/thumbnails/make.ts";
import { createThumbnailPool } from "../src/thumbnails/pool.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";
import {
  BLUE, LIME, PINK, RED, WHITE, YELLOW, clearThumbnailJobs, decodeJpeg, expectColor, makeThumbnails, pixel, quadrantCentres, thumbnailReady, type Rgb,
} from "./support/thumbnails.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];
const QUADRANTS: Rgb[] = [RED, LIME, BLUE, YELLOW];

// Every input kind of the issue: [fixture, type, displayed size, expected quadrant colours, tolerance].
const INPUTS: Array<[string, string, [number, number], Rgb[], number]> = [
  ["q-baseline.jpg", "image/jpeg", [400, 300], QUADRANTS, 30],
  ["q-progressive.jpg", "image/jpeg", [400, 300], QUADRANTS, 30],
  ["q-cmyk.jpg", "image/jpeg", [400, 300], QUADRANTS, 60],
  ["q-orient6.jpg", "image/jpeg", [400, 300], QUADRANTS, 30], // stored 300x400, shown upright
  ["q-palette.png", "image/png", [400, 300], QUADRANTS, 30],
  ["q-16bit.png", "image/png", [400, 300], QUADRANTS, 30],
  ["q-alpha.png", "image/png", [400, 300], [PINK, LIME, BLUE, WHITE], 30],
  ["q-animated.gif", "image/gif", [400, 300], QUADRANTS, 30], // first frame, not the black second
  ["q-lossy.webp", "image/webp", [400, 300], QUADRANTS, 40],
  ["q-lossless.webp", "image/webp", [400, 300], QUADRANTS, 30],
  ["q-alpha.webp", "image/webp", [400, 300], [PINK, LIME, BLUE, WHITE], 40],
  ["q-animated.webp", "image/webp", [400, 300], QUADRANTS, 40],
];

describe.each(kinds)("thumbnails on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: kind, env: { THUMBNAIL_WORKERS: "1" } });
    await clearThumbnailJobs(h);
  });
  afterAll(() => h.close());

  test.each(INPUTS)("%s (%s) becomes a 300x225 JPEG with the source's colours", async (name, type, [w, hgt], colours, tolerance) => {
    const up = await h.upload(await fixture(name), name);
    expect(up.status).toBe(201);
    const body = await up.json();
    expect(body).toMatchObject({ content_type: type, width: w, height: hgt, thumbnail_ready: false, thumbnail_url: null, thumbnail_status: "pending" });

    const before = await h.request(`/api/v1/images/${body.id}/thumbnail`);
    expect(before.status).toBe(404);
    expect(await before.json()).toEqual({
      error: { code: "THUMBNAIL_NOT_READY", message: "Thumbnail is not yet available. Try again later.", details: { status: "pending", reason: null } },
    });

    await makeThumbnails(h, thumbnailReady(h, body.id));
    const meta = await (await h.request(`/api/v1/images/${body.id}`)).json();
    expect(meta).toMatchObject({ thumbnail_ready: true, thumbnail_url: `/api/v1/images/${body.id}/thumbnail`, thumbnail_status: "ready", thumbnail_error: null });

    const res = await h.request(`/api/v1/images/${body.id}/thumbnail`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const thumb = decodeJpeg(new Uint8Array(await res.arrayBuffer()));
    expect([thumb.width, thumb.height]).toEqual([300, 225]);
    expect(thumb.components).toBe(3);
    quadrantCentres(300, 225).forEach(([x, y], i) => expectColor(pixel(thumb, x, y), colours[i]!, tolerance, `${name} quadrant ${i}`));
  });

  test("never upscaled, aspect kept", async () => {
    for (const [name, size, colour] of [["small.png", [120, 80], RED], ["wide.jpg", [300, 25], BLUE]] as const) {
      const { id } = await (await h.upload(await fixture(name), name)).json();
      await makeThumbnails(h, thumbnailReady(h, id));
      const thumb = decodeJpeg(new Uint8Array(await (await h.request(`/api/v1/images/${id}/thumbnail`)).arrayBuffer()));
      expect([thumb.width, thumb.height]).toEqual([...size]);
      expectColor(pixel(thumb, thumb.width / 2, thumb.height / 2), colour);
    }
  });

  test("served like originals: strong ETag of its bytes, 304, immutable, Range; unknown image is IMAGE_NOT_FOUND", async () => {
    const { id } = await (await h.upload(await fixture("photo.jpg"), "photo.jpg")).json();
    await makeThumbnails(h, thumbnailReady(h, id));
    const url = `/api/v1/images/${id}/thumbnail`;
    const full = await h.request(url);
    const bytes = new Uint8Array(await full.arrayBuffer());
    const etag = `"${createHash("sha256").update(bytes).digest("hex")}"`;
    expect(full.headers.get("etag")).toBe(etag);
    expect(full.headers.get("cache-control")).toContain("immutable");
    expect(full.headers.get("x-content-type-options")).toBe("nosniff");
    expect(full.headers.get("content-disposition")).toBe(`inline; filename="${id}_thumbnail.jpg"`);
    expect((await h.request(url, { headers: { "If-None-Match": etag } })).status).toBe(304);
    const part = await h.request(url, { headers: { Range: "bytes=0-9" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(0, 10));

    const unknown = await h.request(`/api/v1/images/${crypto.randomUUID()}/thumbnail`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("IMAGE_NOT_FOUND");
  });

  test("deleting the image deletes its thumbnail", async () => {
    const { id, delete_token } = await (await h.upload(await fixture("q-baseline.jpg"), "bye.jpg")).json();
    await makeThumbnails(h, thumbnailReady(h, id));
    expect(await h.deps.storage.exists(`${id}.thumb.jpg`)).toBe(true);
    expect((await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    expect(await h.deps.storage.exists(`${id}.thumb.jpg`)).toBe(false);
    expect((await (await h.request(`/api/v1/images/${id}/thumbnail`)).json()).error.code).toBe("IMAGE_NOT_FOUND");
  });

  describe("the seed system's thumbnail tests", () => {
    const uploadPhoto = async () => (await h.upload(await fixture("photo.jpg"), "test.jpg", "image/jpeg")).json();

    test("upload response: thumbnail_ready false, thumbnail_url null", async () => {
      const data = await uploadPhoto();
      expect(data.thumbnail_ready).toBe(false);
      expect(data.thumbnail_url).toBeNull();
    });

    test("metadata includes thumbnail_ready (a bool) and thumbnail_url", async () => {
      const data = await (await h.request(`/api/v1/images/${(await uploadPhoto()).id}`)).json();
      expect(typeof data.thumbnail_ready).toBe("boolean");
      expect("thumbnail_url" in data).toBe(true);
    });

    test("nonexistent image → 404 IMAGE_NOT_FOUND", async () => {
      const res = await h.request("/api/v1/images/nonexistent-id/thumbnail");
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("IMAGE_NOT_FOUND");
    });

    test("an image without a thumbnail → 404 THUMBNAIL_NOT_READY, 'not yet available'", async () => {
      const res = await h.request(`/api/v1/images/${(await uploadPhoto()).id}/thumbnail`);
      expect(res.status).toBe(404);
      const { error } = await res.json();
      expect(error.code).toBe("THUMBNAIL_NOT_READY");
      expect(error.message.toLowerCase()).toContain("not yet available");
    });

    test("once made: a JPEG smaller than the original, Content-Disposition naming the thumbnail, metadata ready with its URL", async () => {
      const original = await fixture("photo.jpg");
      const { id } = await uploadPhoto();
      await makeThumbnails(h, thumbnailReady(h, id));
      const res = await h.request(`/api/v1/images/${id}/thumbnail`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expect(res.headers.get("content-disposition")).toContain("thumbnail");
      expect((await res.arrayBuffer()).byteLength).toBeLessThan(original.length);
      const meta = await (await h.request(`/api/v1/images/${id}`)).json();
      expect(meta.thumbnail_ready).toBe(true);
      expect(meta.thumbnail_url).toBe(`/api/v1/images/${id}/thumbnail`);
    });
  });
});

describe("making a thumbnail (the seed system's unit tests)", () => {
  const pool = createThumbnailPool({ size: 1, maxPixels: 50_000_000, workerUrl: THUMBNAIL_WORKER_URL });
  afterAll(() => pool.close());

  test("within 300x300, aspect kept: 640x480 → 300x225; a PNG with alpha becomes an RGB JPEG", async () => {
    const jpeg = decodeJpeg((await makeThumbnail("jpeg", await fixture("photo.jpg"), { maxPixels: 50e6 })).jpeg);
    expect([jpeg.width, jpeg.height]).toEqual([300, 225]);
    const png = decodeJpeg((await makeThumbnail("png", await fixture("q-alpha.png"), { maxPixels: 50e6 })).jpeg);
    expect(png.components).toBe(3);
  });

  test("a custom box is respected", async () => {
    const made = await makeThumbnail("jpeg", await fixture("photo.jpg"), { maxPixels: 50e6, box: 150 });
    expect(Math.max(made.width, made.height)).toBeLessThanOrEqual(150);
  });

  test("invalid and empty data fail, saying why, and are not retried", async () => {
    for (const bytes of [new TextEncoder().encode("not an image"), new Uint8Array(0)]) {
      const err = await pool.run("jpeg", bytes, 10_000).catch((e) => e);
      expect(err.name).toBe("ThumbnailFailure");
      expect(err.permanent).toBe(true);
      expect(err.message.length).toBeGreaterThan(0);
    }
  });

  test("decoding runs in a Worker: the calling thread keeps answering during a 12-megapixel job", async () => {
    const big = makePng({ width: 4000, height: 3000 });
    let worstGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    const made = await pool.run("png", big, 30_000);
    const jobMs = performance.now() - started;
    clearInterval(ticker);
    expect([made.width, made.height]).toEqual([300, 225]);
    console.log(`12 MP PNG in the pool: ${Math.round(jobMs)} ms; the calling thread's longest gap between 5 ms ticks: ${Math.round(worstGapMs)} ms`);
    expect(worstGapMs).toBeLessThan(Math.max(100, jobMs / 3));
  });
});
