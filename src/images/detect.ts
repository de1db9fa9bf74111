import { fileTypeFromBuffer } from "file-type";
import { imageSize } from "image-size";
import type { AllowedType } from "../config.ts";
import { ApiError } from "../errors.ts";
import { readOrientation, swapsAxes } from "./metadata.ts";
import { structuralProblem, type ImageFormat } from "./structure.ts";

const FORMATS: Record<AllowedType, { format: ImageFormat; ext: string }> = {
  "image/jpeg": { format: "jpeg", ext: "jpg" },
  "image/png": { format: "png", ext: "png" },
  "image/gif": { format: "gif", ext: "gif" },
  "image/webp": { format: "webp", ext: "webp" },
};

/** File extension of each type the server stores (storage keys are `<id>.<ext>`). */
export const EXTENSIONS = Object.fromEntries(Object.entries(FORMATS).map(([type, f]) => [type, f.ext])) as Record<AllowedType, string>;

/** `width`/`height` are the displayed size: the EXIF orientation is applied. */
export type InspectedImage = { contentType: AllowedType; format: ImageFormat; ext: string; width: number | null; height: number | null; orientation: number };

/**
 * Decides what an upload is from its bytes alone (the client's declared type and extension are
 * ignored), reads width and height from the header as displayed (the EXIF orientation applied),
 * and refuses anything that is not a complete, allowed image or that declares more than
 * `maxPixels` pixels.
 */
export async function inspectImage(
  bytes: Uint8Array,
  opts: { allowed: readonly AllowedType[]; maxPixels: number },
): Promise<InspectedImage> {
  const detected = await fileTypeFromBuffer(bytes).catch(() => undefined);
  const mime = detected?.mime ?? "application/octet-stream";
  const refuse = (reason: string, extra: Record<string, unknown> = {}) =>
    new ApiError("INVALID_FILE_FORMAT", `File is not an allowed image: ${reason}`, {
      detected_type: mime,
      allowed_types: opts.allowed,
      reason,
      ...extra,
    });

  if (!(opts.allowed as readonly string[]).includes(mime)) throw refuse(`detected type ${mime} is not allowed`);
  const contentType = mime as AllowedType;
  const { format, ext } = FORMATS[contentType];

  let width: number | null = null;
  let height: number | null = null;
  try {
    const size = imageSize(bytes);
    width = Number.isSafeInteger(size.width) ? size.width : null;
    height = Number.isSafeInteger(size.height) ? size.height : null;
  } catch {
    throw refuse("image header cannot be read");
  }
  if (width !== null && height !== null) {
    if (width * height > opts.maxPixels) {
      throw refuse(`image declares ${width}x${height} pixels, more than the limit of ${opts.maxPixels}`, {
        width,
        height,
        max_pixels: opts.maxPixels,
      });
    }
    if (width === 0 || height === 0) throw refuse("image declares zero width or height");
  }
  const problem = structuralProblem(format, bytes);
  if (problem) throw refuse(problem);
  const orientation = readOrientation(format, bytes);
  if (swapsAxes(orientation)) [width, height] = [height, width];
  return { contentType, format, ext, width, height, orientation };
}
