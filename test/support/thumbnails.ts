// Reading thumbnails back in tests: decoded with jpeg-js (not the MozJPEG that made them), and
// compared colour by colour with what the source shows.
import { expect } from "bun:test";
import jpegJs from "jpeg-js";
import { sql } from "drizzle-orm";
import type { Harness } from "./harness.ts";

export type Decoded = { width: number; height: number; data: Uint8Array };
export type Rgb = [number, number, number];

export const RED: Rgb = [255, 0, 0];
export const LIME: Rgb = [0, 255, 0];
export const BLUE: Rgb = [0, 0, 255];
export const YELLOW: Rgb = [255, 255, 0];
export const WHITE: Rgb = [255, 255, 255];
/** Half-transparent red on white. */
export const PINK: Rgb = [255, 128, 128];

export function decodeJpeg(bytes: Uint8Array): Decoded & { components: number } {
  const d = jpegJs.decode(bytes, { useTArray: true, formatAsRGBA: true });
  // The frame header's component count: 3 = colour JPEG (RGB, no alpha), as the seed system made.
  return { width: d.width, height: d.height, data: d.data, components: jpegComponents(bytes) };
}

function jpegComponents(b: Uint8Array): number {
  for (let o = 2; o + 9 < b.length; ) {
    const m = b[o + 1]!;
    if (m >= 0xc0 && m <= 0xc2) return b[o + 9]!;
    o += 2 + ((b[o + 2]! << 8) | b[o + 3]!);
  }
  return 0;
}

export function pixel(img: Decoded, x: number, y: number): Rgb {
  const i = (Math.round(y) * img.width + Math.round(x)) * 4;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
}

/** Within `tolerance` per channel (JPEG is lossy; CMYK goes through a colour conversion). */
export function expectColor(actual: Rgb, expected: Rgb, tolerance = 40, where = "") {
  const off = actual.map((v, i) => Math.abs(v - expected[i]!));
  if (Math.max(...off) > tolerance) throw new Error(`${where} colour ${actual} is not ${expected} (±${tolerance})`);
  expect(Math.max(...off)).toBeLessThanOrEqual(tolerance);
}

/** The centres of the four quadrants of a w×h image: top left, top right, bottom left, bottom right. */
export const quadrantCentres = (w: number, h: number): Array<[number, number]> => [
  [w / 4, h / 4],
  [(3 * w) / 4, h / 4],
  [w / 4, (3 * h) / 4],
  [(3 * w) / 4, (3 * h) / 4],
];

/** Runs the harness' thumbnail runner until `done` holds (bounded). */
export async function makeThumbnails(h: Harness, done: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`thumbnails not made within ${timeoutMs} ms`);
    if ((await h.deps.thumbnails.runOnce()) === 0) await Bun.sleep(20);
  }
}

export const thumbnailReady = (h: Harness, id: string) => async () => (await (await h.request(`/api/v1/images/${id}`)).json()).thumbnail_status !== "pending";

/**
 * Jobs left by other test files (whose images live in their own, deleted, folders) would be taken
 * by this file's runner; a test that makes thumbnails starts from an empty queue.
 */
export async function clearThumbnailJobs(h: Harness): Promise<void> {
  await h.deps.database.db.execute(sql`delete from thumbnail_jobs`);
}
