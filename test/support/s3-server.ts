// An S3 server for tests (and the bench): s3rver, in process, on a spare loopback port, behind a
// small proxy of the test's own that verifies every request's SigV4 signature (s3rver accepts
// any), counts requests by method, and can be cut (connection refused) and restored.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import S3rver from "s3rver";
import { spareTcpPort } from "./redis-server.ts";
import { verifySigV4, type Credentials } from "./sigv4.ts";

export type TestS3 = {
  /** The proxy's URL: what chitram is given as S3_ENDPOINT. */
  endpoint: string;
  bucket: string;
  credentials: Credentials;
  /** Environment for a chitram that stores in this bucket. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Requests that reached the proxy, e.g. "GET /bucket/key range=bytes=0-9". */
  requests: string[];
  /** Requests the proxy refused, with why. */
  refused: string[];
  /** While true, every PUT is answered 500 InternalError without reaching the store. */
  failPuts: boolean;
  /** Connection refused until restore(). */
  cut(): void;
  restore(): void;
  stop(): Promise<void>;
};

// s3rver knows only this key pair (and checks the key id, not the signature: the proxy does).
export const TEST_S3_CREDENTIALS: Credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export async function startTestS3(opts: { bucket?: string; port?: number } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? "chitram-test";
  const dir = mkdtempSync(join(tmpdir(), "chitram-s3-"));
  const s3rver = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port: backendPort } = (await s3rver.run()) as unknown as { port: number };
  const port = opts.port ?? (await spareTcpPort());
  const requests: string[] = [];
  const refused: string[] = [];

  let t: TestS3;
  const serve = (): Server<undefined> =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 30,
      async fetch(req) {
        const url = new URL(req.url);
        requests.push(`${req.method} ${url.pathname}${req.headers.has("range") ? ` range=${req.headers.get("range")}` : ""}`);
        const problem = verifySigV4(req, TEST_S3_CREDENTIALS);
        if (problem) {
          refused.push(`${req.method} ${url.pathname}: ${problem}`);
          return new Response(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`, {
            status: 403,
            headers: { "content-type": "application/xml" },
          });
        }
        if (t.failPuts && req.method === "PUT") {
          return new Response(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`, {
            status: 500,
            headers: { "content-type": "application/xml" },
          });
        }
        const headers = new Headers(req.headers);
        headers.delete("accept-encoding"); // pass bytes through as they are
        const body = req.method === "PUT" || req.method === "POST" ? await req.arrayBuffer() : undefined;
        // s3rver cannot make continuation tokens under Bun (it uses DES, which Bun's crypto lacks),
        // so a truncated listing fails: lists are forwarded without max-keys (s3rver's page is
        // 1,000 keys, more than any test stores).
        if (req.method === "GET" && url.searchParams.get("list-type") === "2") url.searchParams.delete("max-keys");
        const res = await fetch(`http://127.0.0.1:${backendPort}${url.pathname}${url.search}`, { method: req.method, headers, body, redirect: "manual", decompress: false });
        return new Response(res.body, { status: res.status, headers: res.headers });
      },
    });
  let server: Server<undefined> | undefined = serve();

  const endpoint = `http://127.0.0.1:${port}`;
  t = {
    failPuts: false,
    endpoint,
    bucket,
    credentials: TEST_S3_CREDENTIALS,
    env: (extra = {}) => ({
      STORAGE_BACKEND: "s3",
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
      ...extra,
    }),
    requests,
    refused,
    cut() {
      server?.stop(true);
      server = undefined;
    },
    restore() {
      server ??= serve();
    },
    async stop() {
      server?.stop(true);
      server = undefined;
      await s3rver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
