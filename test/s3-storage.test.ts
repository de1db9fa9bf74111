import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config.ts";
import { buildDeps } from "../src/deps.ts";
import { StartupError } from "../src/startup-error.ts";
import { createLeases } from "../src/db/leases.ts";
import { createMemoryLogger } from "../src/logger.ts";
import { createReconciler } from "../src/storage/reconciler.ts";
import { createHarness, database, type DbKind, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { spareTcpPort } from "./support/redis-server.ts";
import { startTestS3, type TestS3 } from "./support/s3-server.ts";
import { rawExchange, serveHarness } from "./support/server.ts";
import { HAVE_POSTGRES } from "./support/services.ts";
import { verifySigV4 } from "./support/sigv4.ts";
import { freshDatabase, type FreshDatabase } from "./support/fresh-db.ts";
import { eventually } from "./support/wait.ts";

// STORAGE_BACKEND=s3 through HTTP, on s3rver behind a proxy that verifies every SigV4 signature.
const DB: DbKind = HAVE_POSTGRES ? "postgres" : "pglite";

describe("S3 storage through HTTP", () => {
  let s3: TestS3;
  let h: Harness;
  let fresh: FreshDatabase;
  beforeAll(async () => {
    s3 = await startTestS3();
    // The reconciler walks every row of the database against the bucket: only this file's rows.
    fresh = await freshDatabase(DB, "s3");
    h = await createHarness({ db: fresh.db, env: s3.env({ S3_PREFIX: "images/" }) });
  }, 30_000);
  afterAll(async () => {
    await h.close();
    await fresh.close();
    await s3.stop();
  });

  async function upload(bytes = makePng({ padTo: 4096 })) {
    const res = await h.upload(bytes, "s3.png");
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; delete_token: string };
    return { ...body, bytes };
  }

  test("upload stores one object under the prefix; health reports s3 ok", async () => {
    const before = s3.requests.length;
    const { id } = await upload();
    expect(await h.deps.storage.list()).toContain(`${id}.png`);
    expect(s3.requests.slice(before).filter((r) => !r.startsWith("GET"))).toEqual([`PUT /${s3.bucket}/images/${id}.png`]);
    const health = await h.request("/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "healthy", storage: "s3", storage_status: "ok" });
  });

  test("download: one GET (no HEAD, no existence check), the bytes streamed with length and ETag; Range; 304 reads nothing", async () => {
    const { id, bytes } = await upload();
    const key = `/${s3.bucket}/images/${id}.png`;
    let before = s3.requests.length;
    const res = await h.request(`/api/v1/images/${id}/file`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    expect(res.headers.get("content-type")).toBe("image/png");
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    expect(s3.requests.slice(before)).toEqual([`GET ${key} range=bytes=0-${bytes.length - 1}`]);

    before = s3.requests.length;
    const part = await h.request(`/api/v1/images/${id}/file`, { headers: { Range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-199/${bytes.length}`);
    expect(part.headers.get("content-length")).toBe("100");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(100, 200));
    const suffix = await h.request(`/api/v1/images/${id}/file`, { headers: { Range: "bytes=-10" } });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(bytes.slice(-10));
    expect(s3.requests.slice(before)).toEqual([`GET ${key} range=bytes=100-199`, `GET ${key} range=bytes=${bytes.length - 10}-${bytes.length - 1}`]);

    before = s3.requests.length;
    const cached = await h.request(`/api/v1/images/${id}/file`, { headers: { "If-None-Match": etag } });
    expect(cached.status).toBe(304);
    expect(s3.requests.length).toBe(before);
    expect((await h.request(`/api/v1/images/${id}/file`, { headers: { Range: `bytes=${bytes.length}-` } })).status).toBe(416);
  });

  test("delete removes the object; metadata and file are 404", async () => {
    const { id, delete_token } = await upload();
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(200);
    expect((await h.request(`/api/v1/images/${id}?delete_token=${delete_token}`, { method: "DELETE" })).status).toBe(204);
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(false);
    expect((await h.request(`/api/v1/images/${id}`)).status).toBe(404);
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(404);
  });

  test("an object removed behind chitram's back is a 404, not a broken 200", async () => {
    const { id } = await upload();
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(200); // facts now in the in-process map
    await h.deps.storage.delete(`${id}.png`);
    const res = await h.request(`/api/v1/images/${id}/file`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe("IMAGE_NOT_FOUND");
  });

  test("an upload interrupted by the client, or whose PUT fails, leaves no object and no row", async () => {
    const before = await h.deps.storage.list();
    const rows = await h.deps.repo.count();
    const srv = serveHarness(h);
    try {
      const boundary = "----chitram";
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.png"\r\nContent-Type: image/png\r\n\r\n`;
      const request = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 100000\r\n\r\n`;
      // Half of the body, then the client goes away.
      await rawExchange(srv.port, [request, body, makePng({ padTo: 20_000 })], { timeoutMs: 300 });
    } finally {
      srv.stop();
    }
    s3.failPuts = true;
    try {
      const res = await h.upload(makePng(), "fails.png");
      expect(res.status).toBe(503);
      expect((await res.json()).error.details.reason).toBe("storage_unavailable");
    } finally {
      s3.failPuts = false;
    }
    expect(await h.deps.storage.list()).toEqual(before);
    expect(await h.deps.repo.count()).toBe(rows);
  });

  test("the reconciler lists the bucket by prefix: an object without a row goes once older than the grace", async () => {
    const { id } = await upload();
    const orphan = `${crypto.randomUUID()}.png`;
    await h.deps.storage.put(orphan, makePng());
    const reconcile = (graceMs: number) =>
      createReconciler(h.deps.storage, h.deps.repo, createLeases(h.deps.database), h.deps.logger, { graceMs, intervalMs: 60_000, holder: crypto.randomUUID() }).runOnce();
    expect((await reconcile(60_000))?.orphansRemoved).toBe(0); // young: may be an upload in flight
    await Bun.sleep(1_100); // S3's LastModified has one-second resolution
    const report = await reconcile(0);
    expect(report?.orphansRemoved).toBe(1);
    expect(await h.deps.storage.exists(orphan)).toBe(false);
    expect(await h.deps.storage.exists(`${id}.png`)).toBe(true);
  });

  test("bucket unreachable: downloads and uploads 503, /health 503 unhealthy; back when it is", async () => {
    const { id } = await upload();
    h.deps.images.drop(id);
    s3.cut();
    try {
      const file = await h.request(`/api/v1/images/${id}/file`);
      expect(file.status).toBe(503);
      expect((await file.json()).error).toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { reason: "storage_unavailable" } });
      expect((await h.upload(makePng(), "down.png")).status).toBe(503);
      const health = await h.request("/health");
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "unhealthy", storage: "s3", storage_status: "unavailable", database: "connected" });
      expect((await h.request(`/api/v1/images/${id}`)).status).toBe(200); // metadata does not need the bucket
    } finally {
      s3.restore();
    }
    let last = "";
    await eventually(async () => {
      const r = await h.request("/health");
      last = await r.text();
      return r.status === 200;
    }, 3_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${last}`);
    });
    expect((await h.request(`/api/v1/images/${id}/file`)).status).toBe(200);
  });

  test("every request chitram sent carried a valid signature", () => {
    expect(s3.requests.length).toBeGreaterThan(10);
    expect(s3.refused).toEqual([]);
  });
});

describe("S3_PRESIGNED_DOWNLOADS", () => {
  let s3: TestS3;
  let h: Harness;
  beforeAll(async () => {
    s3 = await startTestS3();
    h = await createHarness({ db: DB, env: s3.env({ S3_PRESIGNED_DOWNLOADS: "true", S3_PRESIGN_EXPIRES_SECONDS: "60" }) });
  });
  afterAll(async () => {
    await h.close();
    await s3.stop();
  });

  test("the file route redirects to a short-lived signed URL that the store serves, with type and name", async () => {
    const bytes = makePng({ padTo: 2048 });
    const { id } = (await (await h.upload(bytes, "ünï.png")).json()) as { id: string };
    const before = s3.requests.length;
    const res = await h.request(`/api/v1/images/${id}/file`);
    expect(res.status).toBe(302);
    expect(s3.requests.length).toBe(before); // signing is local: no request to the store
    const location = res.headers.get("location")!;
    const url = new URL(location);
    expect(`${url.protocol}//${url.host}`).toBe(s3.endpoint);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("60");
    // Our own verifier agrees with Bun's signer, and refuses the URL signed with another secret.
    expect(verifySigV4({ method: "GET", url: location, headers: new Headers({ host: url.host }) }, s3.credentials)).toBeUndefined();
    expect(verifySigV4({ method: "GET", url: location, headers: new Headers({ host: url.host }) }, { ...s3.credentials, secretAccessKey: "x" })).toBe("signature does not match");

    const served = await fetch(location);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(served.headers.get("content-disposition")).toContain("filename*=UTF-8''%C3%BCn%C3%AF.png");
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
    const tampered = await fetch(location.replace(`${id}.png`, `${crypto.randomUUID()}.png`));
    expect(tampered.status).toBe(403);
  });
});

describe("S3 at start-up", () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(() => s3.stop());

  test("a wrong secret or a missing bucket stops start-up with one line", async () => {
    for (const [env, why] of [
      [{ S3_SECRET_ACCESS_KEY: "wrong" }, /SignatureDoesNotMatch/],
      [{ S3_BUCKET: "no-such-bucket" }, /NoSuchBucket/],
    ] as const) {
      const config = loadConfig({ DATA_DIR: "/tmp/chitram-unused", ...s3.env(env), CACHE_ENABLED: "false" });
      const err = await buildDeps(config, { database: await database(DB), logger: createMemoryLogger() }).then(
        (d) => d.close().then(() => undefined),
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(StartupError);
      expect(err!.message).toMatch(why);
      expect(err!.message).not.toContain("\n");
    }
  });

  test("the real program exits 1 with that line when the bucket cannot be reached", async () => {
    const closed = await spareTcpPort();
    const p = Bun.spawn([process.execPath, "--no-env-file", "run", "src/main.ts"], {
      env: { PATH: "/usr/bin:/bin", DATA_DIR: "/tmp/chitram-unused", CACHE_ENABLED: "false", ...s3.env({ S3_ENDPOINT: `http://127.0.0.1:${closed}` }) },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(1);
    const lines = (await new Response(p.stderr).text()).trim().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^chitram: S3 bucket "chitram-test" at http:\/\/127\.0\.0\.1:\d+ is not reachable \(.+\); check S3_ENDPOINT/)]);
  });
});
