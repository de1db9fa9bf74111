// The helper that gives a test its own redis-server: restarts on the same port, takes extra
// server arguments, and keeps its snapshots in a folder the test can rewind.
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { startTestRedis } from "./support/redis-server.ts";
import { HAVE_REDIS } from "./support/services.ts";

describe.if(HAVE_REDIS)("startTestRedis", () => {
  test("restart keeps the port and loses what was never saved; stop removes the folder", async () => {
    const redis = await startTestRedis();
    try {
      expect(redis.port).not.toBe(6379);
      await redis.command("SET", "k", "v");
      await redis.restart();
      expect(await redis.command("PING")).toBe("+PONG");
      expect(await redis.command("GET", "k")).toBe("(nil)");
    } finally {
      await redis.stop();
    }
    expect(existsSync(redis.dir)).toBe(false);
    expect(await redis.command("PING").catch(() => "refused")).toBe("refused");
  }, 15_000);

  test("extra arguments win over the defaults: maxmemory with noeviction refuses writes", async () => {
    const redis = await startTestRedis({ args: ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"] });
    try {
      const value = "x".repeat(512 * 1024);
      let reply = "";
      for (let i = 0; i < 20 && !reply.startsWith("-OOM"); i++) reply = await redis.command("SET", `big:${i}`, value);
      expect(reply).toMatch(/^-OOM/);
    } finally {
      await redis.stop();
    }
  }, 15_000);

  test("a snapshot in dir can be restored by restart (older RDB file) or DEBUG RELOAD NOSAVE", async () => {
    const redis = await startTestRedis({ args: ["--enable-debug-command", "yes"] });
    try {
      const rdb = join(redis.dir, "dump.rdb");
      await redis.command("SET", "k", "old");
      expect(await redis.command("SAVE")).toBe("+OK");
      copyFileSync(rdb, `${rdb}.old`);

      await redis.command("SET", "k", "new");
      expect(await redis.command("SAVE")).toBe("+OK");
      await redis.command("SET", "k", "newest");
      expect(await redis.command("DEBUG", "RELOAD", "NOSAVE")).toBe("+OK");
      expect(await redis.command("GET", "k")).toBe("new"); // back to the last snapshot

      await redis.kill();
      copyFileSync(`${rdb}.old`, rdb);
      await redis.start();
      expect(await redis.command("GET", "k")).toBe("old");
    } finally {
      await redis.stop();
    }
  }, 15_000);
});
