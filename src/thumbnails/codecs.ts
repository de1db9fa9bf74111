// Decoders and the JPEG encoder, inside the thumbnail Worker. Squoosh's WebAssembly codecs
// (@jsquash: MozJPEG, the Rust png crate, libwebp) do the work; their .wasm files are embedded with
// `with { type: "file" }` (so `bun build --compile` carries them, as src/db/pglite-assets.ts does for
// PGlite) and compiled by hand, because their own loaders look beside a script URL that does not
// exist in the binary. What they cannot do has a small decoder of its own: CMYK/YCCK JPEG (jpeg-js),
// GIF (omggif, first frame), animated WebP (its first frame, lifted out of the container here).
// These paths are tied to the pinned @jsquash versions in package.json.
import mozjpegDecWasm from "@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm" with { type: "file" };
import mozjpegEncWasm from "@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm" with { type: "file" };
import pngWasm from "@jsquash/png/codec/pkg/squoosh_png_bg.wasm" with { type: "file" };
import webpDecWasm from "@jsquash/webp/codec/dec/webp_dec.wasm" with { type: "file" };
import decodeJpegWasm, { init as initJpegDecoder } from "@jsquash/jpeg/decode.js";
import encodeJpegWasm, { init as initJpegEncoder } from "@jsquash/jpeg/encode.js";
import { decode as decodePngWasm, init as initPngDecoder } from "@jsquash/png/decode.js";
import decodeWebpWasm, { init as initWebpDecoder } from "@jsquash/webp/decode.js";
import { imageSize } from "image-size";
import jpegJs from "jpeg-js";
import { GifReader } from "omggif";
import type { Rgba } from "./pixels.ts";

export type SourceFormat = "jpeg" | "png" | "gif" | "webp";

/** The input cannot become a thumbnail, whatever is retried: the job fails with this reason. */
export class UndecodableImage extends Error {
  override name = "UndecodableImage";
}

let ready: Promise<void> | undefined;

/** Compiles the embedded modules once per Worker. */
export function initCodecs(): Promise<void> {
  ready ??= (async () => {
    const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer());
    const [jpegDec, jpegEnc, png, webpDec] = await Promise.all([compile(mozjpegDecWasm), compile(mozjpegEncWasm), compile(pngWasm), compile(webpDecWasm)]);
    await Promise.all([initJpegDecoder(jpegDec), initJpegEncoder(jpegEnc), initPngDecoder(png), initWebpDecoder(webpDec)]);
  })();
  return ready;
}

const ab = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * Decodes the first (or only) frame at its stored orientation. Refuses, before decoding, anything
 * whose header declares more than `maxPixels` pixels.
 */
export async function decode(format: SourceFormat, bytes: Uint8Array, maxPixels: number): Promise<Rgba> {
  let declared: { width?: number; height?: number };
  try {
    declared = imageSize(bytes);
  } catch (err) {
    throw new UndecodableImage(`image header cannot be read (${(err as Error).message})`);
  }
  const { width = 0, height = 0 } = declared;
  if (!(width > 0 && height > 0)) throw new UndecodableImage("image declares no size");
  checkPixels(width, height, maxPixels);
  await initCodecs();
  try {
    switch (format) {
      case "jpeg":
        if (jpegComponents(bytes) === 4) {
          // CMYK/YCCK: MozJPEG as built by jsquash only outputs RGB(A) from YCbCr or RGB.
          return jpegJs.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: Math.ceil((maxPixels * 8) / 2 ** 20) + 64 });
        }
        return await decodeJpegWasm(ab(bytes));
      case "png":
        return await decodePngWasm(ab(bytes));
      case "gif":
        return decodeGif(bytes, maxPixels);
      case "webp":
        return await decodeWebp(bytes, maxPixels);
    }
  } catch (err) {
    if (err instanceof UndecodableImage) throw err;
    throw new UndecodableImage(`cannot decode the ${format.toUpperCase()} data (${describe(err)})`);
  }
}

/** MozJPEG at quality 85 (the seed system's), progressive, 4:2:0. */
export async function encodeJpeg(image: Rgba): Promise<Uint8Array> {
  await initCodecs();
  const data = image.data instanceof Uint8ClampedArray ? image.data : new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return new Uint8Array(await encodeJpegWasm({ width: image.width, height: image.height, data, colorSpace: "srgb" } as unknown as Parameters<typeof encodeJpegWasm>[0], { quality: 85 }));
}

function checkPixels(width: number, height: number, maxPixels: number) {
  if (width * height > maxPixels) throw new UndecodableImage(`image declares ${width}x${height} pixels, more than the limit of ${maxPixels}`);
}

function describe(err: unknown): string {
  // Emscripten codecs sometimes throw plain objects or numbers.
  const text = err instanceof Error ? err.message : typeof err === "string" ? err : "decoder error";
  return text.slice(0, 200);
}

/** Number of colour components in the first frame header (3 for YCbCr, 4 for CMYK/YCCK). */
function jpegComponents(b: Uint8Array): number {
  let o = 2;
  while (o + 9 < b.length) {
    if (b[o] !== 0xff) return 0;
    const m = b[o + 1]!;
    if (m === 0xff || m === 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
      o += m === 0xff ? 1 : 2;
      continue;
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return b[o + 9]!;
    if (m === 0xda) return 0;
    o += 2 + ((b[o + 2]! << 8) | b[o + 3]!);
  }
  return 0;
}

function decodeGif(bytes: Uint8Array, maxPixels: number): Rgba {
  const gif = new GifReader(bytes);
  const frame = gif.frameInfo(0);
  // A frame larger than the screen would make omggif allocate for its declared size.
  checkPixels(frame.width, frame.height, maxPixels);
  if (frame.x + frame.width > gif.width || frame.y + frame.height > gif.height) throw new UndecodableImage("GIF frame lies outside the image");
  const data = new Uint8Array(gif.width * gif.height * 4); // transparent where the frame does not paint
  gif.decodeAndBlitFrameRGBA(0, data);
  return { width: gif.width, height: gif.height, data };
}

const u24le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);

/**
 * libwebp's still-image decoder refuses animations; the first frame is a still image inside an
 * ANMF chunk, so it is lifted into a WebP of its own, decoded, and placed on the transparent canvas.
 */
async function decodeWebp(bytes: Uint8Array, maxPixels: number): Promise<Rgba> {
  const chunks = riffChunks(bytes);
  const vp8x = chunks.find((c) => c.type === "VP8X");
  const frame = chunks.find((c) => c.type === "ANMF");
  if (!vp8x || !(vp8x.data[0]! & 0x02) || !frame) return decodeWebpWasm(ab(bytes));

  const canvasWidth = u24le(vp8x.data, 4) + 1;
  const canvasHeight = u24le(vp8x.data, 7) + 1;
  checkPixels(canvasWidth, canvasHeight, maxPixels);
  const f = frame.data;
  const x = u24le(f, 0) * 2;
  const y = u24le(f, 3) * 2;
  const width = u24le(f, 6) + 1;
  const height = u24le(f, 9) + 1;
  if (x + width > canvasWidth || y + height > canvasHeight) throw new UndecodableImage("WebP frame lies outside the canvas");
  const inner = riffChunks(f, 16);
  const alpha = inner.some((c) => c.type === "ALPH");
  const parts: Uint8Array[] = [];
  if (alpha) {
    const header = new Uint8Array(10);
    header[0] = 0x10; // alpha
    header.set([(width - 1) & 0xff, ((width - 1) >> 8) & 0xff, (width - 1) >> 16, (height - 1) & 0xff, ((height - 1) >> 8) & 0xff, (height - 1) >> 16], 4);
    parts.push(riffChunk("VP8X", header));
  }
  for (const c of inner) if (c.type === "ALPH" || c.type === "VP8 " || c.type === "VP8L") parts.push(riffChunk(c.type, c.data));
  const body = parts.reduce((n, p) => n + p.length, 0);
  const still = new Uint8Array(12 + body);
  still.set(new TextEncoder().encode("RIFF"), 0);
  new DataView(still.buffer).setUint32(4, 4 + body, true);
  still.set(new TextEncoder().encode("WEBP"), 8);
  let o = 12;
  for (const p of parts) {
    still.set(p, o);
    o += p.length;
  }
  const decoded = await decodeWebpWasm(ab(still));
  const canvas = new Uint8Array(canvasWidth * canvasHeight * 4);
  for (let row = 0; row < height; row++) {
    canvas.set(decoded.data.subarray(row * width * 4, (row + 1) * width * 4), ((y + row) * canvasWidth + x) * 4);
  }
  return { width: canvasWidth, height: canvasHeight, data: canvas };
}

function riffChunks(b: Uint8Array, from = 12): Array<{ type: string; data: Uint8Array }> {
  const out: Array<{ type: string; data: Uint8Array }> = [];
  let o = from;
  while (o + 8 <= b.length) {
    const len = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
    if (o + 8 + len > b.length) throw new UndecodableImage("truncated WebP chunk");
    out.push({ type: String.fromCharCode(...b.subarray(o, o + 4)), data: b.subarray(o + 8, o + 8 + len) });
    o += 8 + len + (len & 1);
  }
  return out;
}

function riffChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + (data.length & 1));
  out.set(new TextEncoder().encode(type));
  new DataView(out.buffer).setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}
