import { ApiError } from "../errors.ts";

export type BodyLimits = {
  maxBytes: number;
  /** The whole body must arrive within this, from when reading starts. */
  deadlineMs: number;
  tooLarge: () => ApiError;
};

/**
 * Reads a request body into memory, refusing it as soon as it passes `maxBytes` (413, without
 * reading the rest) or when it has not fully arrived by the deadline (408). The deadline is what
 * bounds a client that trickles its body just fast enough to dodge the idle timeout: Hono's
 * bodyLimit counts bytes but has no clock. On refusal the reader is cancelled, so Bun stops
 * reading from the socket.
 */
export async function readBody(req: Request, limits: BodyLimits): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  if (declared > limits.maxBytes) throw limits.tooLarge();
  if (!req.body) return new Uint8Array(0);

  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ApiError("REQUEST_TIMEOUT", `The request body did not arrive within ${Math.round(limits.deadlineMs / 1000)} s`, { timeout_seconds: limits.deadlineMs / 1000 }, { Connection: "close" })),
      limits.deadlineMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timedOut]);
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBytes) throw limits.tooLarge();
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return body;
}
