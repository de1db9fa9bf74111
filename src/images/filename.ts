const MAX_FILENAME_CHARS = 255;

/**
 * Display name from the client's filename: path (everything up to the last / or \) and control
 * characters removed, trimmed, at most 255 characters, `unnamed` when nothing is left.
 */
export function sanitizeFilename(raw: string | undefined | null): string {
  let name = (raw ?? "").normalize("NFC");
  name = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  // C0/C1 controls, DEL, and bidi overrides that would disguise the extension.
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "").trim();
  if (name === "." || name === "..") name = "";
  const chars = Array.from(name); // count code points, never split a surrogate pair
  if (chars.length > MAX_FILENAME_CHARS) name = chars.slice(0, MAX_FILENAME_CHARS).join("");
  return name || "unnamed";
}

/** `inline; filename="…"` with an ASCII fallback, plus RFC 5987 `filename*` for non-ASCII names. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const header = `inline; filename="${ascii}"`;
  if (ascii === filename) return header;
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${header}; filename*=UTF-8''${encoded}`;
}
