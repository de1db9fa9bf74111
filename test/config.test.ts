import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("configuration", () => {
  test("defaults match the spec", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      HOST: "0.0.0.0",
      DATA_DIR: "./data",
      STORAGE_BACKEND: "local",
      LOCAL_STORAGE_PATH: "data/images",
      REDIS_HOST: "localhost",
      REDIS_PORT: 6379,
      REDIS_DB: 0,
      CACHE_ENABLED: true,
      CACHE_TTL_SECONDS: 3600,
      CACHE_KEY_PREFIX: "chitram",
      CACHE_DEBUG: false,
      MAX_FILE_SIZE_MB: 5,
      maxFileBytes: 5 * 1024 * 1024,
      MAX_IMAGE_PIXELS: 50_000_000,
      ALLOWED_CONTENT_TYPES: ["image/jpeg", "image/png", "image/gif", "image/webp"],
      RATE_LIMIT_ENABLED: true,
      RATE_LIMIT_PER_MINUTE: 10,
      RATE_LIMIT_WINDOW_SECONDS: 60,
      TRUSTED_PROXIES: [],
      UPLOAD_CONCURRENCY_LIMIT: 10,
      UPLOAD_CONCURRENCY_TIMEOUT: 30,
    });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  test("values are coerced and derived", () => {
    const c = loadConfig({ PORT: "8080", CACHE_ENABLED: "false", DATA_DIR: "/srv/x", ALLOWED_CONTENT_TYPES: "image/png, image/gif", TRUSTED_PROXIES: "10.0.0.0/8,::1" });
    expect(c.PORT).toBe(8080);
    expect(c.CACHE_ENABLED).toBe(false);
    expect(c.LOCAL_STORAGE_PATH).toBe("/srv/x/images");
    expect(c.ALLOWED_CONTENT_TYPES).toEqual(["image/png", "image/gif"]);
    expect(c.TRUSTED_PROXIES).toEqual(["10.0.0.0/8", "::1"]);
  });

  test("the public face: PUBLIC_URL loses its trailing slash, CORS is off unless listed, the access log is on", () => {
    const d = loadConfig({});
    expect(d.PUBLIC_URL).toBeUndefined();
    expect(d.CORS_ORIGINS).toEqual([]);
    expect(d.ACCESS_LOG).toBe(true);
    expect(d.REQUEST_TIMEOUT_SECONDS).toBe(60);
    const c = loadConfig({
      PUBLIC_URL: "https://img.example.com/pics/",
      CORS_ORIGINS: "https://app.example.com, http://localhost:5173",
      ACCESS_LOG: "false",
      REQUEST_TIMEOUT_SECONDS: "255",
      HOST: "::",
    });
    expect(c.PUBLIC_URL).toBe("https://img.example.com/pics");
    expect(c.CORS_ORIGINS).toEqual(["https://app.example.com", "http://localhost:5173"]);
    expect(c.ACCESS_LOG).toBe(false);
    expect(c.REQUEST_TIMEOUT_SECONDS).toBe(255);
    expect(loadConfig({ CORS_ORIGINS: "*" }).CORS_ORIGINS).toEqual(["*"]);
  });

  test("accounts: anonymous uploads allowed, registration until the first account, a generated key, argon2id at 64 MiB × 2", () => {
    const d = loadConfig({});
    expect(d).toMatchObject({
      ALLOW_ANONYMOUS_UPLOADS: true,
      JWT_EXPIRE_MINUTES: 1440,
      PASSWORD_HASH_MEMORY_KIB: 65536,
      PASSWORD_HASH_TIME_COST: 2,
      LOGIN_RATE_LIMIT_PER_CLIENT: 20,
      LOGIN_RATE_LIMIT_PER_ACCOUNT: 5,
      LOGIN_RATE_LIMIT_WINDOW_SECONDS: 300,
    });
    expect(d.REGISTRATION_ENABLED).toBeUndefined();
    expect(d.JWT_SECRET_KEY).toBeUndefined();
    const c = loadConfig({ ALLOW_ANONYMOUS_UPLOADS: "false", REGISTRATION_ENABLED: "true", JWT_SECRET_KEY: "s".repeat(32) });
    expect(c).toMatchObject({ ALLOW_ANONYMOUS_UPLOADS: false, REGISTRATION_ENABLED: true, JWT_SECRET_KEY: "s".repeat(32) });
    expect(loadConfig({ REGISTRATION_ENABLED: "false" }).REGISTRATION_ENABLED).toBe(false);
  });

  test("a bad JWT_SECRET_KEY is named, never echoed", () => {
    const secret = "too-short-but-secret";
    expect(() => loadConfig({ JWT_SECRET_KEY: secret })).toThrow(/^invalid JWT_SECRET_KEY: expected at least 32 characters/);
    try {
      loadConfig({ JWT_SECRET_KEY: secret });
    } catch (e) {
      expect((e as Error).message).not.toContain(secret);
    }
  });

  test.each([
    [{ PORT: "http" }, /^invalid PORT="http": /],
    [{ ALLOW_ANONYMOUS_UPLOADS: "perhaps" }, /^invalid ALLOW_ANONYMOUS_UPLOADS="perhaps": expected true or false$/],
    [{ REGISTRATION_ENABLED: "open" }, /^invalid REGISTRATION_ENABLED="open": expected true or false$/],
    [{ PASSWORD_HASH_MEMORY_KIB: "512" }, /^invalid PASSWORD_HASH_MEMORY_KIB="512"/],
    [{ JWT_EXPIRE_MINUTES: "0" }, /^invalid JWT_EXPIRE_MINUTES="0"/],
    [{ LOGIN_RATE_LIMIT_PER_ACCOUNT: "none" }, /^invalid LOGIN_RATE_LIMIT_PER_ACCOUNT="none"/],
    [{ PORT: "70000" }, /^invalid PORT="70000": /],
    [{ CACHE_ENABLED: "maybe" }, /^invalid CACHE_ENABLED="maybe": expected true or false$/],
    [{ DATABASE_URL: "mysql://x" }, /^invalid DATABASE_URL="mysql:\/\/x": expected a postgres:\/\/ URL$/],
    [{ ALLOWED_CONTENT_TYPES: "image/svg+xml" }, /^invalid ALLOWED_CONTENT_TYPES=.*expected a subset of/],
    [{ MAX_FILE_SIZE_MB: "-1" }, /^invalid MAX_FILE_SIZE_MB="-1"/],
    [{ TRUSTED_PROXIES: "everyone" }, /^invalid TRUSTED_PROXIES="everyone"/],
    [{ REQUEST_TIMEOUT_SECONDS: "256" }, /^invalid REQUEST_TIMEOUT_SECONDS="256": expected at most 255 \(the longest idle timeout Bun supports\)$/],
    [{ PUBLIC_URL: "img.example.com" }, /^invalid PUBLIC_URL="img.example.com": expected an absolute http\(s\) URL/],
    [{ PUBLIC_URL: "https://img.example.com/?a=1" }, /^invalid PUBLIC_URL=/],
    [{ PUBLIC_URL: "ftp://img.example.com" }, /^invalid PUBLIC_URL=/],
    [{ CORS_ORIGINS: "https://app.example.com/path" }, /^invalid CORS_ORIGINS=.*expected \* or a comma-separated list of origins/],
    [{ CORS_ORIGINS: "app.example.com" }, /^invalid CORS_ORIGINS=/],
    [{ ACCESS_LOG: "sometimes" }, /^invalid ACCESS_LOG="sometimes": expected true or false$/],
    [{ HOST: "bad host" }, /^invalid HOST="bad host": expected a host name or an IP address/],
  ])("a bad value stops start-up with one line naming the variable: %p", (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(ConfigError);
    try {
      loadConfig(env as Record<string, string>);
    } catch (e) {
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).not.toContain("\n");
    }
  });

  test("the real program exits 2 with that one line", async () => {
    const p = Bun.spawn(["bun", "run", "src/main.ts"], { env: { ...process.env, PORT: "nope" }, stderr: "pipe", stdout: "pipe" });
    expect(await p.exited).toBe(2);
    expect((await new Response(p.stderr).text()).trim()).toBe('chitram: invalid PORT="nope": Invalid input: expected number, received NaN');
  });
});
