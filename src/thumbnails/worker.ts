// The thumbnail Worker's entry point: one job at a time, posted by pool.ts. It is a separate
// entry point of `bun build --compile` (scripts/build.ts), so the binary carries it.
import { setPriority } from "node:os";
import { UndecodableImage, initCodecs, type SourceFormat } from "./codecs.ts";
import { makeThumbnail } from "./make.ts";

export type WorkerRequest = { jobId: number; format: SourceFormat; bytes: Uint8Array; maxPixels: number };
export type WorkerReply =
  | { jobId: number; ok: true; jpeg: Uint8Array; width: number; height: number; sourcePixels: number }
  | { jobId: number; ok: false; permanent: boolean; reason: string };

declare const self: Worker;

// Requests first: on Linux a nice value is per thread, so this lowers this Worker alone. 10 (not
// 19) so that a fully busy machine still gives it ~10% of a core and jobs finish within their time
// limit instead of failing for want of CPU.
const WORKER_NICE = 10;
try {
  setPriority(WORKER_NICE);
} catch {
  // not permitted here (or not Linux): run at normal priority
}

// Start compiling the codecs while the first job is on its way.
void initCodecs().catch(() => {});

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const { jobId, format, bytes, maxPixels } = event.data;
  let reply: WorkerReply;
  try {
    const made = await makeThumbnail(format, bytes, { maxPixels });
    reply = { jobId, ok: true, ...made };
  } catch (err) {
    // Anything else (out of memory, a codec bug) may not happen again: it is retried.
    const permanent = err instanceof UndecodableImage;
    reply = { jobId, ok: false, permanent, reason: err instanceof Error ? err.message : String(err) };
  }
  if (reply.ok) self.postMessage(reply, [reply.jpeg.buffer as ArrayBuffer]);
  else self.postMessage(reply);
};
