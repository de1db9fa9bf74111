import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { startTestRedis, type TestRedis } from "./support/redis-server.ts";
import { rawExchange, serveHarness } from "./support/server.ts";
import { HAVE_REDIS } from "./support/services.ts";
import { eventually } from "./support/wait.ts";

// Uploads go over a real socket so that the client's address is the real peer address.
function uploadOver(url: string, headers: Record<string, string> = {}) {
  const form = new FormData();
  form.append("file", new Blob([makePng()]), "r.png");
  return fetch(`${url}/api/v1/images/upload`, { method: "POST", body: form, headers });
}

const LIMIT = 3;
const WINDOW_S = 2; // interval between regained uploads = 2000/3 ≈ 667 ms

describe.if(HAVE_REDIS)("upload rate limit (GCRA in Redis, shared by instances)", () => {
  let redis: TestRedis;
  let h: Harness;
  let other: Harness; // a second instance sharing the same Redis
  let srv: ReturnType<typeof serveHarness>;
  let otherSrv: ReturnType<typeof serveHarness>;
  const env = { RATE_LIMIT_ENABLED: "true", RATE_LIMIT_PER_MINUTE: String(LIMIT), RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_S) };

  beforeAll(async () => {
    redis = await startTestRedis();
    h = await createHarness({ db: "pglite", redisUrl: redis.url, env: { ...env, TRUSTED_PROXIES: "127.0.0.1/32" } });
    other = await createHarness({ db: "pglite", redisUrl: redis.url, env });
    srv = serveHarness(h);
    otherSrv = serveHarness(other);
  }, 30_000); // the first file of a run also pays for the shared PGlite
  afterAll(async () => {
    srv.stop();
    otherSrv.stop();
    await h.close();
    await other.close();
    await redis.stop();
  });

  test("the (N+1)-th upload in a window is 429 with Retry-After and RateLimit-* headers; others are unaffected; the window slides", async () => {
    const client = { "X-Forwarded-For": "203.0.113.7" }; // believed: the peer 127.0.0.1 is trusted
    for (let i = 0; i < LIMIT; i++) {
      const ok = await uploadOver(srv.url, client);
      expect(ok.status).toBe(201);
      expect(ok.headers.get("ratelimit-limit")).toBe(String(LIMIT));
      expect(ok.headers.get("ratelimit-remaining")).toBe(String(LIMIT - 1 - i));
      expect(ok.headers.get("ratelimit-policy")).toBe(`${LIMIT};w=${WINDOW_S}`);
    }
    const limited = await uploadOver(srv.url, client);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_S);
    expect(limited.headers.get("ratelimit-limit")).toBe(String(LIMIT));
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
    const body = await limited.json();
    expect(body.error).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", details: { limit: LIMIT, retry_after: retryAfter } });

    // Another client is unaffected.
    expect((await uploadOver(srv.url, { "X-Forwarded-For": "203.0.113.8" })).status).toBe(201);

    // The window slides: one interval later exactly one more upload fits, not a whole new window.
    await Bun.sleep((WINDOW_S * 1000) / LIMIT + 50);
    expect((await uploadOver(srv.url, client)).status).toBe(201);
    expect((await uploadOver(srv.url, client)).status).toBe(429);
  }, 30_000);

  test("a spoofed X-Forwarded-For from an untrusted peer changes nothing; the limit is shared between instances", async () => {
    // `other` trusts no proxy, so every request is the peer 127.0.0.1, whatever it claims.
    let limitedAt = -1;
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await uploadOver(otherSrv.url, { "X-Forwarded-For": `198.51.100.${i}` });
      if (res.status === 429) {
        limitedAt = i;
        break;
      }
      expect(res.status).toBe(201);
    }
    expect(limitedAt).toBe(LIMIT);
    // The same client through the first instance (peer 127.0.0.1 trusted, no header) is limited too: one Redis, one count.
    expect((await uploadOver(srv.url)).status).toBe(429);
  });

  test("the limit is checked before the body is read", async () => {
    await Bun.sleep(WINDOW_S * 1000 + 100); // let 127.0.0.1's allowance refill
    for (let i = 0; i < LIMIT; i++) expect((await uploadOver(otherSrv.url)).status).toBe(201);
    const boundary = "b";
    const req = `POST /api/v1/images/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 4000000\r\n\r\n`;
    const r = await rawExchange(otherSrv.port, [req, "--b\r\n"], { timeoutMs: 3_000 });
    expect(r.response).toStartWith("HTTP/1.1 429");
  }, 30_000);

  test("while Redis is down, limiting continues per instance, and /health says so", async () => {
    await redis.kill();
    try {
      await Bun.sleep(50);
      const client = { "X-Forwarded-For": "192.0.2.44" };
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) statuses.push((await uploadOver(srv.url, client)).status);
      expect(statuses).toEqual([...Array(LIMIT).fill(201), 429]);
      expect((await (await fetch(`${srv.url}/health`)).json()).rate_limiter).toBe("in-process");
    } finally {
      await redis.start();
    }
    const limiterState = async () => (await (await fetch(`${srv.url}/health`)).json()).rate_limiter;
    await eventually(async () => (await limiterState()) === "redis");
    expect(await limiterState()).toBe("redis");
    expect(h.logs.some((l) => l.includes("Rate limiter now per instance"))).toBe(true);
  }, 30_000);

  test("RateLimit headers are not sent on other routes, and reads are never limited", async () => {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${otherSrv.url}/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).toBeNull();
    }
  });
});
