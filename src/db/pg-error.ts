/**
 * The SQLSTATE (and constraint, when there is one) of a PostgreSQL error, whichever driver raised
 * it and however deep drizzle wrapped it: postgres.js names the constraint `constraint_name`,
 * PGlite `constraint`. Undefined for errors that are not the server's.
 */
export function pgError(err: unknown): { code: string; constraint: string | undefined } | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, constraint_name, constraint } = e as { code?: unknown; constraint_name?: unknown; constraint?: unknown };
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
      const name = constraint_name ?? constraint;
      return { code, constraint: typeof name === "string" ? name : undefined };
    }
  }
  return undefined;
}

export const UNIQUE_VIOLATION = "23505";
export const FOREIGN_KEY_VIOLATION = "23503";
