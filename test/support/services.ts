// Where the real services for tests come from, and what happens when they are missing:
// with CI=true a missing service fails the test run; on a laptop the tests that need it skip, saying so.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";

export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probePostgres(): Promise<string | undefined> {
  const sql = postgres(TEST_DATABASE_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

const redisServerBinary = Bun.which("redis-server");

/** The newest /usr/lib/postgresql/N/bin holding initdb and postgres (or TEST_PG_BIN_DIR). */
function findPgBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const candidates = process.env.TEST_PG_BIN_DIR ? [process.env.TEST_PG_BIN_DIR] : versions.map((v) => join(root, v, "bin"));
  return candidates.find((dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres")));
}

/** uid/gid of the `postgres` OS user: the server refuses to run as root, and the tests run as root. */
function postgresOsUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

const pgBinDir = findPgBinDir();
const runAsRoot = process.getuid?.() === 0;
const setprivBinary = Bun.which("setpriv");
export const PG_OS_USER = runAsRoot ? postgresOsUser() : undefined;
const pgBinariesProblem = !pgBinDir
  ? "no initdb/postgres under /usr/lib/postgresql/*/bin (set TEST_PG_BIN_DIR)"
  : runAsRoot && !PG_OS_USER
    ? "running as root, and there is no postgres OS user to run the server as"
    : runAsRoot && !setprivBinary
      ? "running as root, and setpriv (util-linux) is missing"
      : undefined;

export const postgresProblem = await probePostgres();
export const redisProblem = redisServerBinary ? undefined : "redis-server is not installed";

/** True when the service is there; in CI a missing one throws (the run fails), elsewhere its tests skip, saying so. */
export function gate(name: string, problem: string | undefined): boolean {
  if (!problem) return true;
  if (IN_CI) throw new Error(`${name} is required in CI but unavailable: ${problem}`);
  console.warn(`[skip] ${name} unavailable (${problem}); tests that need it are skipped`);
  return false;
}

/** True when tests against real PostgreSQL can run; throws in CI when they cannot. */
export const HAVE_POSTGRES = gate(`PostgreSQL at ${TEST_DATABASE_URL.replace(/\/\/[^@]*@/, "//")}`, postgresProblem);
/** True when tests may start their own redis-server; throws in CI when they cannot. */
export const HAVE_REDIS = gate("redis-server", redisProblem);
export const REDIS_SERVER_BINARY = redisServerBinary ?? "redis-server";
/** True when tests may also run Redis Sentinel and Cluster (redis-server + redis-cli); throws in CI when they cannot. */
export const HAVE_REDIS_CLUSTER_TOOLS = gate("redis-cli (Sentinel and Cluster tests)", redisProblem ?? (Bun.which("redis-cli") ? undefined : "redis-cli is not installed"));
/** True when tests may run a PostgreSQL server of their own (initdb + postgres); throws in CI when they cannot. */
export const HAVE_PG_BINARIES = gate("PostgreSQL server binaries", pgBinariesProblem);
/** promtool (Debian's `prometheus` package; .ci/run installs it): Prometheus' own exposition-format checker. */
export const PROMTOOL = Bun.which("promtool");
/** True when /metrics can be checked by promtool; throws in CI when it cannot. */
export const HAVE_PROMTOOL = gate("promtool (apt-get install prometheus)", PROMTOOL ? undefined : "promtool is not installed");
export const PG_BIN_DIR = pgBinDir ?? "/usr/lib/postgresql/missing/bin";
/** Prefix that runs a command as the postgres OS user when the tests run as root; empty otherwise. */
export const AS_POSTGRES_USER: string[] = runAsRoot && PG_OS_USER && setprivBinary
  ? [setprivBinary, `--reuid=${PG_OS_USER.uid}`, `--regid=${PG_OS_USER.gid}`, "--clear-groups", "--"]
  : [];

/**
 * A database of its own on the shared PostgreSQL, for tests that look at whole tables (the
 * reconciler compares every row with one storage folder). Dropped by `drop()`.
 */
export async function createScratchDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `chitram_${label}_${Date.now()}_${process.pid}`.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const a = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end({ timeout: 1 });
      }
    },
  };
}
