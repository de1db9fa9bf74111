import { sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { CANONICAL_UUID } from "../untrusted.ts";

/**
 * Keyset pagination over (created_at, id), newest first: a page is "the next rows strictly before
 * the last one shown", so rows inserted or deleted meanwhile never shift a page (no duplicates,
 * no skips), and each page is one index range scan however deep it is.
 *
 * The cursor carries created_at as PostgreSQL prints it (microseconds and UTC offset, so it
 * parses back to exactly the same instant; a JavaScript Date would lose the microseconds).
 */
export type Keyset = { at: string; id: string };

const AT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

export const encodeCursor = (k: Keyset) => Buffer.from(JSON.stringify([k.at, k.id])).toString("base64url");

/** The cursor a client sent back, or undefined when it is not one this server made. */
export function decodeCursor(cursor: string): Keyset | undefined {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(v) || v.length !== 2) return undefined;
    const [at, id] = v;
    if (typeof at !== "string" || !AT.test(at) || typeof id !== "string" || !CANONICAL_UUID.test(id)) return undefined;
    return { at, id };
  } catch {
    return undefined;
  }
}

/** created_at as the cursor carries it; select it with each row. */
export const keysetAt = (createdAt: PgColumn) => sql<string>`${createdAt}::text`;

/** Rows strictly older than the cursor's, in (created_at desc, id desc) order. */
export const olderThan = (createdAt: PgColumn, id: PgColumn, k: Keyset): SQL => sql`(${createdAt}, ${id}) < (${k.at}::timestamptz, ${k.id}::uuid)`;

/** The order that goes with `olderThan` (an index on (…, created_at, id) serves it backwards). */
export const newestFirst = (createdAt: PgColumn, id: PgColumn) => [sql`${createdAt} desc`, sql`${id} desc`];
