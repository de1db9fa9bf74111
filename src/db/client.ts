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
import { createQueryRunner, type QueryObserver, type QueryRunner } from "./query-runner.ts";
import * as schema from "./schema.ts";

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A database connection the app owns: drizzle on top, plus what start-up, health and shutdown need. */
export type DatabaseHandle = {
  db: Database;
  kind: "postgres" | "pglite";
  /** Every query goes through it: in-flight limit (the pool size) and the query deadline. */
  run: QueryRunner;
  queryTimeoutMs: number;
  /** Round-trips `select 1`; rejects when the database is unreachable. */
  ping(): Promise<void>;
  migrate(): Promise<void>;
  /** A connection of its own that receives NOTIFY messages (see NotificationListener). */
  openListener(handlers: ListenerHandlers): NotificationListener;
  close(): Promise<void>;
};

export type ListenerHandlers = {
  /** Shown as the connection's application_name (pg_stat_activity), e.g. `chitram:listen:<instance>`. */
  name: string;
  onNotify(channel: string, payload: string): void;
  /** The listening connection closed; nothing more arrives until `listen` succeeds again. */
  onClose(): void;
};

/**
 * LISTEN on a dedicated connection. `listen` (re)connects and subscribes; after `onClose` (or
 * `reset`, for a connection that hangs without closing) the caller must `listen` again and assume
 * it missed notifications in between.
 */
export type NotificationListener = {
  listen(channels: string[]): Promise<void>;
  /** NOTIFY sent on the listening connection itself (heartbeats prove that very connection works). */
  notify(channel: string, payload: string): Promise<void>;
  reset(): Promise<void>;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  /** Called with every SQL statement drizzle sends (tests count queries with it). */
  logQuery?: (query: string) => void;
  /** Deadline of one database call, waiting for a connection included (default 5 s). */
  queryTimeoutMs?: number;
  /** Told the duration and outcome of every database call (/metrics). */
  observeQuery?: QueryObserver;
};
export type PostgresOptions = DatabaseOptions & { maxConnections?: number; connectTimeoutSeconds?: number };

const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
const loggerOf = (opts: DatabaseOptions) => (opts.logQuery ? { logger: { logQuery: opts.logQuery } } : {});
const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** postgres.js pool. Fails fast (5 s connect timeout) so an unreachable database becomes a 503, not a hang. */
export function createPostgresDatabase(url: string, opts: PostgresOptions = {}): DatabaseHandle {
  const maxConnections = opts.maxConnections ?? 10;
  const queryTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const connectTimeout = opts.connectTimeoutSeconds ?? 5;
  const client = postgres(url, {
    max: maxConnections,
    connect_timeout: connectTimeout,
    idle_timeout: 60,
    onnotice: () => {},
    // The server gives up shortly after the client's deadline, so a statement that nobody waits
    // for any more (lock waits, a slow plan) frees its connection; a transaction left idle by a
    // client that vanished is ended too.
    connection: {
      statement_timeout: queryTimeoutMs + 1_000,
      idle_in_transaction_session_timeout: Math.max(queryTimeoutMs * 2, 10_000),
    },
  });
  const db = drizzlePostgres(client, { schema, ...loggerOf(opts) }) as unknown as Database;
  const run = createQueryRunner(maxConnections, queryTimeoutMs, opts.observeQuery);
  return {
    db,
    kind: "postgres",
    run,
    queryTimeoutMs,
    ping: () => run(async () => void (await client`select 1`)),
    migrate: async () => {
      // Session-level advisory locks belong to one connection, so migrate on a dedicated one
      // (without the statement timeout: waiting for another instance's migration is expected).
      const single = postgres(url, { max: 1, connect_timeout: connectTimeout, onnotice: () => {} });
      try {
        await runMigrations(drizzlePostgres(single, { schema }) as unknown as Database);
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    openListener(handlers) {
      let conn: postgres.Sql | undefined;
      let closed = false;
      const open = () => {
        if (conn) return conn;
        // onnotify/onclose are the options postgres.js's own listen() uses internally; its
        // listen() is not used because it gives up re-listening after one failed reconnect.
        const options = {
          max: 1,
          connect_timeout: connectTimeout,
          idle_timeout: 0,
          max_lifetime: null,
          fetch_types: false,
          keep_alive: 5,
          connection: { application_name: handlers.name },
          onnotice: () => {},
          onnotify: (channel: string, payload: string) => handlers.onNotify(channel, payload),
          // Only the current connection's closing matters; a replaced one closes after the fact.
          onclose: () => {
            if (!closed && conn === c) handlers.onClose();
          },
        } as postgres.Options<{}>;
        const c: postgres.Sql = postgres(url, options);
        conn = c;
        return c;
      };
      const drop = async () => {
        const c = conn;
        conn = undefined;
        await c?.end({ timeout: 0 }).catch(() => {});
      };
      return {
        async listen(channels) {
          const c = open();
          for (const ch of channels) await c.unsafe(`LISTEN ${quoteIdent(ch)}`);
        },
        async notify(channel, payload) {
          await open()`select pg_notify(${channel}, ${payload})`;
        },
        reset: drop,
        async close() {
          closed = true;
          await drop();
        },
      };
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
  const queryTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const run = createQueryRunner(1, queryTimeoutMs, opts.observeQuery);
  return {
    db,
    kind: "pglite",
    run,
    queryTimeoutMs,
    ping: () => run(async () => void (await db.execute(sql`select 1`))),
    migrate: () => runMigrations(db),
    openListener(handlers) {
      // In-process: notifications are delivered on commit and the "connection" never drops.
      const unsubscribe: Array<() => Promise<void>> = [];
      return {
        async listen(channels) {
          for (const ch of channels) unsubscribe.push(await pg.listen(ch, (payload) => handlers.onNotify(ch, payload)));
        },
        async notify(channel, payload) {
          await pg.query("select pg_notify($1, $2)", [channel, payload]);
        },
        async reset() {
          for (const u of unsubscribe.splice(0)) await u().catch(() => {});
        },
        async close() {
          for (const u of unsubscribe.splice(0)) await u().catch(() => {});
        },
      };
    },
    close: async () => {
      if (!pg.closed) await pg.close();
    },
  };
}
