import { decodeCursor, encodeCursor, type Keyset } from "../db/keyset.ts";
import { ApiError } from "../errors.ts";

/** The `cursor` query parameter: undefined for the first page; 400 when it is not one this server gave out. */
export function cursorParam(cursor: string | undefined): Keyset | undefined {
  if (cursor === undefined) return undefined;
  const k = decodeCursor(cursor);
  if (!k) throw new ApiError("INVALID_REQUEST", "Invalid query: cursor is not one this server gave out", { location: "query", fields: [{ field: "cursor", message: "unknown cursor" }] });
  return k;
}

/** A page from `limit + 1` rows (the extra one only says that a next page exists) and its next cursor. */
export function pageOf<R extends { keysetAt: string; id: string }>(rows: R[], limit: number): { page: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? encodeCursor({ at: last.keysetAt, id: last.id }) : null };
}
