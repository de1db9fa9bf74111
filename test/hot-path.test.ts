// The hot routes (src/images/hot-path.ts) answer GET /api/v1/images/{id} and its /file through
// Bun's router, in front of the app. Whatever they answer must be what the app answers: the
// same status, body and headers, the same access-log line and the same request metrics.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { hotRoutes } from "../src/images/hot-path.ts";
import { serveOptions } from "../src/server.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";

/** Everything of a response but what differs by design between two requests. */
async function shape(res: Response) {
  const headers = Object.fromEntries([...res.headers].filter(([k]) => !["date", "x-request-id"].includes(k)));
  return { status: res.status, headers, body: await res.text() };
}

const requestLines = (logs: string[]) =>
  logs.filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>);

for (const [label, env] of [
  ["the database alone (cache off)", {}],
  ["the database, with the in-process tier configured", { CACHE_L1_MAX_ENTRIES: "100" }],
] as const) {
  describe(`hot routes on ${label}`, () => {
    let h: Harness;
    let server: Server<undefined>;
    let appServer: Server<undefined>;
    let base: string;
    let appBase: string;
    let id: string;
    const size = 4000;
    beforeAll(async () => {
      h = await createHarness({ db: "pglite", env: { ACCESS_LOG: "true", ...env } });
      const hot = hotRoutes(h.deps, h.app);
      expect(hot).toBeDefined();
      server = Bun.serve(serveOptions({ ...h.deps.config, HOST: "127.0.0.1", PORT: 0 }, h.app, h.deps.logger, hot));
      base = `http://127.0.0.1:${server.port}`;
      // The same app served without the hot routes: both sides go through Bun's HTTP server.
      appServer = Bun.serve(serveOptions({ ...h.deps.config, HOST: "127.0.0.1", PORT: 0 }, h.app, h.deps.logger));
      appBase = `http://127.0.0.1:${appServer.port}`;
      const res = await h.upload(makePng({ padTo: size }), "hot.png");
      expect(res.status).toBe(201);
      id = ((await res.json()) as { id: string }).id;
    });
    afterAll(async () => {
      server.stop(true);
      appServer.stop(true);
      await h.close();
    });

    /** Sends the request to the hot route and to the app, and expects the same answer, log line and metrics. */
    async function same(path: string, headers: Record<string, string> = {}) {
      const logged = h.logs.length;
      const viaApp = await shape(await fetch(appBase + path, { headers }));
      await h.deps.logger.flush?.();
      const appLine = requestLines(h.logs.slice(logged)).at(-1)!;
      const before = h.logs.length;
      const res = await fetch(base + path, { headers });
      const requestId = res.headers.get("x-request-id");
      const viaHot = await shape(res);
      expect(viaHot).toEqual(viaApp);
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      await h.deps.logger.flush?.();
      const hotLine = requestLines(h.logs.slice(before)).at(-1)!;
      const { ms: _a, request_id: _b, client_ip: _c, time: _d, ...appRest } = appLine;
      const { ms: _e, request_id: hotRequestId, client_ip: _f, time: _g, ...hotRest } = hotLine;
      expect(hotRest).toEqual(appRest);
      expect(hotRequestId).toBe(requestId);
      return viaHot;
    }

    test("metadata: found and not found", async () => {
      expect((await same(`/api/v1/images/${id}`)).status).toBe(200);
      expect((await same(`/api/v1/images/${id}`)).status).toBe(200);
      const missing = await same("/api/v1/images/00000000-0000-4000-8000-000000000000");
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body).error.code).toBe("IMAGE_NOT_FOUND");
    });

    test("file: whole, conditional, ranges and unsatisfiable ranges", async () => {
      const whole = await same(`/api/v1/images/${id}/file`);
      expect(whole.status).toBe(200);
      expect(whole.body.length).toBeGreaterThan(0);
      const etag = whole.headers.etag!;
      expect((await same(`/api/v1/images/${id}/file`, { "If-None-Match": etag })).status).toBe(304);
      expect((await same(`/api/v1/images/${id}/file`, { Range: "bytes=0-99" })).status).toBe(206);
      expect((await same(`/api/v1/images/${id}/file`, { Range: "bytes=-10" })).status).toBe(206);
      expect((await same(`/api/v1/images/${id}/file`, { Range: "bytes=0-9", "If-Range": '"other"' })).status).toBe(200);
      expect((await same(`/api/v1/images/${id}/file`, { Range: `bytes=${size * 10}-` })).status).toBe(416);
      expect((await same("/api/v1/images/00000000-0000-4000-8000-000000000000/file")).status).toBe(404);
    });

    test("file whose bytes vanished from storage: 404 from both", async () => {
      const res = await h.upload(makePng({ padTo: 1000 }), "gone.png");
      const row = (await res.json()) as { id: string };
      const info = await h.deps.images.fileInfo(row.id);
      rmSync(join(h.deps.config.LOCAL_STORAGE_PATH, info!.storageKey));
      expect((await same(`/api/v1/images/${row.id}/file`)).status).toBe(404);
    });

    test("the hot routes count requests under the route pattern, as the app does", async () => {
      const text = async () => (await h.request("/metrics")).text();
      const count = (t: string, route: string, status: number) =>
        Number(
          t
            .split("\n")
            .find((l) => l.startsWith("chitram_http_request_duration_seconds_count{") && l.includes(`route="${route}"`) && l.includes(`status="${status}"`) && l.includes('method="GET"'))
            ?.split(" ")
            .at(-1) ?? 0,
        );
      const before = await text();
      await fetch(`${base}/api/v1/images/${id}`);
      await fetch(`${base}/api/v1/images/${id}/file`);
      const after = await text();
      expect(count(after, "/api/v1/images/:id", 200) - count(before, "/api/v1/images/:id", 200)).toBe(1);
      expect(count(after, "/api/v1/images/:id/file", 200) - count(before, "/api/v1/images/:id/file", 200)).toBe(1);
    });
  });
}
