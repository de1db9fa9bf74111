// The thumbnail Worker's entry point: one job at a time, posted by pool.ts. It is a separate
// entry point of `bun build --compile` (scripts/build.ts), so the binary carries it.
import { UndecodableImage, initCodecs, type SourceFormat } from "./codecs.ts";
import { makeThumbnail } from "./make.ts";

export type WorkerRequest = { jobId: number; format: SourceFormat; bytes: Uint8Array; maxPixels: number };
export type WorkerReply =
  | { jobId: number; ok: true; jpeg: Uint8Array; width: number; height: number; sourcePixels: number }
  | { jobId: number; ok: false; permanent: boolean; reason: string };

declare const self: Worker;

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
