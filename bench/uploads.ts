// Uploads sent from the bench process itself: seeding, and the burst of maximum-size uploads
// whose cost is chitram's memory rather than its throughput.
import { multipartBody } from "./fixtures.ts";
import { inParallel, resetPeakRss, sampleRss, statusKb } from "./measure.ts";
import { logWarningsSince, logSize, type Server } from "./services.ts";

const UPLOAD_PATH = "/api/v1/images/upload";

export async function uploadImage(server: Server, bytes: Uint8Array, filename: string): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "image/jpeg" }), filename);
  const res = await fetch(`${server.url}${UPLOAD_PATH}`, { method: "POST", body: form, signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 201 || !body.id) throw new Error(`upload to ${server.name} answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** Uploads `count` copies of a small JPEG, 8 at a time (below the 10 upload slots), and returns their ids. */
export function seedImages(server: Server, bytes: Uint8Array, count: number): Promise<string[]> {
  return inParallel(Array.from({ length: count }), 8, 300_000, () => uploadImage(server, bytes, "photo.jpg"));
}

export type BurstResult = {
  instance: string;
  count: number;
  fileBytes: number;
  statuses: Record<string, number>;
  seconds: number;
  rssBeforeMb: number;
  /** VmHWM after the burst: since the reset just before it, or since start for a fresh process. */
  peakMb: number;
  sampledPeakMb: number;
  /** Warnings and errors chitram logged during the burst. */
  warnings: string[];
};

/**
 * `count` uploads of `png` sent at once with fetch. With `resetPeak`, VmHWM is reset first so the
 * peak belongs to the burst alone; on a freshly started process it is the lifetime peak.
 */
export async function uploadBurst(server: Server, png: Uint8Array, count: number, opts: { instance: string; resetPeak: boolean }): Promise<BurstResult> {
  const { body, boundary } = multipartBody(png, "big.png", "image/png");
  const rssBeforeKb = statusKb(server.pid, "VmRSS");
  if (opts.resetPeak && !resetPeakRss(server.pid)) throw new Error("cannot reset VmHWM (/proc/<pid>/clear_refs)");
  const logOffset = logSize(server);
  const sampler = sampleRss(server.pid, 50);
  const t0 = performance.now();
  const statuses = await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const res = await fetch(`${server.url}${UPLOAD_PATH}`, {
          method: "POST",
          headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
          body,
          signal: AbortSignal.timeout(120_000),
        });
        await res.arrayBuffer();
        return String(res.status);
      } catch (e) {
        return `error ${(e as Error).name}`;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const sampledKb = sampler.stop();
  const tally: Record<string, number> = {};
  for (const s of statuses) tally[s] = (tally[s] ?? 0) + 1;
  return {
    instance: opts.instance,
    count,
    fileBytes: png.byteLength,
    statuses: tally,
    seconds,
    rssBeforeMb: rssBeforeKb / 1024,
    peakMb: statusKb(server.pid, "VmHWM") / 1024,
    sampledPeakMb: sampledKb / 1024,
    warnings: await logWarningsSince(server, logOffset),
  };
}
