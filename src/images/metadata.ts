// Image metadata at the container level: the EXIF orientation (what display needs) and the removal
// of everything else that says where, when and with what a picture was taken (EXIF, XMP, IPTC,
// comments, text chunks). Nothing is decoded or re-encoded: segments and chunks are copied or left
// out, so the pixels, the ICC profile and the compressed data stay byte for byte what was uploaded.
// Inputs have passed `structuralProblem` (complete, well-formed containers) before they get here.
import type { ImageFormat } from "./structure.ts";

export type StripResult = {
  bytes: Uint8Array;
  /** What was left out, e.g. ["exif", "xmp", "comment"]; empty when the bytes are unchanged. */
  removed: string[];
};

/** The EXIF orientation (1–8) a viewer applies when it shows the image; 1 when there is none. */
export function readOrientation(format: ImageFormat, b: Uint8Array): number {
  const tiff = format === "jpeg" ? jpegExif(b) : format === "png" ? pngExif(b) : format === "webp" ? webpExif(b) : undefined;
  return tiff ? tiffOrientation(tiff) : 1;
}

/** Orientations 5–8 turn the picture a quarter: its displayed width is its stored height. */
export const swapsAxes = (orientation: number) => orientation >= 5 && orientation <= 8;

/**
 * Removes metadata, keeping the orientation (rewritten as a one-tag EXIF block when it is not 1)
 * and the colour profile. JPEG: APP1 (EXIF, XMP), APP13 (IPTC), COM, other application segments
 * except JFIF, ICC_PROFILE and Adobe, and anything after the first image (MPF previews carry their
 * own EXIF). PNG: eXIf, tEXt, zTXt, iTXt, tIME. WebP: EXIF and XMP chunks (and their VP8X flags).
 * GIF: comment and XMP extensions.
 */
export function stripMetadata(format: ImageFormat, b: Uint8Array): StripResult {
  switch (format) {
    case "jpeg":
      return stripJpeg(b);
    case "png":
      return stripPng(b);
    case "webp":
      return stripWebp(b);
    case "gif":
      return stripGif(b);
  }
}

// ---------------------------------------------------------------------------------------------
// EXIF (TIFF) orientation

const ORIENTATION_TAG = 0x0112;

function tiffOrientation(t: Uint8Array): number {
  if (t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49;
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const u16 = (o: number) => v.getUint16(o, le);
  const ifd = v.getUint32(4, le);
  if (ifd + 2 > t.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > t.length) return 1;
    if (u16(e) !== ORIENTATION_TAG) continue;
    const value = u16(e + 2) === 3 ? u16(e + 8) : 1; // SHORT, stored in the entry itself
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

/** A big-endian TIFF block with IFD0 holding only the orientation. */
export function minimalExif(orientation: number): Uint8Array {
  const t = new Uint8Array(26);
  const v = new DataView(t.buffer);
  t.set([0x4d, 0x4d, 0x00, 0x2a]);
  v.setUint32(4, 8); // IFD0 offset
  v.setUint16(8, 1); // one entry
  v.setUint16(10, ORIENTATION_TAG);
  v.setUint16(12, 3); // SHORT
  v.setUint32(14, 1); // count
  v.setUint16(18, orientation);
  v.setUint32(22, 0); // no next IFD
  return t;
}

const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
const startsWith = (b: Uint8Array, o: number, s: string) => o + s.length <= b.length && ascii(b, o, s.length) === s;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const unchanged = (b: Uint8Array): StripResult => ({ bytes: b, removed: [] });
const addTo = (removed: Set<string>, what: string) => removed.add(what);

// ---------------------------------------------------------------------------------------------
// JPEG

const EXIF_HEADER = "Exif\0\0";

type JpegSegment = { marker: number; start: number; end: number };

/** Segments before the first scan, the offset of that SOS segment, and where the first image ends (after EOI). */
function jpegLayout(b: Uint8Array): { segments: JpegSegment[]; firstImageEnd: number } {
  const segments: JpegSegment[] = [];
  let o = 2;
  let inScan = false;
  while (o + 1 < b.length) {
    if (inScan) {
      // Entropy-coded data until a marker that is neither a stuffed byte nor a restart.
      if (b[o] !== 0xff) {
        o++;
        continue;
      }
      const m = b[o + 1]!;
      if (m === 0x00 || (m >= 0xd0 && m <= 0xd7)) {
        o += 2;
        continue;
      }
      if (m === 0xff) {
        o++;
        continue;
      }
      inScan = false;
    }
    if (b[o] !== 0xff) break;
    const marker = b[o + 1]!;
    if (marker === 0xff) {
      o++;
      continue;
    }
    if (marker === 0xd9) return { segments, firstImageEnd: o + 2 };
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2;
      continue;
    }
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    segments.push({ marker, start: o, end: o + 2 + len });
    o += 2 + len;
    if (marker === 0xda) inScan = true;
  }
  return { segments, firstImageEnd: b.length };
}

function jpegExif(b: Uint8Array): Uint8Array | undefined {
  for (const s of jpegLayout(b).segments) {
    if (s.marker === 0xda) break;
    if (s.marker === 0xe1 && startsWith(b, s.start + 4, EXIF_HEADER)) return b.subarray(s.start + 4 + EXIF_HEADER.length, s.end);
  }
  return undefined;
}

/** What a segment is, for keeping or reporting; undefined for segments that are image data. */
function jpegMetadataKind(b: Uint8Array, s: JpegSegment): string | undefined {
  const at = s.start + 4;
  if (s.marker === 0xfe) return "comment";
  if (s.marker === 0xe1) {
    if (startsWith(b, at, EXIF_HEADER)) return "exif";
    return "xmp"; // http://ns.adobe.com/xap/1.0/ and its extension; anything else in APP1 too
  }
  if (s.marker === 0xed) return "iptc";
  if (s.marker >= 0xe0 && s.marker <= 0xef) {
    if (s.marker === 0xe0 && startsWith(b, at, "JFIF\0")) return undefined;
    if (s.marker === 0xe2 && startsWith(b, at, "ICC_PROFILE\0")) return undefined;
    if (s.marker === 0xee && startsWith(b, at, "Adobe")) return undefined; // colour transform (CMYK/YCCK)
    return s.marker === 0xe2 && startsWith(b, at, "MPF\0") ? "mpf" : "application data";
  }
  return undefined;
}

function stripJpeg(b: Uint8Array): StripResult {
  const { segments, firstImageEnd } = jpegLayout(b);
  const removed = new Set<string>();
  const parts: Uint8Array[] = [b.subarray(0, 2)];
  let cursor = 2;
  let exifWritten = false;
  for (const s of segments) {
    const kind = jpegMetadataKind(b, s);
    if (!kind) continue;
    parts.push(b.subarray(cursor, s.start));
    cursor = s.end;
    if (kind === "exif" && !exifWritten) {
      exifWritten = true;
      const orientation = tiffOrientation(b.subarray(s.start + 4 + EXIF_HEADER.length, s.end));
      if (orientation !== 1) {
        const tiff = minimalExif(orientation);
        const header = new Uint8Array([0xff, 0xe1, 0, 0, ...new TextEncoder().encode(EXIF_HEADER)]);
        new DataView(header.buffer).setUint16(2, 2 + EXIF_HEADER.length + tiff.length);
        parts.push(header, tiff);
      }
    }
    addTo(removed, kind);
  }
  parts.push(b.subarray(cursor, firstImageEnd));
  if (firstImageEnd < b.length) addTo(removed, "mpf");
  if (removed.size === 0) return unchanged(b);
  return { bytes: concat(parts), removed: [...removed] };
}

// ---------------------------------------------------------------------------------------------
// PNG

const PNG_METADATA: Record<string, string> = { eXIf: "exif", tEXt: "text", zTXt: "text", iTXt: "text", tIME: "time" };

function* pngChunks(b: Uint8Array): Generator<{ type: string; start: number; end: number; data: Uint8Array }> {
  let o = 8;
  while (o + 12 <= b.length) {
    const len = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    const type = ascii(b, o + 4, 4);
    const end = o + 12 + len;
    yield { type, start: o, end, data: b.subarray(o + 8, o + 8 + len) };
    if (type === "IEND") return;
    o = end;
  }
}

function pngExif(b: Uint8Array): Uint8Array | undefined {
  for (const c of pngChunks(b)) if (c.type === "eXIf") return c.data;
  return undefined;
}

/** One PNG chunk: length, type, data, CRC (also used by the tests' PNG builder). */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, Bun.hash.crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

function stripPng(b: Uint8Array): StripResult {
  const removed = new Set<string>();
  const parts: Uint8Array[] = [b.subarray(0, 8)];
  const orientation = readOrientation("png", b);
  for (const c of pngChunks(b)) {
    const kind = PNG_METADATA[c.type];
    if (kind) addTo(removed, kind);
    else parts.push(b.subarray(c.start, c.end));
    // The orientation goes right after IHDR (eXIf must precede the image data).
    if (c.type === "IHDR" && orientation !== 1) parts.push(pngChunk("eXIf", minimalExif(orientation)));
  }
  if (removed.size === 0) return unchanged(b);
  return { bytes: concat(parts), removed: [...removed] };
}

// ---------------------------------------------------------------------------------------------
// WebP

const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

function* webpChunks(b: Uint8Array): Generator<{ type: string; start: number; end: number; data: Uint8Array }> {
  let o = 12;
  while (o + 8 <= b.length) {
    const len = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
    const end = Math.min(b.length, o + 8 + len + (len & 1));
    yield { type: ascii(b, o, 4), start: o, end, data: b.subarray(o + 8, o + 8 + len) };
    o = end;
  }
}

function webpExif(b: Uint8Array): Uint8Array | undefined {
  for (const c of webpChunks(b)) {
    if (c.type !== "EXIF") continue;
    // Some writers keep JPEG's "Exif\0\0" prefix in front of the TIFF block.
    return startsWith(c.data, 0, EXIF_HEADER) ? c.data.subarray(EXIF_HEADER.length) : c.data;
  }
  return undefined;
}

function webpChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + (data.length & 1));
  out.set(new TextEncoder().encode(type));
  new DataView(out.buffer).setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}

function stripWebp(b: Uint8Array): StripResult {
  const removed = new Set<string>();
  const orientation = readOrientation("webp", b);
  const parts: Uint8Array[] = [];
  let vp8x: Uint8Array | undefined;
  for (const c of webpChunks(b)) {
    if (c.type === "EXIF") addTo(removed, "exif");
    else if (c.type === "XMP ") addTo(removed, "xmp");
    else {
      const chunk = b.slice(c.start, c.end);
      if (c.type === "VP8X") vp8x = chunk;
      parts.push(chunk);
    }
  }
  if (removed.size === 0) return unchanged(b);
  if (vp8x) {
    vp8x[8] = vp8x[8]! & ~(VP8X_EXIF | VP8X_XMP);
    if (orientation !== 1) {
      vp8x[8] = vp8x[8]! | VP8X_EXIF;
      parts.push(webpChunk("EXIF", minimalExif(orientation))); // EXIF follows the image data
    }
  }
  const body = concat(parts);
  const header = new Uint8Array(12);
  header.set(b.subarray(0, 12));
  new DataView(header.buffer).setUint32(4, 4 + body.length, true);
  return { bytes: concat([header, body]), removed: [...removed] };
}

// ---------------------------------------------------------------------------------------------
// GIF

const GIF_KEPT_APPLICATIONS = ["NETSCAPE2.0", "ANIMEXTS1.0"]; // looping

function stripGif(b: Uint8Array): StripResult {
  const removed = new Set<string>();
  const parts: Uint8Array[] = [];
  const flags = b[10]!;
  let o = 13 + (flags & 0x80 ? 3 * (1 << ((flags & 0x07) + 1)) : 0);
  let cursor = 0;
  const skipSubBlocks = (from: number) => {
    let p = from;
    while (p < b.length) {
      const n = b[p]!;
      p += 1 + n;
      if (n === 0) break;
    }
    return p;
  };
  while (o < b.length) {
    const block = b[o]!;
    if (block === 0x3b) break;
    if (block === 0x21) {
      const label = b[o + 1]!;
      const end = skipSubBlocks(o + 2);
      let kind: string | undefined;
      if (label === 0xfe) kind = "comment";
      else if (label === 0xff) {
        const app = b[o + 2] === 11 ? ascii(b, o + 3, 11) : "";
        if (!GIF_KEPT_APPLICATIONS.includes(app)) kind = app === "XMP DataXMP" ? "xmp" : "application data";
      }
      if (kind) {
        parts.push(b.subarray(cursor, o));
        cursor = end;
        addTo(removed, kind);
      }
      o = end;
    } else if (block === 0x2c) {
      const f = b[o + 9]!;
      o = skipSubBlocks(o + 10 + (f & 0x80 ? 3 * (1 << ((f & 0x07) + 1)) : 0) + 1);
    } else break;
  }
  if (removed.size === 0) return unchanged(b);
  parts.push(b.subarray(cursor));
  return { bytes: concat(parts), removed: [...removed] };
}
