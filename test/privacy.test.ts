// STRIP_METADATA: a phone photo's GPS position, camera, capture time, comment, XMP and IPTC are
// not stored, checked with a real EXIF reader (exifr) on the bytes the server serves; the photo
// still displays upright (orientation kept, reported size as displayed) and keeps its ICC profile.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import exifr from "exifr";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture } from "./support/images.ts";
import { BLUE, LIME, RED, YELLOW, clearThumbnailJobs, decodeJpeg, expectColor, makeThumbnails, pixel, quadrantCentres, thumbnailReady } from "./support/thumbnails.ts";

const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
const LEAKS = ["Chitramcam", "Leaky 9", "taken at home", "Jane Doe", "Paris", "2024:05:17"];

describe("metadata stripping (default)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite", env: { THUMBNAIL_WORKERS: "1" } });
    await clearThumbnailJobs(h);
  });
  afterAll(() => h.close());

  const stored = async (id: string) => {
    const res = await h.request(`/api/v1/images/${id}/file`);
    return { bytes: new Uint8Array(await res.arrayBuffer()), etag: res.headers.get("etag") };
  };

  test("a JPEG with GPS, make/model, time, comment, XMP and IPTC is stored without them, upright, with its ICC profile", async () => {
    const original = await fixture("private.jpg");
    // The fixture really carries all of it.
    const before = await exifr.parse(original, { gps: true, xmp: true, iptc: true, icc: true });
    expect(before).toMatchObject({ Make: "Chitramcam", Model: "Leaky 9", Orientation: expect.anything() });
    expect(before.latitude).toBeCloseTo(48.8583, 3);
    expect(before.creator ?? before.Creator).toBeDefined();
    expect(before.City).toBe("Paris");

    const res = await h.upload(original, "IMG_0001.jpg");
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({ metadata_removed: true, width: 400, height: 300 }); // displayed size; stored 300x400

    const { bytes, etag } = await stored(body.id);
    expect(body.file_size).toBe(bytes.length);
    expect(bytes.length).toBeLessThan(original.length);
    expect(etag).toBe(`"${createHash("sha256").update(bytes).digest("hex")}"`);
    const after = await exifr.parse(bytes, { gps: true, xmp: true, iptc: true, icc: true, tiff: true, exif: true });
    expect(after.latitude).toBeUndefined();
    expect(after.longitude).toBeUndefined();
    expect(after.Make).toBeUndefined();
    expect(after.Model).toBeUndefined();
    expect(after.DateTimeOriginal).toBeUndefined();
    expect(after.City).toBeUndefined();
    expect(after.creator ?? after.Creator).toBeUndefined();
    expect(await exifr.gps(bytes)).toBeUndefined();
    for (const leak of LEAKS) expect(text(bytes)).not.toContain(leak);
    // Still displays upright, with its colour profile.
    expect(await exifr.orientation(bytes)).toBe(6);
    expect(after.ProfileDescription).toBe("Artifex Software sRGB ICC Profile");

    // And its thumbnail is upright: the quadrants as displayed.
    await makeThumbnails(h, thumbnailReady(h, body.id));
    const thumb = decodeJpeg(new Uint8Array(await (await h.request(`/api/v1/images/${body.id}/thumbnail`)).arrayBuffer()));
    expect([thumb.width, thumb.height]).toEqual([300, 225]);
    quadrantCentres(300, 225).forEach(([x, y], i) => expectColor(pixel(thumb, x, y), [RED, LIME, BLUE, YELLOW][i]!));
  });

  test.each([
    ["private.png", ["exif", "text"]],
    ["private.webp", ["exif", "xmp"]],
    ["private.gif", ["comment"]],
  ])("%s is stored without its EXIF, XMP, text and comments", async (name) => {
    const original = await fixture(name);
    const body = await (await h.upload(original, name)).json();
    expect(body.metadata_removed).toBe(true);
    const { bytes } = await stored(body.id);
    expect(body.file_size).toBe(bytes.length);
    for (const leak of LEAKS) expect(text(bytes)).not.toContain(leak);
    const after = await exifr.parse(bytes, { gps: true, xmp: true, tiff: true }).catch(() => undefined);
    expect(after?.latitude).toBeUndefined();
    expect(after?.Make).toBeUndefined();
  });

  test("an image without metadata is stored byte for byte and says nothing was removed", async () => {
    const original = await fixture("q-baseline.jpg");
    const body = await (await h.upload(original, "clean.jpg")).json();
    expect(body.metadata_removed).toBe(false);
    expect((await stored(body.id)).bytes).toEqual(original);
  });
});

describe("STRIP_METADATA=false", () => {
  test("stores the upload as it came", async () => {
    const h = await createHarness({ db: "pglite", env: { STRIP_METADATA: "false" } });
    try {
      const original = await fixture("private.jpg");
      const body = await (await h.upload(original, "keep.jpg")).json();
      expect(body).toMatchObject({ metadata_removed: false, file_size: original.length, width: 400, height: 300 });
      expect(new Uint8Array(await (await h.request(`/api/v1/images/${body.id}/file`)).arrayBuffer())).toEqual(original);
    } finally {
      await h.close();
    }
  });
});
