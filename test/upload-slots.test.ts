import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { serveHarness } from "./support/server.ts";
import { eventually } from "./support/wait.ts";

/** An upload whose body stalls after its first bytes until `release()` is called. */
function stalledUpload(url: string) {
  const png = makePng();
  const enc = new TextEncoder();
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(enc.encode('--s\r\nContent-Disposition: form-data; name="file"; filename="s.png"\r\n\r\n'));
      await released;
      c.enqueue(png);
      c.enqueue(enc.encode("\r\n--s--\r\n"));
      c.close();
    },
  });
  const response = fetch(`${url}/api/v1/images/upload`, { method: "POST", body, headers: { "Content-Type": "multipart/form-data; boundary=s" } });
  return { response, release };
}

describe("upload slots (ADR-0010)", () => {
  let h: Harness;
  let srv: ReturnType<typeof serveHarness>;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite", env: { UPLOAD_CONCURRENCY_LIMIT: "2", UPLOAD_CONCURRENCY_TIMEOUT: "0.3" } });
    srv = serveHarness(h);
  });
  afterAll(async () => {
    srv.stop();
    await h.close();
  });

  const health = async () => (await (await fetch(`${srv.url}/health`)).json()).upload_concurrency;

  test("a third upload waits, then gets 503 with the reason; slots are released afterwards", async () => {
    const a = stalledUpload(srv.url);
    const b = stalledUpload(srv.url);
    await Bun.sleep(100);
    expect(await health()).toBe("2/2 active");

    const form = new FormData();
    form.append("file", new Blob([makePng()]), "c.png");
    const started = performance.now();
    const c = await fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form });
    expect(c.status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect((await c.json()).error).toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { reason: "upload_concurrency_limit_exceeded" } });

    a.release();
    b.release();
    expect((await a.response).status).toBe(201);
    expect((await b.response).status).toBe(201);
    expect(await health()).toBe("0/2 active");
  });

  test("a waiting upload gets the slot as soon as one frees up", async () => {
    const a = stalledUpload(srv.url);
    const b = stalledUpload(srv.url);
    await Bun.sleep(100);
    const form = new FormData();
    form.append("file", new Blob([makePng()]), "c.png");
    const waiting = fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form });
    await Bun.sleep(50);
    a.release();
    expect((await waiting).status).toBe(201);
    b.release();
    await b.response;
    expect(await health()).toBe("0/2 active");
  });

  test("failed, refused and aborted uploads release their slots", async () => {
    // Refusals of every kind, many more than there are slots.
    for (let i = 0; i < 6; i++) {
      const form = new FormData();
      form.append("file", new Blob(["not an image"]), "x.txt");
      expect((await fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form })).status).toBe(400);
      expect((await fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } })).status).toBe(400);
    }
    // A client that disconnects mid-body.
    const ctrl = new AbortController();
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode('--s\r\nContent-Disposition: form-data; name="file"; filename="s.png"\r\n\r\n'));
      },
    });
    const aborted = fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body, signal: ctrl.signal, headers: { "Content-Type": "multipart/form-data; boundary=s" } }).catch(() => "aborted");
    await Bun.sleep(100);
    ctrl.abort();
    expect(await aborted).toBe("aborted");
    await eventually(async () => (await health()) === "0/2 active", 5_000);
    expect(await health()).toBe("0/2 active");
    expect(await h.deps.storage.list()).toHaveLength(5); // only the five successful uploads of the tests above
  });
});
