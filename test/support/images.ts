// Real image bytes for tests: committed fixtures (scripts/make-fixtures.sh) and a PNG builder
// for sizes and headers no encoder would produce on request.
import { deflateSync } from "node:zlib";
import { pngChunk } from "../../src/images/metadata.ts";
import { join } from "node:path";

const FIXTURES = join(import.meta.dir, "..", "fixtures");

export async function fixture(name: string): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await Bun.file(join(FIXTURES, name)).arrayBuffer());
}

export const FIXTURES_BY_TYPE = [
  { name: "tiny.png", type: "image/png", width: 7, height: 5 },
  { name: "tiny.jpg", type: "image/jpeg", width: 7, height: 5 },
  { name: "tiny-progressive.jpg", type: "image/jpeg", width: 7, height: 5 },
  { name: "photo.jpg", type: "image/jpeg", width: 640, height: 480 },
  { name: "tiny.gif", type: "image/gif", width: 7, height: 5 },
  { name: "tiny-animated.gif", type: "image/gif", width: 7, height: 5 },
  { name: "tiny.webp", type: "image/webp", width: 7, height: 5 },
  { name: "tiny-lossless.webp", type: "image/webp", width: 7, height: 5 },
] as const;


const concat = (parts: Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/**
 * A valid PNG (RGB, 8-bit). `declare` overrides the IHDR size (pixels stay tiny); `padTo` pads with
 * a private chunk to an exact byte size; `corruptPixels` keeps every chunk well-formed (CRCs right)
 * but makes the compressed pixel data undecodable: it passes upload checks and poisons its thumbnail job.
 */
export function makePng(opts: { width?: number; height?: number; declare?: [number, number]; padTo?: number; corruptPixels?: boolean } = {}): Uint8Array<ArrayBuffer> {
  const width = opts.width ?? 2;
  const height = opts.height ?? 2;
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, opts.declare?.[0] ?? width);
  v.setUint32(4, opts.declare?.[1] ?? height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = new Uint8Array(height * (1 + 3 * width)); // filter byte 0 + black pixels
  const idat = opts.corruptPixels ? new Uint8Array([0x78, 0x9c, 0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13, 0x37, 0x42]) : deflateSync(rows);
  const head = concat([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", idat)]);
  const tail = pngChunk("IEND", new Uint8Array(0));
  if (opts.padTo === undefined) return concat([head, tail]);
  const padding = opts.padTo - head.length - tail.length - 12;
  if (padding < 0) throw new Error("padTo too small");
  return concat([head, pngChunk("prVt", new Uint8Array(padding)), tail]);
}

export { concat };
