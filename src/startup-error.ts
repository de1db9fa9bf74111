import type { Config } from "./config.ts";

/** A start-up failure whose message is already the one line an operator should read. */
export class StartupError extends Error {
  override name = "StartupError";
}

const DATABASE_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  CONNECTION_CLOSED: "the server closed the connection",
  CONNECTION_ENDED: "the server ended the connection",
  "57P03": "the server is starting up or shutting down",
};

/**
 * One line for any error that stopped start-up: what failed, where, and the code to search for.
 * Never a stack trace, never a password.
 */
export function describeStartupError(err: unknown, config: Pick<Config, "DATABASE_URL">): string {
  if (err instanceof StartupError) return err.message;
  const coded = causeWithCode(err);
  const code = coded?.code;
  const db = config.DATABASE_URL ? databaseTarget(config.DATABASE_URL) : undefined;
  if (db && code) {
    if (code === "CONNECT_TIMEOUT") return `database at ${db.where} did not answer within the connect timeout (CONNECT_TIMEOUT); is it running and reachable?`;
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `cannot resolve the database host ${JSON.stringify(db.host)} from DATABASE_URL (${code})`;
    if (code === "3D000") return `database ${JSON.stringify(db.name)} does not exist at ${db.where} (3D000); create it or fix DATABASE_URL`;
    if (code === "28P01" || code === "28000") return `database at ${db.where} refused user ${JSON.stringify(db.user)}: ${oneLine(coded.message)} (${code})`;
    if (DATABASE_REASONS[code]) return `cannot connect to the database at ${db.where}: ${DATABASE_REASONS[code]} (${code})`;
    if (/^[0-9A-Z]{5}$/.test(code)) return `database at ${db.where} failed during start-up: ${oneLine(coded.message)} (${code})`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `start-up failed: ${oneLine(message)}${code ? ` (${code})` : ""}`;
}

/** The innermost error in the `cause` chain that carries a string `code` (drizzle wraps driver errors). */
function causeWithCode(err: unknown): { code: string; message: string } | undefined {
  let found: { code: string; message: string } | undefined;
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") found = { code, message: String((e as { message?: unknown }).message ?? "") };
  }
  return found;
}

function databaseTarget(url: string) {
  try {
    const u = new URL(url);
    return { host: u.hostname, where: `${u.hostname}:${u.port || 5432}`, name: decodeURIComponent(u.pathname.slice(1)) || u.username, user: decodeURIComponent(u.username) };
  } catch {
    return { host: "?", where: "DATABASE_URL", name: "?", user: "?" };
  }
}

const oneLine = (s: string) => s.split("\n")[0]!.trim().slice(0, 300);
