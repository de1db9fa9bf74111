// Image files for the bench: real JPEGs of chosen sizes from ImageMagick (random noise compresses
// badly, so the byte size follows the pixel count predictably), a PNG padded to an exact size, and
// multipart bodies for wrk. Generated once into bench/.work/fixtures and reused across runs.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

// /usr/local/bin/convert on these machines is a stand-in; only the real ImageMagick will do.
const CONVERT = "/usr/bin/convert";

export type Fixtures = {
  /** Small JPEG uploaded a few thousand times to seed metadata rows. */
  seed: string;
  /** Download targets (~10 kB and ~1 MB), also served by the ceiling server under these names. */
  download10k: string;
  download1m: string;
  /** ~100 kB JPEG for the upload throughput scenario. */
  upload100k: string;
  /** A valid PNG of exactly `bytes`, the largest upload chitram accepts by default. */
  upload5m: { bytes: Uint8Array<ArrayBuffer>; size: number };
};

export async function prepareFixtures(dir: string, maxUploadBytes: number): Promise<Fixtures> {
  if (!existsSync(CONVERT)) throw new Error(`${CONVERT} (ImageMagick) is needed to make the bench's JPEGs`);
  mkdirSync(dir, { recursive: true });
  const seed = join(dir, "seed.jpg");
  if (!existsSync(seed)) await convert(["-seed", "1", "-size", "64x48", "plasma:fractal", "-quality", "85", seed]);
  return {
    seed,
    download10k: await noiseJpeg(join(dir, "dl-10k.jpg"), 10_000),
    download1m: await noiseJpeg(join(dir, "dl-1m.jpg"), 1_000_000),
    upload100k: await noiseJpeg(join(dir, "up-100k.jpg"), 100_000),
    upload5m: { bytes: paddedPng(maxUploadBytes), size: maxUploadBytes },
  };
}

/** A noise JPEG within ±10% of `target` bytes: resizes the image until the encoder agrees. */
async function noiseJpeg(path: string, target: number): Promise<string> {
  const near = (size: number) => Math.abs(size - target) <= target * 0.1;
  if (existsSync(path) && near(statSync(path).size)) return path;
  let side = Math.round(Math.sqrt(target / 0.6)); // ~0.6 bytes per pixel at quality 75
  for (let attempt = 0; attempt < 6; attempt++) {
    await convert(["-seed", "7", "-size", `${side}x${side}`, "xc:", "+noise", "Random", "-quality", "75", path]);
    const size = statSync(path).size;
    if (near(size)) return path;
    side = Math.max(8, Math.round(side * Math.sqrt(target / size)));
  }
  throw new Error(`could not make a JPEG of about ${target} bytes at ${path}`);
}

async function convert(args: string[]): Promise<void> {
  const p = Bun.spawn([CONVERT, ...args], { stdout: "ignore", stderr: "pipe" });
  const guard = setTimeout(() => p.kill("SIGKILL"), 60_000);
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  clearTimeout(guard);
  if (code !== 0) throw new Error(`convert ${args.join(" ")} failed: ${err}`);
}

/** A 2x2 PNG padded with a private ancillary chunk ("prVt", valid CRC) to exactly `size` bytes. */
export function paddedPng(size: number): Uint8Array<ArrayBuffer> {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, 2);
  v.setUint32(4, 2);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const head = concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(new Uint8Array(2 * (1 + 3 * 2)))),
  ]);
  const tail = pngChunk("IEND", new Uint8Array(0));
  const padding = size - head.length - tail.length - 12;
  if (padding < 0) throw new Error(`a PNG cannot be as small as ${size} bytes`);
  return concat([head, pngChunk("prVt", new Uint8Array(padding)), tail]);
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, Bun.hash.crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A multipart/form-data body with one `file` field, as browsers and curl -F send it. */
export function multipartBody(bytes: Uint8Array, filename: string, contentType: string): { body: Uint8Array<ArrayBuffer>; boundary: string } {
  const boundary = `----chitrambench${crypto.randomUUID().replaceAll("-", "")}`;
  const enc = new TextEncoder();
  const head = enc.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`,
  );
  return { body: concat([head, bytes, enc.encode(`\r\n--${boundary}--\r\n`)]), boundary };
}
