import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../errors.ts";

/** The largest JSON or form body a non-upload route reads. */
export const MAX_SMALL_BODY_BYTES = 16 * 1024;

/**
 * For routes whose body is a small JSON or form document: the validators would otherwise buffer a
 * body of any size before looking at it. Larger bodies are refused (413) as soon as they pass the
 * limit (or at once, from Content-Length).
 */
export const smallBody = bodyLimit({
  maxSize: MAX_SMALL_BODY_BYTES,
  onError: () => {
    throw new ApiError("PAYLOAD_TOO_LARGE", `The request body exceeds ${MAX_SMALL_BODY_BYTES} bytes`, { max_size_bytes: MAX_SMALL_BODY_BYTES });
  },
});
