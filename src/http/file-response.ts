import { ApiError } from "../errors.ts";

export type FileMeta = { contentType: string; size: number; etag: string; disposition: string };

const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * Serves immutable bytes: strong ETag, 304 for a matching If-None-Match, 206 for one
 * `bytes=` range (If-Range honoured), 416 when unsatisfiable. `blob` is sliced lazily, so Bun
 * streams the file from disk instead of buffering it.
 */
export function fileResponse(req: Request, blob: Blob, meta: FileMeta): Response {
  const headers = new Headers({
    "Content-Type": meta.contentType,
    "Content-Disposition": meta.disposition,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    ETag: meta.etag,
    "Cache-Control": IMMUTABLE,
    "Accept-Ranges": "bytes",
  });

  const inm = req.headers.get("if-none-match");
  if (inm && etagMatches(inm, meta.etag)) return new Response(null, { status: 304, headers });

  const range = req.headers.get("range");
  const ifRange = req.headers.get("if-range");
  if (range && (!ifRange || ifRange === meta.etag)) {
    const r = parseRange(range, meta.size);
    if (r === "unsatisfiable") {
      throw new ApiError("RANGE_NOT_SATISFIABLE", "Requested range is not satisfiable", { size: meta.size }, {
        "Content-Range": `bytes */${meta.size}`,
      });
    }
    if (r) {
      headers.set("Content-Range", `bytes ${r.start}-${r.end}/${meta.size}`);
      return new Response(blob.slice(r.start, r.end + 1), { status: 206, headers });
    }
  }
  // Bun sets Content-Length from the blob; setting it by hand cost ~10% of a small download.
  return new Response(blob, { status: 200, headers });
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  // Weak comparison, as RFC 9110 prescribes for If-None-Match.
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/** One `bytes=` range; multiple ranges or an unknown unit fall back to the whole file (allowed by RFC 9110). */
export function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === "" && b === "") return undefined;
  let start: number;
  let end: number;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== "" && Number(b) < start) return undefined; // invalid range: ignore it
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return { start, end };
}
