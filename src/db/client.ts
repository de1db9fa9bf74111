import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { runMigrations } from "./migrate.ts";
import { loadPgliteAssets } from "./pglite-assets.ts";
import * as schema from "./schema.ts";

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A database connection the app owns: drizzle on top, plus what start-up, health and shutdown need. */
export type DatabaseHandle = {
  db: Database;
  kind: "postgres" | "pglite";
  /** Connections in the pool: the repository keeps queries in flight at or below it. */
  maxConnections: number;
  /** Round-trips `select 1`; rejects when the database is unreachable. */
  ping(): Promise<void>;
  migrate(): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** Called with every SQL statement drizzle sends (tests count queries with it). */
  logQuery?: (query: string) => void;
};
export type PostgresOptions = DatabaseOptions & { maxConnections?: number; connectTimeoutSeconds?: number };

const loggerOf = (opts: DatabaseOptions) => (opts.logQuery ? { logger: { logQuery: opts.logQuery } } : {});

/** postgres.js pool. Fails fast (5 s connect timeout) so an unreachable database becomes a 503, not a hang. */
export function createPostgresDatabase(url: string, opts: PostgresOptions = {}): DatabaseHandle {
  const maxConnections = opts.maxConnections ?? 10;
  const client = postgres(url, {
    max: maxConnections,
    connect_timeout: opts.connectTimeoutSeconds ?? 5,
    idle_timeout: 60,
    onnotice: () => {},
  });
  const db = drizzlePostgres(client, { schema, ...loggerOf(opts) }) as unknown as Database;
  return {
    db,
    kind: "postgres",
    maxConnections,
    ping: async () => {
      await client`select 1`;
    },
    migrate: async () => {
      // Session-level advisory locks belong to one connection, so migrate on a dedicated one.
      const single = postgres(url, { max: 1, connect_timeout: opts.connectTimeoutSeconds ?? 5, onnotice: () => {} });
      try {
        await runMigrations(drizzlePostgres(single, { schema }) as unknown as Database);
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * Embedded PostgreSQL (PGlite) in `dataDir`, or in memory when `dataDir` is undefined.
 * PGlite runs on the calling thread and has a single connection.
 */
export async function createPgliteDatabase(dataDir: string | undefined, opts: DatabaseOptions = {}): Promise<DatabaseHandle> {
  if (dataDir !== undefined) mkdirSync(dirname(resolve(dataDir)), { recursive: true }); // ENOENT otherwise
  const pg = await PGlite.create(dataDir ?? "memory://", { ...(await loadPgliteAssets()) });
  const db = drizzlePglite(pg, { schema, ...loggerOf(opts) }) as unknown as Database;
  return {
    db,
    kind: "pglite",
    maxConnections: 1,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    migrate: () => runMigrations(db),
    close: async () => {
      if (!pg.closed) await pg.close();
    },
  };
}
