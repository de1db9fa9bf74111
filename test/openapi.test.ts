// The contract: /openapi.json is a valid OpenAPI 3.1 document, documents exactly the routes the
// app answers, and /docs renders it from this server alone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { compileErrors, validate } from "@readme/openapi-parser";
import { ERROR_STATUS } from "../src/errors.ts";
import { webRoutes } from "../src/web/routes.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { serveHarness } from "./support/server.ts";

const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"] as const;
// Operational endpoints outside the JSON API contract, deliberately left out of the document:
// /metrics answers Prometheus' text format (and moves to METRICS_PORT when that is set).
const UNDOCUMENTED = ["GET /metrics"];

describe("OpenAPI document", () => {
  let h: Harness;
  let doc: any;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite" });
    const res = await h.request("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    doc = await res.json();
  }, 30_000); // the first harness in a process initialises PGlite: seconds on a busy machine
  afterAll(() => h.close());

  test("is valid OpenAPI 3.1 (checked by a real validator)", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await validate(structuredClone(doc));
    if (!result.valid) throw new Error(compileErrors(result));
    expect(result.valid).toBe(true);
  });

  test("documents exactly the routes the app answers, but for the web pages and /metrics", () => {
    const key = (r: { method: string; path: string }) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`;
    // Pages for people (HTML, errors as pages) are not part of the JSON API's contract; `/` is,
    // as it answers programs with JSON. None of the pages lives under /api/.
    const pages = new Set(webRoutes.routes.filter((r) => r.method !== "ALL").map(key));
    expect(pages.size).toBeGreaterThan(4);
    for (const page of pages) expect(page).not.toContain(" /api/");
    const answered = new Set(h.app.routes.filter((r) => r.method !== "ALL").map(key).filter((k) => !pages.has(k)));
    for (const route of UNDOCUMENTED) {
      expect(answered).toContain(route);
      answered.delete(route);
    }
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const m of METHODS) if (item[m]) documented.add(`${m.toUpperCase()} ${path}`);
    }
    expect([...documented].sort()).toEqual([...answered].sort());
    expect([...documented].filter((d) => pages.has(d))).toEqual([]);
    expect(answered).toContain("POST /api/v1/images/upload");
    expect(answered).toContain("GET /api/v1/images/{id}/file");
    expect(answered).toContain("DELETE /api/v1/images/{id}");
  });

  test("the multipart upload body, every response shape and the error envelope with its codes", () => {
    const upload = doc.paths["/api/v1/images/upload"].post;
    const form = upload.requestBody.content["multipart/form-data"].schema;
    expect(upload.requestBody.required).toBe(true);
    expect(form.required).toEqual(["file"]);
    expect(form.properties.file).toMatchObject({ type: "string", format: "binary" });
    expect(upload.responses["201"].content["application/json"].schema.$ref).toBe("#/components/schemas/UploadedImage");
    expect(upload.responses["201"].headers.Location).toBeDefined();
    expect(Object.keys(upload.responses).sort()).toEqual(["201", "400", "401", "403", "413", "429", "500", "503"]);
    expect(upload.responses["401"].headers["WWW-Authenticate"]).toBeDefined();
    expect(upload.security).toEqual([{}, { bearer: [] }, { password: [] }]);

    const del = doc.paths["/api/v1/images/{id}"].delete;
    expect(del.parameters.map((p: any) => `${p.in}:${p.name}`).sort()).toEqual(["header:x-delete-token", "path:id", "query:delete_token"]);
    expect([...del.responses["403"].content["application/json"].schema.properties.error.properties.code.enum].sort()).toEqual(
      ["DELETE_TOKEN_REQUIRED", "FORBIDDEN", "INVALID_DELETE_TOKEN"],
    );

    const schemas = doc.components.schemas;
    expect(schemas.ImageMetadata.required).toContain("url");
    expect(schemas.UploadedImage.allOf[0].$ref).toBe("#/components/schemas/ImageMetadata");
    expect(schemas.UploadedImage.allOf[1].required).toEqual(["delete_token", "metadata_removed"]);
    expect([...schemas.Error.properties.error.properties.code.enum].sort()).toEqual(Object.keys(ERROR_STATUS).sort());

    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const m of METHODS) {
        const op = item[m];
        if (!op) continue;
        expect(`${m} ${path}: ${Object.keys(op.responses).length > 1}`).toBe(`${m} ${path}: true`);
        for (const [status, response] of Object.entries<any>(op.responses)) {
          expect(response.headers?.["X-Request-Id"]).toBeDefined();
          // Every error is the envelope; /health's 503 is its report (status "unhealthy").
          if (Number(status) >= 400 && !(path === "/health" && status === "503")) {
            const code = response.content["application/json"].schema.properties.error.properties.code;
            // Each error response names only codes whose status is this one.
            for (const c of code.enum) expect(`${c} ${ERROR_STATUS[c as keyof typeof ERROR_STATUS]}`).toBe(`${c} ${status}`);
          }
        }
      }
    }
  });

  test("accounts, API keys, tags, my images and admin: documented with their security, bodies and 401 challenge", async () => {
    const ops: Array<[string, string, "none" | "optional" | "required"]> = [
      ["post", "/api/v1/auth/register", "none"],
      ["post", "/api/v1/auth/login", "none"],
      ["post", "/api/v1/auth/token", "none"],
      ["get", "/api/v1/auth/me", "required"],
      ["post", "/api/v1/auth/password-reset", "none"],
      ["get", "/api/v1/images", "required"],
      ["post", "/api/v1/images/upload", "optional"],
      ["delete", "/api/v1/images/{id}", "optional"],
      ["get", "/api/v1/images/{id}/tags", "none"],
      ["post", "/api/v1/images/{id}/tags", "required"],
      ["delete", "/api/v1/images/{id}/tags/{name}", "required"],
      ["get", "/api/v1/tags", "none"],
      ["get", "/api/v1/tags/popular", "none"],
      ["get", "/api/v1/tags/search", "none"],
      ["post", "/api/v1/api-keys", "required"],
      ["get", "/api/v1/api-keys", "required"],
      ["delete", "/api/v1/api-keys/{id}", "required"],
      ["get", "/api/v1/admin/users", "required"],
      ["patch", "/api/v1/admin/users/{id}", "required"],
    ];
    for (const [method, path, auth] of ops) {
      const op = doc.paths[path]?.[method];
      expect(`${method} ${path} ${op ? "documented" : "missing"}`).toBe(`${method} ${path} documented`);
      const required = [{ bearer: [] }, { password: [] }];
      const security = auth === "none" ? undefined : auth === "optional" ? [{}, ...required] : required;
      expect(`${method} ${path} ${JSON.stringify(op.security)}`).toBe(`${method} ${path} ${JSON.stringify(security)}`);
      if (auth !== "none") expect(op.responses["401"].headers["WWW-Authenticate"]).toBeDefined();
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.password.flows.password.tokenUrl).toBe("/api/v1/auth/token");
    const token = doc.paths["/api/v1/auth/token"].post.requestBody.content["application/x-www-form-urlencoded"].schema;
    expect(token.$ref ?? token.required).toBeDefined();
    const register = doc.paths["/api/v1/auth/register"].post;
    expect(register.responses["201"].content["application/json"].schema.$ref).toBe("#/components/schemas/AuthResponse");
    expect(Object.keys(register.responses).sort()).toEqual(["201", "400", "403", "413", "429", "500", "503"]);
    expect([...register.responses["400"].content["application/json"].schema.properties.error.properties.code.enum].sort()).toEqual(["EMAIL_EXISTS", "INVALID_REQUEST"]);
    expect([...doc.components.schemas.User.required].sort()).toEqual(["created_at", "email", "id", "is_active", "is_admin"]);
    expect(doc.components.schemas.ImagePage.properties.next_cursor).toBeDefined();
  });

  test("is the same document on every request, and the servers entry follows PUBLIC_URL", async () => {
    expect(await (await h.request("/openapi.json")).json()).toEqual(doc);
    expect(doc.servers).toBeUndefined(); // relative to wherever it was fetched from
    const pub = await createHarness({ db: "pglite", env: { PUBLIC_URL: "https://img.example.com/" } });
    try {
      expect((await (await pub.request("/openapi.json")).json()).servers).toEqual([{ url: "https://img.example.com" }]);
    } finally {
      await pub.close();
    }
  });
});

describe("/docs", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ db: "pglite" });
  }, 30_000); // the first harness in a process initialises PGlite: seconds on a busy machine
  afterAll(() => h.close());

  const referenced = (html: string) => [...html.matchAll(/\b(?:src|href|data-spec-url)="([^"]*)"/g)].map((m) => m[1]!);

  test("renders from this server alone: every reference is local and loads, nothing names another host", async () => {
    const res = await h.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const csp = res.headers.get("content-security-policy")!;
    // The browser itself refuses any other host for scripts, styles, images and fetches.
    for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src 'self' data:"]) expect(csp).toContain(directive);
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>[^<]/); // no inline script (CSP allows none)
    const refs = referenced(html);
    expect(refs.sort()).toEqual(["/docs/init.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/openapi.json"]);
    for (const ref of refs) {
      const asset = await h.request(ref);
      expect(`${ref} ${asset.status}`).toBe(`${ref} 200`);
      const body = await asset.text();
      expect(body.length).toBeGreaterThan(100);
      if (ref.endsWith(".js")) expect(asset.headers.get("content-type")).toContain("javascript");
      if (ref.endsWith(".css")) expect(asset.headers.get("content-type")).toContain("text/css");
    }
    const init = await (await h.request("/docs/init.js")).text();
    expect(init).not.toMatch(/https?:\/\//);
    expect(init).toContain("validatorUrl: null"); // Swagger UI would otherwise call validator.swagger.io
    expect(init).toContain("root.dataset.specUrl");
    const bundle = await (await h.request("/docs/swagger-ui-bundle.js")).text();
    expect(bundle).toContain("SwaggerUIBundle");
  });

  test("under PUBLIC_URL its links carry the public base", async () => {
    const pub = await createHarness({ db: "pglite", env: { PUBLIC_URL: "https://example.org/img" } });
    try {
      const refs = referenced(await (await pub.request("/docs")).text());
      expect(refs.every((r) => r.startsWith("https://example.org/img/"))).toBe(true);
      expect(refs).toContain("https://example.org/img/openapi.json");
    } finally {
      await pub.close();
    }
  });

  test("an unknown asset is refused in the envelope", async () => {
    const res = await h.request("/docs/evil.js");
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("INVALID_REQUEST");
  });

  // Where a Chromium is installed (apt-get install chromium), render the page for real, with every
  // host but loopback unresolvable: Swagger UI must draw every operation from this server alone.
  const chromium = Bun.which("chromium") ?? Bun.which("chromium-browser");
  test.if(chromium !== null)("renders every operation in a headless browser with no other host reachable", async () => {
    const srv = serveHarness(h);
    try {
      const p = Bun.spawn(
        [chromium!, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=10000",
          "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--dump-dom", `${srv.url}/docs`],
        { stdout: "pipe", stderr: "ignore" },
      );
      const dom = await new Response(p.stdout).text();
      await p.exited;
      const paths = [...dom.matchAll(/class="opblock-summary-path" data-path="([^"]+)"/g)].map((m) => m[1]);
      // One drawn operation per operation in the document.
      const doc = (await (await h.request("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
      const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map(() => path));
      expect(operations.length).toBeGreaterThan(8);
      expect(paths.sort()).toEqual(operations.sort());
    } finally {
      srv.stop();
    }
  }, 60_000);
});
