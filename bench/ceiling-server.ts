// The reference ("ceiling") server: a bare Bun.serve doing the least work a response of the same
// shape needs, so chitram's numbers can be read as a fraction of what Bun itself does on this
// machine. Run as a child process: `bun run bench/ceiling-server.ts <port> <files dir>`.
import { join } from "node:path";

const [portArg, filesDir] = process.argv.slice(2);
if (!portArg || !filesDir) {
  console.error("usage: ceiling-server.ts <port> <files dir>");
  process.exit(2);
}

const CREATED_AT = new Date().toISOString();

/** A body shaped and sized like chitram's metadata response (~220-250 bytes), built per request. */
function metadataBody(id: string): string {
  return JSON.stringify({
    id,
    filename: "photo.jpg",
    content_type: "image/jpeg",
    file_size: 1834,
    created_at: CREATED_AT,
    width: 64,
    height: 48,
    thumbnail_ready: false,
    thumbnail_url: null,
  });
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(portArg),
  routes: {
    "/meta/:id": (req) => new Response(metadataBody(req.params.id), { headers: { "Content-Type": "application/json" } }),
    // File names come from the bench itself; no path traversal to guard against on loopback.
    "/file/:name": (req) => new Response(Bun.file(join(filesDir, req.params.name))),
    "/health": () => new Response("ok"),
  },
  fetch: () => new Response("not found", { status: 404 }),
});

console.log(`ceiling listening on ${server.url.href}`);
process.on("SIGTERM", () => {
  void server.stop(true);
  process.exit(0);
});
