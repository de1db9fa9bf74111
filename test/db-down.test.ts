import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPostgresDatabase } from "../src/db/client.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { makePng } from "./support/images.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";
import { proxiedDatabase, type TcpProxy } from "./support/tcp-proxy.ts";

describe.if(HAVE_POSTGRES)("PostgreSQL unreachable", () => {
  let proxy: TcpProxy;
  let h: Harness;
  beforeAll(async () => {
    const proxied = await proxiedDatabase(TEST_DATABASE_URL);
    proxy = proxied.proxy;
    h = await createHarness({ db: createPostgresDatabase(proxied.url, { connectTimeoutSeconds: 2 }) });
  });
  afterAll(async () => {
    await h.close();
    await h.deps.database.close(); // waits for postgres.js to drain the pool (up to 5 s)
    proxy.close();
  }, 15_000);

  test("requests get 503 SERVICE_UNAVAILABLE while it is down, nothing is half-written, and service resumes by itself", async () => {
    const { id } = await (await h.upload(makePng(), "before.png")).json();
    expect((await h.request(`/api/v1/images/${id}`)).status).toBe(200);
    const filesBefore = await h.deps.storage.list();

    proxy.cut();
    const started = performance.now();
    const meta = await h.request(`/api/v1/images/${id}`);
    expect(meta.status).toBe(503);
    const body = await meta.json();
    expect(body.error.code).toBe("SERVICE_UNAVAILABLE");
    expect(body.error.details.reason).toBe("database_unavailable");
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|select|postgres/i);
    expect(performance.now() - started).toBeLessThan(3_000);

    const up = await h.upload(makePng(), "during.png");
    expect(up.status).toBe(503);
    expect(await h.deps.storage.list()).toEqual(filesBefore); // the written file was removed again

    const health = await h.request("/health");
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "unhealthy", database: "disconnected" });

    proxy.restore();
    let recovered = 0;
    for (let i = 0; i < 50 && recovered !== 200; i++) {
      recovered = (await h.request(`/api/v1/images/${id}`)).status;
      if (recovered !== 200) await Bun.sleep(100);
    }
    expect(recovered).toBe(200);
    expect((await h.upload(makePng(), "after.png")).status).toBe(201);
    expect((await (await h.request("/health")).json()).database).toBe("connected");
  });

  test("start-up fails loudly, rather than serving, when the database is unreachable", async () => {
    const db = createPostgresDatabase("postgres://postgres@127.0.0.1:1/none", { connectTimeoutSeconds: 1 });
    const result = await createHarness({ db }).catch((e: unknown) => e);
    await db.close();
    expect(result).toBeInstanceOf(Error);
    expect(String((result as Error).cause)).toMatch(/ECONNREFUSED|connect/i);
  });
});
