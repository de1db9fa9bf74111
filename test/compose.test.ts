import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const composeTool = Bun.which("docker-compose") ? ["docker-compose"] : null;

describe("compose.yaml", () => {
  test("runs chitram with PostgreSQL and Redis, health checks and an images volume", async () => {
    const doc = Bun.YAML.parse(await Bun.file(join(ROOT, "compose.yaml")).text()) as any;
    expect(Object.keys(doc.services).sort()).toEqual(["chitram", "postgres", "redis"]);
    for (const s of Object.values(doc.services) as any[]) expect(s.healthcheck.test.length).toBeGreaterThan(0);
    const app = doc.services.chitram;
    expect(app.build).toBe(".");
    expect(app.environment.DATABASE_URL).toStartWith("postgres://");
    expect(app.environment.REDIS_URL).toStartWith("redis://");
    expect(app.volumes).toContain("images:/data");
    expect(app.depends_on.postgres.condition).toBe("service_healthy");
    expect(Object.keys(doc.volumes)).toContain("images");
  });

  test.if(composeTool !== null)("docker-compose config accepts it", async () => {
    const p = Bun.spawn([...composeTool!, "-f", join(ROOT, "compose.yaml"), "config", "-q"], { stdout: "pipe", stderr: "pipe" });
    const code = await p.exited;
    expect(await new Response(p.stderr).text()).toBe("");
    expect(code).toBe(0);
  });
});
