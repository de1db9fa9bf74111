// Image files for the bench: real JPEGs of chosen sizes from ImageMagick (random noise compresses
// badly, so the byte size follows the pixel count predictably), a PNG padded to an exact size, and
// multipart bodies for wrk. Generated once into bench/.work/fixtures and reused across runs.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { concat, makePng } from "../test/support/images.ts";

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
  /** A 4000x3000 (12-megapixel) photo-like JPEG under the 5 MiB limit, for thumbnail throughput. */
  photo12mp: string;
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
    upload5m: { bytes: makePng({ padTo: maxUploadBytes }), size: maxUploadBytes },
    photo12mp: await photo12mp(join(dir, "photo-12mp.jpg")),
  };
}

async function photo12mp(path: string): Promise<string> {
  if (!existsSync(path)) await convert(["-seed", "3", "-size", "4000x3000", "plasma:fractal", "-quality", "90", path]);
  return path;
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

/** A multipart/form-data body with one `file` field, as browsers and curl -F send it. */
export function multipartBody(bytes: Uint8Array, filename: string, contentType: string): { body: Uint8Array<ArrayBuffer>; boundary: string } {
  const boundary = `----chitrambench${crypto.randomUUID().replaceAll("-", "")}`;
  const enc = new TextEncoder();
  const head = enc.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`,
  );
  return { body: concat([head, bytes, enc.encode(`\r\n--${boundary}--\r\n`)]), boundary };
}
