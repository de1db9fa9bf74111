// Hand-built multipart bodies, for the malformed shapes FormData refuses to produce.
import { concat } from "./images.ts";

export type Part = { name: string; filename?: string; contentType?: string; headers?: string[]; body: Uint8Array | string };

const enc = new TextEncoder();

export function multipart(parts: Part[], boundary = "----chitramBoundary7MA4YWxk"): { body: Uint8Array<ArrayBuffer>; contentType: string } {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += "\r\n";
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    for (const h of p.headers ?? []) head += `${h}\r\n`;
    chunks.push(enc.encode(`${head}\r\n`), typeof p.body === "string" ? enc.encode(p.body) : p.body, enc.encode("\r\n"));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  return { body: concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
