// Where the real services for tests come from, and what happens when they are missing:
// with CI=true a missing service fails the test run; on a laptop the tests that need it skip, saying so.
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

export const postgresProblem = await probePostgres();
export const redisProblem = redisServerBinary ? undefined : "redis-server is not installed";

function gate(name: string, problem: string | undefined): boolean {
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
