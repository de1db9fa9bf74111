// Serves a harness' app on a real loopback socket, for tests that need the wire:
// client addresses, bodies cut off mid-stream, concurrent connections. The options are main.ts'
// own (serveOptions), on a spare loopback port.
import { serveOptions } from "../../src/server.ts";
import type { Harness } from "./harness.ts";

/** `port`: a port chosen beforehand (e.g. one that PUBLIC_URL names); a spare one otherwise. */
export function serveHarness(h: Harness, port = 0) {
  const server = Bun.serve(serveOptions({ ...h.deps.config, HOST: "127.0.0.1", PORT: port }, h.app, h.deps.logger));
  return { url: `http://127.0.0.1:${server.port}`, port: server.port!, stop: () => server.stop(true) };
}

/** Writes raw bytes to the server and resolves with everything it answers before closing (or `timeoutMs`). */
export function rawExchange(port: number, chunks: Array<Uint8Array | string>, opts: { timeoutMs?: number; gapMs?: number } = {}) {
  return new Promise<{ response: string; sentBytes: number; closedEarly: boolean }>((resolve, reject) => {
    let response = "";
    let sentBytes = 0;
    let done = false;
    const finish = (closedEarly: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ response, sentBytes, closedEarly });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5_000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        async open(s) {
          for (const c of chunks) {
            if (done || response) break; // stop sending once the server has answered
            sentBytes += s.write(c);
            if (opts.gapMs) await Bun.sleep(opts.gapMs);
          }
        },
        data(s, d) {
          response += d.toString("latin1");
          if (complete(response)) {
            s.end();
            finish(false);
          }
        },
        close() {
          finish(true);
        },
        error(_s, e) {
          if (!done) reject(e);
        },
      },
    }).catch(reject);
  });
}

function complete(response: string): boolean {
  const end = response.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const len = /\r\ncontent-length: *(\d+)/i.exec(response.slice(0, end));
  return len ? response.length - end - 4 >= Number(len[1]) : false;
}
