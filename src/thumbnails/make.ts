import { readOrientation } from "../images/metadata.ts";
import { decode, encodeJpeg, type SourceFormat } from "./codecs.ts";
import { applyOrientation, fitWithin, resizeOntoWhite } from "./pixels.ts";

/** Thumbnails fit within this many pixels on each side (the seed system's 300). */
export const THUMBNAIL_BOX = 300;

export type MadeThumbnail = { jpeg: Uint8Array; width: number; height: number; sourcePixels: number };

/**
 * The thumbnail of an image's stored bytes: the first frame, fitted within `box`×`box` (aspect
 * kept, never upscaled), transparency composited onto white, turned upright by its EXIF
 * orientation, as a JPEG. CPU-heavy: called inside the thumbnail Worker, never on the request thread.
 */
export async function makeThumbnail(format: SourceFormat, bytes: Uint8Array, opts: { maxPixels: number; box?: number }): Promise<MadeThumbnail> {
  const box = opts.box ?? THUMBNAIL_BOX;
  const decoded = await decode(format, bytes, opts.maxPixels);
  // The box is square, so fitting before turning gives the same size as turning first, on fewer pixels.
  const size = fitWithin(decoded.width, decoded.height, box);
  const small = resizeOntoWhite(decoded, size.width, size.height);
  const upright = applyOrientation(small, readOrientation(format, bytes));
  const jpeg = await encodeJpeg(upright);
  return { jpeg, width: upright.width, height: upright.height, sourcePixels: decoded.width * decoded.height };
}
