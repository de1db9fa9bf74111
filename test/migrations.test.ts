import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import postgres from "postgres";
import { createPostgresDatabase } from "../src/db/client.ts";
import { embeddedMigrationMetas } from "../src/db/migrate.ts";
import { outPath, renderMigrationsModule } from "../scripts/embed-migrations.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";

describe("embedded migrations", () => {
  test("src/db/migrations.gen.ts is up to date with drizzle/ (run `bun run db:generate`)", async () => {
    expect(await Bun.file(outPath).text()).toBe(await renderMigrationsModule());
  });

  test("are exactly what drizzle's own migrator would read from drizzle/", () => {
    expect(embeddedMigrationMetas()).toEqual(readMigrationFiles({ migrationsFolder: join(import.meta.dir, "..", "drizzle") }));
  });
});

describe.if(HAVE_POSTGRES)("migrating PostgreSQL", () => {
  test("instances starting together apply each migration once (advisory lock)", async () => {
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    const name = `chitram_mig_${Date.now()}_${process.pid}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    const instances = Array.from({ length: 4 }, () => createPostgresDatabase(url.href));
    try {
      await Promise.all(instances.map((db) => db.migrate()));
      await Promise.all(instances.map((db) => db.migrate())); // and again: a no-op
      const check = postgres(url.href, { max: 1 });
      const applied = await check`select hash from drizzle.__drizzle_migrations`;
      const [{ n }] = (await check`select count(*)::int as n from information_schema.tables where table_name = 'images'`) as unknown as [{ n: number }];
      await check.end();
      expect(applied.map((r) => r.hash)).toEqual(embeddedMigrationMetas().map((m) => m.hash));
      expect(n).toBe(1);
    } finally {
      await Promise.all(instances.map((db) => db.close()));
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
