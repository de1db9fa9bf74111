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
    [{ STORAGE_BACKEND: "minio" }, /^invalid STORAGE_BACKEND="minio": expected local or s3$/],
    [{ STORAGE_BACKEND: "s3", S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" }, /^invalid S3_BUCKET: required with STORAGE_BACKEND=s3$/],
    [{ STORAGE_BACKEND: "s3", S3_BUCKET: "b-1", S3_SECRET_ACCESS_KEY: "s" }, /^invalid S3_ACCESS_KEY_ID: required with STORAGE_BACKEND=s3$/],
    [{ S3_ENDPOINT: "minio:9000" }, /^invalid S3_ENDPOINT="minio:9000": expected an http\(s\):\/\/ URL/],
    [{ S3_BUCKET: "My_Bucket" }, /^invalid S3_BUCKET="My_Bucket": expected an S3 bucket name/],
    [{ S3_PREFIX: "images" }, /^invalid S3_PREFIX="images": expected folder names ending in \//],
    [{ S3_PRESIGNED_DOWNLOADS: "true" }, /^invalid S3_PRESIGNED_DOWNLOADS="true": only with STORAGE_BACKEND=s3$/],
    [{ REDIS_SENTINELS: "a:1,b" }, /^invalid REDIS_SENTINELS="a:1,b": expected a comma-separated list of host:port$/],
    [{ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://x" }, /^invalid REDIS_CLUSTER_NODES="a:1": set only one of REDIS_URL, REDIS_CLUSTER_NODES$/],
    [{ REDIS_CLUSTER_NODES: "a:1", REDIS_DB: "2" }, /^invalid REDIS_DB="2": must be 0 with REDIS_CLUSTER_NODES/],
  ])("a bad value stops start-up with one line naming the variable: %p", (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(ConfigError);
    try {
      loadConfig(env as Record<string, string>);
    } catch (e) {
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).not.toContain("\n");
    }
  });

  test("S3 settings, the seed system's MINIO_* names, and Redis topologies", () => {
    const s3 = loadConfig({ STORAGE_BACKEND: "s3", S3_ENDPOINT: "https://s3.example.com", S3_BUCKET: "imgs", S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s", S3_PREFIX: "chitram/" });
    expect(s3).toMatchObject({ STORAGE_BACKEND: "s3", S3_REGION: "us-east-1", S3_FORCE_PATH_STYLE: true, S3_PREFIX: "chitram/", S3_PRESIGNED_DOWNLOADS: false, S3_PRESIGN_EXPIRES_SECONDS: 300 });
    const minio = loadConfig({ STORAGE_BACKEND: "s3", MINIO_ENDPOINT: "minio:9000", MINIO_ACCESS_KEY: "ak", MINIO_SECRET_KEY: "sk", MINIO_BUCKET_NAME: "images" });
    expect(minio).toMatchObject({ S3_ENDPOINT: "http://minio:9000", S3_ACCESS_KEY_ID: "ak", S3_SECRET_ACCESS_KEY: "sk", S3_BUCKET: "images" });
    expect(loadConfig({ MINIO_ENDPOINT: "minio:9000", MINIO_SECURE: "true" }).S3_ENDPOINT).toBe("https://minio:9000");
    expect(loadConfig({ MINIO_BUCKET: "a-b", S3_BUCKET: "wins" }).S3_BUCKET).toBe("wins");
    expect(loadConfig({ REDIS_SENTINELS: "10.0.0.5:26379, s2:26380" })).toMatchObject({
      REDIS_SENTINELS: [{ host: "10.0.0.5", port: 26379 }, { host: "s2", port: 26380 }],
      REDIS_SENTINEL_MASTER: "mymaster",
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: "[::1]:7000" }).REDIS_CLUSTER_NODES).toEqual([{ host: "::1", port: 7000 }]);
  });

  test("the in-process tier, WORKERS and METRICS_PORT", () => {
    expect(loadConfig({})).toMatchObject({ CACHE_L1_MAX_ENTRIES: 50_000, CACHE_L1_MAX_MB: 64, CACHE_L1_TTL_SECONDS: 60, WORKERS: 1 });
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
    const db = { DATABASE_URL: "postgres://db/chitram" };
    expect(loadConfig({ ...db, WORKERS: "3", METRICS_PORT: "9464" })).toMatchObject({ WORKERS: 3, METRICS_PORT: 9464 });
    expect(loadConfig({ ...db, WORKERS: "auto" }).WORKERS).toBeGreaterThanOrEqual(1);
    expect(loadConfig({ WORKERS: "auto" }).WORKERS).toBe(1); // the embedded database: one process
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).message;
      }
      return "accepted";
    };
    expect(refused({ WORKERS: "2" })).toContain("invalid WORKERS=\"2\": more than 1 needs DATABASE_URL");
    expect(refused({ ...db, WORKERS: "many" })).toContain("expected a whole number from 1 to 256, or auto");
    expect(refused({ ...db, WORKERS: "0" })).toStartWith("invalid WORKERS=");
    expect(refused({ PORT: "9000", METRICS_PORT: "9000" })).toContain("invalid METRICS_PORT");
  });

  test("the real program exits 2 with that one line", async () => {
    const p = Bun.spawn(["bun", "run", "src/main.ts"], { env: { ...process.env, PORT: "nope" }, stderr: "pipe", stdout: "pipe" });
    expect(await p.exited).toBe(2);
    expect((await new Response(p.stderr).text()).trim()).toBe('chitram: invalid PORT="nope": Invalid input: expected number, received NaN');
  });
});
