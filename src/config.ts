import { z } from "zod";
import { availableParallelism } from "node:os";
import { join } from "node:path";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const ALLOWED_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;

// "host:port,host:port" (REDIS_SENTINELS, REDIS_CLUSTER_NODES).
const hostPorts = z
  .string()
  .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
  .pipe(
    z
      .array(
        z.string().regex(/^[A-Za-z0-9_.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected a comma-separated list of host:port").transform((s) => {
          const i = s.lastIndexOf(":");
          return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
        }),
      )
      .min(1, "expected a comma-separated list of host:port"),
  );

const cidr = z.string().refine(
  (s) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s),
  "expected a comma-separated list of IPs or CIDRs",
);

// What Bun.serve can honour: its idle timeout is at most 255 s (larger values would be clamped).
const BUN_MAX_IDLE_TIMEOUT_SECONDS = 255;

const origin = z.string().refine((s) => {
  if (s === "*") return true;
  try {
    return new URL(s).origin === s;
  } catch {
    return false;
  }
}, "expected * or a comma-separated list of origins like https://app.example.com (scheme, host and port; no path or trailing slash)");

const publicUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "https:" || u.protocol === "http:") && !u.search && !u.hash && !u.username && !u.password;
    } catch {
      return false;
    }
  }, "expected an absolute http(s) URL without query or fragment, e.g. https://img.example.com")
  .transform((s) => s.replace(/\/+$/, ""));

const schema = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z
    .string()
    .regex(/^(?:[A-Za-z0-9.-]{1,253}|[0-9a-fA-F:.]+)$/, "expected a host name or an IP address, e.g. 0.0.0.0 or ::")
    .default("0.0.0.0"),
  PUBLIC_URL: publicUrl.optional(),
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(origin)),
  ACCESS_LOG: bool.default(true),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL")
    .optional(),
  DATA_DIR: z.string().min(1).default("./data"),
  STORAGE_BACKEND: z.enum(["local", "s3"], { error: "expected local or s3" }).default("local"),
  LOCAL_STORAGE_PATH: z.string().min(1).optional(),
  S3_ENDPOINT: z.string().regex(/^https?:\/\/[^/\s]+\/?$/, "expected an http(s):// URL without a path").optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name (3-63 of a-z 0-9 . -)").optional(),
  S3_REGION: z.string().regex(/^[a-z0-9-]{1,64}$/, "expected a region name such as us-east-1").default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
  S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+\/)*$/, "expected folder names ending in / (e.g. chitram/), or empty")
    .default(""),
  S3_PRESIGNED_DOWNLOADS: bool.default(false),
  S3_PRESIGN_EXPIRES_SECONDS: int(1, 7 * 86_400).default(300),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "expected a redis:// URL")
    .optional(),
  REDIS_HOST: z.string().min(1).default("localhost"),
  REDIS_PORT: int(1, 65535).default(6379),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_DB: int(0, 1_000).default(0),
  REDIS_SENTINELS: hostPorts.optional(),
  REDIS_SENTINEL_MASTER: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "expected a master name such as mymaster").default("mymaster"),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  CACHE_ENABLED: bool.default(true),
  CACHE_TTL_SECONDS: int(1, 31_536_000).default(3600),
  CACHE_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected 1-64 of A-Z a-z 0-9 _ . : -")
    .default("chitram"),
  CACHE_DEBUG: bool.default(false),
  // The in-process tier in front of Redis (per server process); 0 entries turns it off.
  CACHE_L1_MAX_ENTRIES: int(0, 10_000_000).default(50_000),
  CACHE_L1_MAX_MB: z.coerce.number().min(0).max(65_536).default(64),
  CACHE_L1_TTL_SECONDS: z.coerce.number().min(0.001).max(86_400).default(60),
  // Server processes sharing the port (reusePort); `auto` = one per core.
  WORKERS: z
    .union([z.literal("auto"), z.coerce.number().int().min(1).max(256)], { error: "expected a whole number from 1 to 256, or auto" })
    .default(1),
  // Serve /metrics on this port (and not on PORT) so it need not be public; unset: on PORT.
  METRICS_PORT: int(1, 65535).optional(),
  MAX_FILE_SIZE_MB: z.coerce.number().positive().max(1024).default(5),
  MAX_IMAGE_PIXELS: int(1, 2_000_000_000).default(50_000_000),
  STRIP_METADATA: bool.default(true),
  // Decoding runs on the other cores: one Worker per core but one, at most 4 by default.
  THUMBNAIL_WORKERS: int(0, 64).default(() => Math.max(1, Math.min(4, availableParallelism() - 1))),
  THUMBNAIL_JOB_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(3600).default(30),
  THUMBNAIL_MAX_ATTEMPTS: int(1, 100).default(5),
  ALLOWED_CONTENT_TYPES: z
    .string()
    .default(ALLOWED_TYPES.join(","))
    .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.enum(ALLOWED_TYPES, { error: `expected a subset of ${ALLOWED_TYPES.join(",")}` })).min(1)),
  ALLOW_ANONYMOUS_UPLOADS: bool.default(true),
  // Unset: open until the first account exists (it becomes the admin); true: always; false: never.
  REGISTRATION_ENABLED: bool.optional(),
  JWT_SECRET_KEY: z.string().min(32, "expected at least 32 characters (HS256 wants a key of 256 bits)").max(4096).optional(),
  JWT_EXPIRE_MINUTES: int(1, 366 * 24 * 60).default(24 * 60),
  // argon2id cost (Bun.password): 64 MiB and 2 passes by default. Lower only for tests.
  PASSWORD_HASH_MEMORY_KIB: int(1024, 4 * 1024 * 1024).default(65_536),
  PASSWORD_HASH_TIME_COST: int(1, 100).default(2),
  LOGIN_RATE_LIMIT_PER_CLIENT: int(1, 1_000_000).default(20),
  LOGIN_RATE_LIMIT_PER_ACCOUNT: int(1, 1_000_000).default(5),
  LOGIN_RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(300),
  RATE_LIMIT_ENABLED: bool.default(true),
  RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(10),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60),
  TRUSTED_PROXIES: z
    .string()
    .default("")
    .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(cidr)),
  UPLOAD_CONCURRENCY_LIMIT: int(1, 10_000).default(10),
  UPLOAD_CONCURRENCY_TIMEOUT: z.coerce.number().min(0).max(3600).default(30),
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3600).default(10),
  REQUEST_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(BUN_MAX_IDLE_TIMEOUT_SECONDS, `expected at most ${BUN_MAX_IDLE_TIMEOUT_SECONDS} (the longest idle timeout Bun supports)`)
    .default(60),
  // Unset: 5 s, or half of REQUEST_TIMEOUT_SECONDS when that is shorter.
  DATABASE_QUERY_TIMEOUT_SECONDS: z.coerce.number().min(0.05).max(300).optional(),
  UPLOAD_BODY_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(3600).default(60),
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().min(1).max(7 * 86_400).default(3600),
  RECONCILE_GRACE_SECONDS: z.coerce.number().min(0.1).max(7 * 86_400).default(900),
}).transform((e) => ({
  ...e,
  DATABASE_QUERY_TIMEOUT_SECONDS: e.DATABASE_QUERY_TIMEOUT_SECONDS ?? Math.min(5, e.REQUEST_TIMEOUT_SECONDS / 2),
  // auto: one process per core, but the embedded database can be opened by one process only.
  WORKERS: e.WORKERS === "auto" ? (e.DATABASE_URL ? availableParallelism() : 1) : e.WORKERS,
})).superRefine((e, ctx) => {
  if (e.WORKERS > 1 && !e.DATABASE_URL) {
    ctx.addIssue({ code: "custom", path: ["WORKERS"], message: "more than 1 needs DATABASE_URL (the embedded PGlite database can be opened by one process only)" });
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) {
    ctx.addIssue({ code: "custom", path: ["METRICS_PORT"], message: "must differ from PORT" });
  }
  // A stuck query must answer 503 before Bun's idle timeout drops the connection.
  if (e.DATABASE_QUERY_TIMEOUT_SECONDS >= e.REQUEST_TIMEOUT_SECONDS) {
    ctx.addIssue({ code: "custom", path: ["DATABASE_QUERY_TIMEOUT_SECONDS"], message: `must be below REQUEST_TIMEOUT_SECONDS (${e.REQUEST_TIMEOUT_SECONDS})` });
  }
  // An upload's file exists before its row commits, for at most ~2 query deadlines (the insert
  // retries); the reconciler must not treat such a file as an orphan.
  if (e.RECONCILE_GRACE_SECONDS <= 2 * e.DATABASE_QUERY_TIMEOUT_SECONDS) {
    ctx.addIssue({ code: "custom", path: ["RECONCILE_GRACE_SECONDS"], message: `must exceed twice DATABASE_QUERY_TIMEOUT_SECONDS (${2 * e.DATABASE_QUERY_TIMEOUT_SECONDS} s)` });
  }
  if (e.STORAGE_BACKEND === "s3") {
    for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
      if (!e[name]) ctx.addIssue({ code: "custom", path: [name], message: "required with STORAGE_BACKEND=s3" });
    }
  } else if (e.S3_PRESIGNED_DOWNLOADS) {
    ctx.addIssue({ code: "custom", path: ["S3_PRESIGNED_DOWNLOADS"], message: "only with STORAGE_BACKEND=s3" });
  }
  // One Redis deployment: a single node (REDIS_URL or REDIS_HOST...), a Sentinel group, or a Cluster.
  const topologies = (["REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES"] as const).filter((k) => e[k] !== undefined);
  if (topologies.length > 1) {
    ctx.addIssue({ code: "custom", path: [topologies[1]!], message: `set only one of ${topologies.join(", ")}` });
  }
  if (e.REDIS_CLUSTER_NODES && e.REDIS_DB !== 0) {
    ctx.addIssue({ code: "custom", path: ["REDIS_DB"], message: "must be 0 with REDIS_CLUSTER_NODES (a cluster has only database 0)" });
  }
});

/**
 * The seed system's MinIO settings, accepted as aliases of the S3_* ones (which win when both are
 * set). MINIO_ENDPOINT may be host:port (scheme from MINIO_SECURE) as the MinIO SDKs take it.
 */
function withMinioAliases(env: Record<string, string>): Record<string, string> {
  const out = { ...env };
  const alias = (to: string, value: string | undefined) => {
    if (value !== undefined && out[to] === undefined) out[to] = value;
  };
  const endpoint = env.MINIO_ENDPOINT;
  const secure = /^(true|1|yes)$/i.test(env.MINIO_SECURE ?? "");
  alias("S3_ENDPOINT", endpoint === undefined || /^https?:\/\//.test(endpoint) ? endpoint : `${secure ? "https" : "http"}://${endpoint}`);
  alias("S3_ACCESS_KEY_ID", env.MINIO_ACCESS_KEY);
  alias("S3_SECRET_ACCESS_KEY", env.MINIO_SECRET_KEY);
  alias("S3_BUCKET", env.MINIO_BUCKET ?? env.MINIO_BUCKET_NAME);
  alias("S3_REGION", env.MINIO_REGION);
  return out;
}

export type Env = z.infer<typeof schema>;
export type Config = Env & { LOCAL_STORAGE_PATH: string; maxFileBytes: number };
export type AllowedType = (typeof ALLOWED_TYPES)[number];

const SECRET_VARIABLES = new Set(["JWT_SECRET_KEY", "REDIS_PASSWORD"]);

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment once; throws ConfigError whose message is one line naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "unset", as in most shells' `VAR= cmd` usage.
  const cleaned = withMinioAliases(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "")) as Record<string, string>);
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? "environment");
    // Secrets are named, never echoed.
    const got = SECRET_VARIABLES.has(name) ? undefined : cleaned[name];
    throw new ConfigError(`invalid ${name}${got === undefined ? "" : `=${JSON.stringify(got)}`}: ${issue.message}`);
  }
  const e = parsed.data;
  return {
    ...e,
    LOCAL_STORAGE_PATH: e.LOCAL_STORAGE_PATH ?? join(e.DATA_DIR, "images"),
    maxFileBytes: Math.floor(e.MAX_FILE_SIZE_MB * 1024 * 1024),
  };
}

/** One line per variable, for `chitram --help`. */
export const CONFIG_HELP: ReadonlyArray<[string, string, string]> = [
  ["PORT / HOST", "3000 / 0.0.0.0", "listen address"],
  ["PUBLIC_URL", "unset", "absolute base URL for url, thumbnail_url and Location, e.g. https://img.example.com"],
  ["CORS_ORIGINS", "empty (off)", "* or comma-separated origins allowed to call the API from browsers"],
  ["ACCESS_LOG", "true", "one JSON line per request on stdout"],
  ["DATABASE_URL", "unset", "postgres:// URL; unset → embedded PGlite in DATA_DIR"],
  ["DATA_DIR", "./data", "embedded database and local images"],
  ["STORAGE_BACKEND / LOCAL_STORAGE_PATH", "local / $DATA_DIR/images", "where image bytes live"],
  ["STORAGE_BACKEND=s3: S3_ENDPOINT / S3_BUCKET / S3_REGION", "AWS / - / us-east-1", "object storage (MINIO_* aliases accepted)"],
  ["S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY", "-", "required with s3"],
  ["S3_FORCE_PATH_STYLE / S3_PREFIX", "true / empty", "path-style URLs (MinIO); key prefix in the bucket"],
  ["S3_PRESIGNED_DOWNLOADS / S3_PRESIGN_EXPIRES_SECONDS", "false / 300", "redirect downloads to a presigned URL"],
  ["REDIS_URL or REDIS_HOST/PORT/PASSWORD/DB", "localhost / 6379 / none / 0", "metadata cache"],
  ["REDIS_SENTINELS / REDIS_SENTINEL_MASTER", "unset / mymaster", "host:port,... of Sentinels instead of one Redis"],
  ["REDIS_CLUSTER_NODES", "unset", "host:port,... of Redis Cluster nodes instead of one Redis"],
  ["CACHE_ENABLED / CACHE_TTL_SECONDS", "true / 3600", ""],
  ["CACHE_KEY_PREFIX / CACHE_DEBUG", "chitram / false", "prefix also used by rate-limit keys"],
  ["CACHE_L1_MAX_ENTRIES / CACHE_L1_MAX_MB / CACHE_L1_TTL_SECONDS", "50000 / 64 / 60", "in-process tier in front of Redis, per process; 0 entries = off"],
  ["WORKERS", "1", "server processes on PORT (reusePort), supervised; auto = one per core (needs DATABASE_URL)"],
  ["METRICS_PORT", "unset", "serve /metrics (Prometheus) on this port instead of PORT"],
  ["MAX_FILE_SIZE_MB / MAX_IMAGE_PIXELS", "5 / 50000000", "upload limits"],
  ["ALLOWED_CONTENT_TYPES", ALLOWED_TYPES.join(","), "subset of these"],
  ["STRIP_METADATA", "true", "remove GPS/EXIF/XMP/IPTC/comments from stored originals (orientation and colour profile kept)"],
  ["THUMBNAIL_WORKERS", "cores - 1 (1-4)", "Workers making thumbnails on this instance; 0 = none here (jobs wait for another instance)"],
  ["THUMBNAIL_JOB_TIMEOUT_SECONDS / THUMBNAIL_MAX_ATTEMPTS", "30 / 5", "per-job time limit; attempts before a job is failed"],
  ["ALLOW_ANONYMOUS_UPLOADS", "true", "false: uploads need a bearer token (401 otherwise)"],
  ["REGISTRATION_ENABLED", "unset", "unset: open until the first account (the admin) exists; true: always open; false: closed"],
  ["JWT_SECRET_KEY", "unset", "HS256 key, at least 32 characters; unset: generated once and kept in the database"],
  ["JWT_EXPIRE_MINUTES", "1440", "how long a sign-in lasts (access tokens, browser sessions)"],
  ["PASSWORD_HASH_MEMORY_KIB / _TIME_COST", "65536 / 2", "argon2id cost"],
  ["RATE_LIMIT_ENABLED / _PER_MINUTE / _WINDOW_SECONDS", "true / 10 / 60", "uploads per user (authenticated) or per client"],
  ["LOGIN_RATE_LIMIT_PER_CLIENT / _PER_ACCOUNT / _WINDOW_SECONDS", "20 / 5 / 300", "login attempts per client address and per email (also caps register and password-reset per client)"],
  ["TRUSTED_PROXIES", "empty", "CIDRs whose X-Forwarded-For is believed"],
  ["UPLOAD_CONCURRENCY_LIMIT / _TIMEOUT", "10 / 30 s", "upload slots per instance"],
  ["SHUTDOWN_TIMEOUT_SECONDS / REQUEST_TIMEOUT_SECONDS", "10 / 60", "graceful drain, idle/slow client bound (at most 255)"],
  ["DATABASE_QUERY_TIMEOUT_SECONDS", "5", "a database call past this answers 503 (below REQUEST_TIMEOUT_SECONDS)"],
  ["UPLOAD_BODY_TIMEOUT_SECONDS", "60", "an upload body must arrive within this (408)"],
  ["RECONCILE_INTERVAL_SECONDS / RECONCILE_GRACE_SECONDS", "3600 / 900", "storage sweep: files without rows older than the grace"],
];
