// Walks an image's container structure (chunks, segments, blocks) without decoding pixels.
// image-size reads only the header, so on its own it accepts a PNG header followed by an HTML
// page. These checks refuse truncated files and payloads appended after the image's end marker.
// Returns undefined when the structure is sound, or a short reason.

export type ImageFormat = "jpeg" | "png" | "gif" | "webp";

export function structuralProblem(format: ImageFormat, b: Uint8Array): string | undefined {
  switch (format) {
    case "png":
      return checkPng(b);
    case "jpeg":
      return checkJpeg(b);
    case "gif":
      return checkGif(b);
    case "webp":
      return checkWebp(b);
  }
}

const u32be = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const u32le = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function checkPng(b: Uint8Array): string | undefined {
  let o = 8; // signature
  let first = true;
  while (o + 12 <= b.length) {
    const len = u32be(b, o);
    const type = String.fromCharCode(b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) return "invalid PNG chunk type";
    if (first && type !== "IHDR") return "PNG does not start with IHDR";
    first = false;
    const end = o + 8 + len + 4;
    if (len > 0x7fffffff || end > b.length) return "truncated PNG chunk";
    const crc = u32be(b, o + 8 + len);
    if (Bun.hash.crc32(b.subarray(o + 4, o + 8 + len)) >>> 0 !== crc) return `bad CRC in PNG ${type} chunk`;
    o = end;
    if (type === "IEND") return o === b.length ? undefined : "data after PNG end";
  }
  return "truncated PNG (no IEND)";
}

function checkJpeg(b: Uint8Array): string | undefined {
  let o = 2; // SOI
  let sawFrame = false;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) return "invalid JPEG marker";
    const marker = b[o + 1]!;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2;
      continue;
    }
    if (marker === 0xd9) return "JPEG ends before its image data";
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    if (len < 2 || o + 2 + len > b.length) return "truncated JPEG segment";
    if ((marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)) sawFrame = true;
    o += 2 + len;
    if (marker === 0xda) {
      if (!sawFrame) return "JPEG scan without a frame header";
      return jpegAfterScan(b, o);
    }
  }
  return "truncated JPEG (no image data)";
}

// Entropy-coded data runs until a marker that is not a stuffed byte (FF00) or a restart (FFD0-D7).
// Progressive JPEGs have several scans separated by DHT/SOS segments; we accept those and require EOI.
function jpegAfterScan(b: Uint8Array, o: number): string | undefined {
  while (o + 1 < b.length) {
    if (b[o] !== 0xff) {
      o++;
      continue;
    }
    const m = b[o + 1]!;
    if (m === 0x00 || m === 0xff || (m >= 0xd0 && m <= 0xd7)) {
      o += m === 0xff ? 1 : 2;
      continue;
    }
    if (m === 0xd9) {
      const end = o + 2;
      if (end === b.length) return undefined;
      // Multi-Picture (MPF) files from phones append further complete JPEGs after the first EOI.
      if (b[end] === 0xff && b[end + 1] === 0xd8) return checkJpeg(b.subarray(end));
      return "data after JPEG end";
    }
    if (o + 4 > b.length) break;
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    if (len < 2 || o + 2 + len > b.length) return "truncated JPEG segment";
    o += 2 + len;
  }
  return "truncated JPEG (no end marker)";
}

function checkGif(b: Uint8Array): string | undefined {
  if (b.length < 13) return "truncated GIF header";
  const flags = b[10]!;
  let o = 13 + (flags & 0x80 ? 3 * (1 << ((flags & 0x07) + 1)) : 0);
  let frames = 0;
  const skipSubBlocks = (): boolean => {
    while (o < b.length) {
      const n = b[o]!;
      o += 1 + n;
      if (n === 0) return o <= b.length;
    }
    return false;
  };
  while (o < b.length) {
    const block = b[o]!;
    if (block === 0x3b) {
      if (frames === 0) return "GIF without an image";
      return o + 1 === b.length ? undefined : "data after GIF end";
    }
    if (block === 0x21) {
      o += 2; // introducer + label
      if (!skipSubBlocks()) return "truncated GIF extension";
    } else if (block === 0x2c) {
      if (o + 10 > b.length) return "truncated GIF image descriptor";
      const f = b[o + 9]!;
      o += 10 + (f & 0x80 ? 3 * (1 << ((f & 0x07) + 1)) : 0);
      o += 1; // LZW minimum code size
      if (!skipSubBlocks()) return "truncated GIF image data";
      frames++;
    } else {
      return "invalid GIF block";
    }
  }
  return "truncated GIF (no trailer)";
}

function checkWebp(b: Uint8Array): string | undefined {
  if (b.length < 20) return "truncated WebP header";
  const riffSize = u32le(b, 4);
  if (riffSize + 8 !== b.length) return riffSize + 8 > b.length ? "truncated WebP" : "data after WebP end";
  let o = 12;
  let sawImage = false;
  while (o + 8 <= b.length) {
    const type = String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
    const len = u32le(b, o + 4);
    const end = o + 8 + len + (len & 1);
    if (end > b.length + (len & 1)) return "truncated WebP chunk";
    if (type === "VP8 " || type === "VP8L" || type === "ANMF") sawImage = true;
    o = end;
  }
  return sawImage ? undefined : "WebP without image data";
}
