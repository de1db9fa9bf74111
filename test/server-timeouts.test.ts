// Slow or stalled clients cannot hold connections forever: the real server (src/main.ts) closes
// connections that stop sending, after REQUEST_TIMEOUT_SECONDS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { spareTcpPort } from "./support/redis-server.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

describe.if(HAVE_POSTGRES)("server timeouts", () => {
  let proc: Subprocess;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    port = await spareTcpPort();
    dir = mkdtempSync(join(tmpdir(), "chitram-timeouts-"));
    proc = Bun.spawn(["bun", "run", join(import.meta.dir, "..", "src", "main.ts")], {
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dir, DATABASE_URL: TEST_DATABASE_URL, CACHE_ENABLED: "false", RATE_LIMIT_ENABLED: "false", REQUEST_TIMEOUT_SECONDS: "2" },
      stdout: "ignore",
      stderr: "ignore",
    });
    await eventually(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok), 20_000, 20, "chitram answering");
  }, 30_000);
  afterAll(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  async function closedAfterMs(send: (s: { write(d: string): number }) => Promise<void>): Promise<number> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("connection still open after 30 s")), 30_000);
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open: (s) => void send(s),
          data() {},
          close() {
            clearTimeout(timer);
            resolve(performance.now() - started);
          },
        },
      }).catch(reject);
    });
  }

  // Bun (uWebSockets) bounds an unfinished request head by itself (~10 s, not configurable);
  // REQUEST_TIMEOUT_SECONDS bounds an idle connection once the head has arrived.
  test("a client that stalls in its headers (slowloris) is disconnected", async () => {
    const ms = await closedAfterMs(async (s) => {
      s.write("POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\n");
    });
    expect(ms).toBeGreaterThan(1_000);
    expect(ms).toBeLessThan(20_000);
  }, 30_000);

  test("a client that stalls in its body is disconnected", async () => {
    const ms = await closedAfterMs(async (s) => {
      s.write("POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n");
    });
    expect(ms).toBeLessThan(6_000);
    // And the server is still answering others.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  }, 30_000);
});
