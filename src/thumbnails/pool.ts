import { createSemaphore } from "../semaphore.ts";
import type { SourceFormat } from "./codecs.ts";
import type { MadeThumbnail } from "./make.ts";
import type { WorkerReply, WorkerRequest } from "./worker.ts";

/** Why a thumbnail could not be made; `permanent` when retrying the same bytes cannot help. */
export class ThumbnailFailure extends Error {
  override name = "ThumbnailFailure";
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/**
 * Bun Workers that decode and resize, so the thread that answers requests never does. At most
 * `size` jobs run at once (one per Worker), each decoding at most `maxPixels` pixels; a job that
 * passes `timeoutMs` has its Worker terminated (WebAssembly cannot be interrupted otherwise). A
 * Worker that decoded a large image is replaced afterwards: WebAssembly memory only ever grows, and
 * one 50-megapixel image would otherwise keep ~200 MB for the life of the process.
 */
export type ThumbnailPool = {
  readonly size: number;
  active(): number;
  /** Takes ownership of `bytes` (its buffer is transferred to the Worker and detached here). */
  run(format: SourceFormat, bytes: Uint8Array, timeoutMs: number): Promise<MadeThumbnail>;
  close(): Promise<void>;
};

export type PoolOptions = {
  size: number;
  maxPixels: number;
  /** worker.ts's URL; see `THUMBNAIL_WORKER_URL` in deps.ts for why the caller gives it. */
  workerUrl: URL;
  recyclePixels?: number;
};

const RECYCLE_PIXELS = 16_000_000;
const RECYCLE_JOBS = 500;

type Slot = { worker: Worker; jobs: number; abort?: () => void };

export function createThumbnailPool(opts: PoolOptions): ThumbnailPool {
  const slots = createSemaphore(Math.max(1, opts.size));
  const idle: Slot[] = [];
  const busy = new Set<Slot>();
  const recyclePixels = opts.recyclePixels ?? RECYCLE_PIXELS;
  let nextJobId = 1;
  let closed = false;

  const spawn = (): Slot => ({ worker: new Worker(opts.workerUrl), jobs: 0 });

  function runOn(slot: Slot, request: WorkerRequest, timeoutMs: number): Promise<MadeThumbnail> {
    return new Promise((resolve, reject) => {
      const { worker } = slot;
      const done = (keep: boolean) => {
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        worker.removeEventListener("error", onError);
        busy.delete(slot);
        slot.abort = undefined;
        if (keep && !closed) idle.push(slot);
        else worker.terminate();
      };
      const onMessage = (event: MessageEvent<WorkerReply>) => {
        const reply = event.data;
        if (reply.jobId !== request.jobId) return;
        slot.jobs++;
        if (reply.ok) {
          done(reply.sourcePixels < recyclePixels && slot.jobs < RECYCLE_JOBS);
          resolve({ jpeg: reply.jpeg, width: reply.width, height: reply.height, sourcePixels: reply.sourcePixels });
        } else {
          done(false); // a decoder that failed may have left its memory in any state
          reject(new ThumbnailFailure(reply.reason, reply.permanent));
        }
      };
      const onError = (event: ErrorEvent) => {
        done(false);
        reject(new ThumbnailFailure(`thumbnail worker crashed: ${event.message}`, false));
      };
      const timer = setTimeout(() => {
        done(false);
        reject(new ThumbnailFailure(`took longer than the ${Math.round(timeoutMs / 1000)} s limit`, false));
      }, timeoutMs);
      slot.abort = () => {
        done(false);
        reject(new ThumbnailFailure("the thumbnail pool closed while the job ran", false));
      };
      worker.addEventListener("message", onMessage);
      worker.addEventListener("error", onError);
      busy.add(slot);
      worker.postMessage(request, [request.bytes.buffer as ArrayBuffer]);
    });
  }

  return {
    size: opts.size,
    active: slots.active,
    async run(format, bytes, timeoutMs) {
      if (closed) throw new ThumbnailFailure("the thumbnail pool is closed", false);
      const release = await slots.acquire();
      try {
        // The bytes are transferred to the Worker (no copy on this thread): the caller gives them up.
        const request: WorkerRequest = { jobId: nextJobId++, format, bytes, maxPixels: opts.maxPixels };
        return await runOn(idle.pop() ?? spawn(), request, timeoutMs);
      } finally {
        release();
      }
    },
    async close() {
      closed = true;
      for (const slot of idle.splice(0)) slot.worker.terminate();
      for (const slot of [...busy]) slot.abort?.();
    },
  };
}
