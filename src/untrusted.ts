// What the strict decoders of cached values (and other untrusted strings) share. Cached values are
// untrusted input: each decoder accepts only what this server itself would have written.

/** A UUID as this server writes it: lower case, canonical form. */
export const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A SHA-256 digest as this server writes it: 64 lower-case hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The JSON object `raw` holds, or undefined for anything else (invalid JSON, an array, a scalar, null). */
export function parseJsonObject(raw: string): Record<string, unknown> | undefined {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return typeof o === "object" && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
}
