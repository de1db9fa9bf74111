// HTTP as clients expect it, over a real socket with main.ts' server options: HEAD, trailing
// slashes, request ids, CORS, PUBLIC_URL, the delete-token header and the access log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ImageMetadata, UploadedImage } from "../src/images/schemas.ts";
import { serveOptions } from "../src/server.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { fixture, makePng } from "./support/images.ts";
import { serveHarness } from "./support/server.ts";

async function served(env: Record<string, string> = {}) {
  const h = await createHarness({ db: "pglite", env });
  const srv = serveHarness(h);
  const upload = async (bytes: Uint8Array, name = "a.png", headers: Record<string, string> = {}) => {
    const form = new FormData();
    form.append("file", new Blob([bytes]), name);
    return fetch(`${srv.url}/api/v1/images/upload`, { method: "POST", body: form, headers });
  };
  return {
    h,
    srv,
    url: srv.url,
    upload,
    async close() {
      srv.stop();
      await h.close();
    },
  };
}

describe("over a real socket", () => {
  let s: Awaited<ReturnType<typeof served>>;
  let photo: Uint8Array;
  let uploaded: any;
  beforeAll(async () => {
    s = await served();
    photo = await fixture("photo.jpg");
    const res = await s.upload(photo, "photo.jpg");
    expect(res.status).toBe(201);
    uploaded = await res.json();
  }, 30_000); // the first harness in a process initialises PGlite: seconds on a busy machine
  afterAll(() => s.close());

  test("responses match the schemas they are documented with", async () => {
    expect(UploadedImage.parse(uploaded)).toEqual(uploaded);
    const meta = await (await fetch(`${s.url}/api/v1/images/${uploaded.id}`)).json();
    expect(ImageMetadata.strict().parse(meta)).toEqual(meta);
    expect(meta.url).toBe(`/api/v1/images/${uploaded.id}/file`); // relative without PUBLIC_URL
  });

  test("HEAD answers with GET's status and headers, Content-Length included, and no body", async () => {
    const id = uploaded.id;
    const cases: Array<[string, Record<string, string>]> = [
      [`/api/v1/images/${id}/file`, {}],
      [`/api/v1/images/${id}/file`, { Range: "bytes=10-109" }],
      [`/api/v1/images/${id}`, {}],
      ["/health", {}],
      ["/", {}],
      ["/openapi.json", {}],
      ["/docs", {}],
      ["/docs/swagger-ui.css", {}],
      ["/api/v1/images/00000000-0000-4000-8000-000000000000", {}],
      ["/nope", {}],
    ];
    for (const [path, headers] of cases) {
      const get = await fetch(`${s.url}${path}`, { headers });
      const getBytes = (await get.arrayBuffer()).byteLength;
      const head = await fetch(`${s.url}${path}`, { method: "HEAD", headers });
      expect(`${path} ${head.status}`).toBe(`${path} ${get.status}`);
      expect(`${path} ${head.headers.get("content-length")}`).toBe(`${path} ${get.headers.get("content-length") ?? getBytes}`);
      expect(Number(head.headers.get("content-length"))).toBe(getBytes);
      expect((await head.arrayBuffer()).byteLength).toBe(0);
      for (const name of ["content-type", "etag", "content-range", "cache-control", "content-disposition", "x-cache"]) {
        expect(`${path} ${name}: ${head.headers.get(name)}`).toBe(`${path} ${name}: ${get.headers.get(name)}`);
      }
    }
    const range = await fetch(`${s.url}/api/v1/images/${id}/file`, { method: "HEAD", headers: { Range: "bytes=10-109" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-length")).toBe("100");
    expect(range.headers.get("content-range")).toBe(`bytes 10-109/${photo.length}`);
    expect((await fetch(`${s.url}/api/v1/images/${id}/file`, { method: "HEAD" })).headers.get("content-length")).toBe(String(photo.length));
  });

  test("a trailing slash is the same resource as none", async () => {
    const { id, delete_token } = await (await s.upload(makePng(), "slash.png")).json();
    expect((await fetch(`${s.url}/health/`)).status).toBe(200);
    expect((await (await fetch(`${s.url}/api/v1/images/${id}/`)).json()).id).toBe(id);
    expect((await fetch(`${s.url}/api/v1/images/${id}/file/`)).status).toBe(200);
    expect((await fetch(`${s.url}/docs/`)).status).toBe(200);
    const form = new FormData();
    form.append("file", new Blob([makePng()]), "b.png");
    expect((await fetch(`${s.url}/api/v1/images/upload/`, { method: "POST", body: form })).status).toBe(201);
    const wrong = await fetch(`${s.url}/api/v1/images/upload/`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect((await fetch(`${s.url}/api/v1/images/${id}/`, { method: "DELETE", headers: { "X-Delete-Token": delete_token } })).status).toBe(204);
  });

  test("X-Request-Id on every response: upload, file, 206, 304, errors, 405, OPTIONS, HEAD", async () => {
    const id = uploaded.id;
    const etag = (await fetch(`${s.url}/api/v1/images/${id}/file`)).headers.get("etag")!;
    const responses = await Promise.all([
      s.upload(makePng(), "r.png"),
      fetch(`${s.url}/api/v1/images/${id}/file`),
      fetch(`${s.url}/api/v1/images/${id}/file`, { headers: { Range: "bytes=0-1" } }),
      fetch(`${s.url}/api/v1/images/${id}/file`, { headers: { "If-None-Match": etag } }),
      fetch(`${s.url}/api/v1/images/${id}/file`, { headers: { Range: `bytes=${photo.length}-` } }),
      fetch(`${s.url}/api/v1/images/${id}`),
      fetch(`${s.url}/api/v1/images/nope`),
      fetch(`${s.url}/nope`),
      fetch(`${s.url}/health`, { method: "POST" }),
      fetch(`${s.url}/health`, { method: "OPTIONS" }),
      fetch(`${s.url}/api/v1/images/${id}`, { method: "HEAD" }),
      fetch(`${s.url}/openapi.json`),
      fetch(`${s.url}/docs/init.js`),
    ]);
    expect(responses.map((r) => r.status)).toEqual([201, 200, 206, 304, 416, 200, 404, 404, 405, 204, 200, 200, 200]);
    const ids = responses.map((r) => r.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // A well-formed id from the client is kept, so a proxy's id follows the request.
    expect((await fetch(`${s.url}/health`, { headers: { "X-Request-Id": "edge-abc123" } })).headers.get("x-request-id")).toBe("edge-abc123");
    expect((await fetch(`${s.url}/health`, { headers: { "X-Request-Id": "bad id\u00e9" } })).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("OPTIONS without CORS lists the allowed methods; no CORS headers are sent", async () => {
    const res = await fetch(`${s.url}/api/v1/images/${uploaded.id}`, { method: "OPTIONS", headers: { Origin: "https://elsewhere.example", "Access-Control-Request-Method": "DELETE" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("allow")).toBe("DELETE, GET, HEAD");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const get = await fetch(`${s.url}/health`, { headers: { Origin: "https://elsewhere.example" } });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("the delete token works in X-Delete-Token (preferred), which wins over the query", async () => {
    const a = await (await s.upload(makePng(), "a.png")).json();
    const url = `${s.url}/api/v1/images/${a.id}`;
    const wrongHeader = await fetch(`${url}?delete_token=${a.delete_token}`, { method: "DELETE", headers: { "X-Delete-Token": "wrong" } });
    expect(wrongHeader.status).toBe(403);
    expect((await wrongHeader.json()).error.code).toBe("INVALID_DELETE_TOKEN");
    const tooLong = await fetch(url, { method: "DELETE", headers: { "X-Delete-Token": "A".repeat(300) } });
    expect(tooLong.status).toBe(400);
    expect((await tooLong.json()).error.details.location).toBe("header");
    expect((await fetch(url, { method: "DELETE", headers: { "x-delete-token": a.delete_token } })).status).toBe(204);
    expect((await fetch(url)).status).toBe(404);
  });

  test("one access-log line per request: method, path without query, status, bytes, ms, request id, client ip; never a token", async () => {
    const { id, delete_token } = await (await s.upload(makePng(), "log.png")).json();
    const del = await fetch(`${s.url}/api/v1/images/${id}?delete_token=${delete_token}&x=1`, { method: "DELETE" });
    expect(del.status).toBe(204);
    const requestId = del.headers.get("x-request-id");
    const get = await fetch(`${s.url}/api/v1/images/${uploaded.id}/file`, { headers: { "X-Delete-Token": "secret-header-token" } });
    const getBytes = (await get.arrayBuffer()).byteLength;
    const lines = s.h.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
    const delLine = lines.find((l) => l.request_id === requestId);
    expect(delLine).toEqual({
      time: expect.any(String),
      level: "info",
      msg: "request",
      method: "DELETE",
      path: `/api/v1/images/${id}`,
      status: 204,
      bytes: 0,
      ms: expect.any(Number),
      request_id: requestId,
      client_ip: "127.0.0.1",
    });
    const getLine = lines.find((l) => l.request_id === get.headers.get("x-request-id"));
    expect(getLine).toMatchObject({ method: "GET", status: 200, bytes: getBytes });
    const all = s.h.logs.join("\n");
    expect(all).not.toContain(delete_token);
    expect(all).not.toContain("secret-header-token");
    expect(all).not.toContain("delete_token=");
  });
});

test("an error escaping the app entirely is still the envelope (Bun.serve's error handler)", async () => {
  const h = await createHarness({ db: "pglite" });
  try {
    const res = serveOptions(h.deps.config, h.app, h.deps.logger).error(new Error("boom in the runtime"));
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({ error: { code: "INTERNAL_ERROR", message: "Internal server error", details: { request_id: res.headers.get("x-request-id") } } });
    expect(h.logs.some((l) => l.includes("boom in the runtime"))).toBe(true);
  } finally {
    await h.close();
  }
}, 30_000);

describe("settings", () => {
  test("PUBLIC_URL makes url, thumbnail_url's base and Location absolute; Host headers are never used", async () => {
    const s = await served({ PUBLIC_URL: "https://img.example.com/pics/" });
    try {
      const res = await s.upload(makePng(), "p.png", { Host: "evil.example", "X-Forwarded-Host": "evil.example" });
      expect(res.status).toBe(201);
      const body = await res.json();
      expect(body.url).toBe(`https://img.example.com/pics/api/v1/images/${body.id}/file`);
      expect(res.headers.get("location")).toBe(`https://img.example.com/pics/api/v1/images/${body.id}`);
      const meta = await (await fetch(`${s.url}/api/v1/images/${body.id}`, { headers: { Host: "evil.example" } })).json();
      expect(meta.url).toBe(body.url);
      expect((await (await fetch(`${s.url}/`)).json()).docs).toBe("https://img.example.com/pics/docs");
    } finally {
      await s.close();
    }
    const plain = await served();
    try {
      const res = await plain.upload(makePng(), "p.png", { Host: "evil.example" });
      expect(res.headers.get("location")).toMatch(/^\/api\/v1\/images\/[0-9a-f-]{36}$/);
      expect(JSON.stringify(await res.json())).not.toContain("evil");
    } finally {
      await plain.close();
    }
  }, 30_000);

  test("CORS_ORIGINS: preflight and actual requests from a listed origin; others get nothing", async () => {
    const s = await served({ CORS_ORIGINS: "https://app.example.com,https://other.example.com" });
    try {
      const origin = "https://app.example.com";
      const pre = await fetch(`${s.url}/api/v1/images/upload`, {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe(origin);
      expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
      expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-delete-token");
      expect(pre.headers.get("x-request-id")).toBeTruthy();
      const delPre = await fetch(`${s.url}/api/v1/images/x`, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "DELETE" } });
      expect(delPre.headers.get("access-control-allow-methods")).toContain("DELETE");
      // Signed-in browser clients send Authorization and may read the 401 challenge; the admin PATCHes.
      const authPre = await fetch(`${s.url}/api/v1/auth/me`, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" } });
      expect(authPre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      expect(authPre.headers.get("access-control-allow-methods")).toContain("PATCH");
      const me = await fetch(`${s.url}/api/v1/auth/me`, { headers: { Origin: origin } });
      expect(me.status).toBe(401);
      expect(me.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("www-authenticate");

      const up = await s.upload(makePng(), "c.png", { Origin: origin });
      expect(up.status).toBe(201);
      expect(up.headers.get("access-control-allow-origin")).toBe(origin);
      expect(up.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("location");
      expect(up.headers.get("vary")?.toLowerCase()).toContain("origin");
      const { id } = await up.json();
      const file = await fetch(`${s.url}/api/v1/images/${id}/file`, { headers: { Origin: origin } });
      expect(file.headers.get("access-control-allow-origin")).toBe(origin);
      expect(Number(file.headers.get("content-length"))).toBe((await file.arrayBuffer()).byteLength);
      const missing = await fetch(`${s.url}/api/v1/images/nope`, { headers: { Origin: origin } });
      expect(missing.status).toBe(404);
      expect(missing.headers.get("access-control-allow-origin")).toBe(origin); // the browser may read errors too

      const stranger = await fetch(`${s.url}/health`, { headers: { Origin: "https://evil.example" } });
      expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await s.close();
    }
  }, 30_000);

  test("CORS_ORIGINS=* allows any origin", async () => {
    const s = await served({ CORS_ORIGINS: "*" });
    try {
      const res = await fetch(`${s.url}/health`, { headers: { Origin: "https://anywhere.example" } });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    } finally {
      await s.close();
    }
  }, 30_000);

  test("ACCESS_LOG=false writes no request lines", async () => {
    const s = await served({ ACCESS_LOG: "false" });
    try {
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      expect((await fetch(`${s.url}/health`, { method: "HEAD" })).headers.get("content-length")).not.toBe("0");
      expect(s.h.logs.filter((l) => l.includes('"msg":"request"'))).toEqual([]);
    } finally {
      await s.close();
    }
  }, 30_000);
});
