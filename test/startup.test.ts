// Start-up failures of the real program: each is one line on stderr and a non-zero exit, never a
// stack trace and never a server that hangs or serves half-configured.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN, runChitram, startChitram } from "./support/process.ts";
import { spareTcpPort } from "./support/redis-server.ts";
import { HAVE_POSTGRES, TEST_DATABASE_URL } from "./support/services.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "chitram-startup-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function expectOneLine(r: { code: number; stderr: string }, code: number, pattern: RegExp) {
  expect(r.code).toBe(code);
  const text = r.stderr.trim();
  expect(text.split("\n")).toHaveLength(1);
  expect(text).toMatch(/^chitram: /);
  expect(text).toMatch(pattern);
  expect(text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/); // no stack
}

describe("command line and configuration", () => {
  test("an unknown argument prints the usage and exits 2 without starting", async () => {
    const r = await runChitram({ args: ["--port", "8080"], env: { PORT: String(await spareTcpPort()) } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown argument "--port"');
    expect(r.stderr).toContain("Usage: chitram");
    expect(r.stdout).toBe("");
  });

  test("a value Bun cannot honour is refused, not clamped: REQUEST_TIMEOUT_SECONDS=300", async () => {
    const r = await runChitram({ env: { REQUEST_TIMEOUT_SECONDS: "300" } });
    expectOneLine(r, 2, /invalid REQUEST_TIMEOUT_SECONDS="300": expected at most 255/);
  });

  test("a data folder that cannot be created is one line naming DATA_DIR", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "");
    const r = await runChitram({ env: { DATA_DIR: join(file, "data"), PORT: String(await spareTcpPort()) } });
    expectOneLine(r, 1, /DATA_DIR .*a-file\/data is not writable by uid \d+ \(ENOTDIR\)/);
  });
});

describe.if(HAVE_POSTGRES)("start-up against PostgreSQL", () => {
  const base = async () => ({ DATA_DIR: tempDir(), PORT: String(await spareTcpPort()), HOST: "127.0.0.1", DATABASE_URL: TEST_DATABASE_URL });

  test("database refused", async () => {
    const r = await runChitram({ env: { ...(await base()), DATABASE_URL: `postgres://postgres@127.0.0.1:${await spareTcpPort()}/chitram` } });
    expectOneLine(r, 1, /cannot connect to the database at 127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
  });

  test("database missing", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = "/chitram_no_such_database";
    const r = await runChitram({ env: { ...(await base()), DATABASE_URL: url.href } });
    expectOneLine(r, 1, /database "chitram_no_such_database" does not exist at .* \(3D000\)/);
  });

  test("a database that accepts connections and never answers: start-up gives up after the connect timeout", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await runChitram({ env: { ...(await base()), DATABASE_URL: `postgres://postgres@127.0.0.1:${silent.port}/chitram` }, timeoutMs: 30_000 });
      expectOneLine(r, 1, /database at 127\.0\.0\.1:\d+ did not answer within the connect timeout \(CONNECT_TIMEOUT\)/);
      expect(r.ms).toBeLessThan(15_000);
    } finally {
      silent.stop(true);
    }
  }, 35_000);

  test("port in use", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await runChitram({ env: { ...(await base()), PORT: String(taken.port) } });
      expectOneLine(r, 1, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken.port}: port ${taken.port} is already in use \\(EADDRINUSE\\)`));
    } finally {
      taken.stop(true);
    }
  });

  test("a HOST that does not resolve, and one that is not this machine's", async () => {
    const r = await runChitram({ env: { ...(await base()), HOST: "no-such-host.invalid" } });
    expectOneLine(r, 1, /HOST="no-such-host\.invalid" cannot be resolved/);
    const bad = await runChitram({ env: { ...(await base()), HOST: "exa mple" } });
    expectOneLine(bad, 2, /invalid HOST="exa mple": expected a host name or an IP address/);
    const foreign = await runChitram({ env: { ...(await base()), HOST: "192.0.2.1" } }); // TEST-NET-1: never local
    expectOneLine(foreign, 1, /cannot listen on 192\.0\.2\.1:\d+: HOST is not an address of this machine \(EADDRNOTAVAIL\)/);
  });
});

describe("the embedded database's data folder", () => {
  test("a second process on the same DATA_DIR refuses with one line; the lock goes with the process", async () => {
    const dataDir = tempDir();
    const first = await startChitram({ env: { DATA_DIR: dataDir } });
    try {
      console.log(`embedded PGlite, fresh DATA_DIR: first answer after ${first.firstAnswerMs} ms (from source)`);
      const second = await runChitram({ env: { DATA_DIR: dataDir, PORT: String(await spareTcpPort()) } });
      expectOneLine(second, 1, new RegExp(`DATA_DIR .* is in use by another chitram process \\(pid ${first.proc.pid}\\)`));
      expect((await fetch(`${first.url}/health`)).status).toBe(200); // the first is undisturbed
    } finally {
      first.proc.kill("SIGKILL"); // no clean shutdown: the kernel must still drop the lock
      await first.proc.exited;
    }
    const again = await startChitram({ env: { DATA_DIR: dataDir } });
    console.log(`embedded PGlite, existing DATA_DIR: first answer after ${again.firstAnswerMs} ms (from source)`);
    expect(await again.stop()).toBe(0);
  }, 120_000);
});

// The container runs as a non-root user (Dockerfile: USER bun, uid 1000). Run the same start-up
// as that uid: with the data folder the image prepares it starts; with a root-owned one (what
// Docker makes of a VOLUME nobody created) it says so in one line instead of crash-looping.
const UID = 1000;
const asUser = ["setpriv", `--reuid=${UID}`, `--regid=${UID}`, "--clear-groups", "--"];
// Needs root to switch users, and a checkout and a bun that uid 1000 can read.
const canDropPrivileges = (() => {
  if (process.getuid?.() !== 0 || !Bun.which("setpriv")) return false;
  const hono = join(import.meta.dir, "..", "node_modules", "hono", "package.json");
  const check = Bun.spawnSync([...asUser, "/bin/sh", "-c", `test -r "${MAIN}" && test -r "${hono}" && test -x "${process.execPath}"`]);
  if (check.exitCode !== 0) console.warn(`[skip] uid ${UID} cannot read this checkout or run bun; the non-root start-up tests are skipped`);
  return check.exitCode === 0;
})();
describe.if(canDropPrivileges)("as a non-root user", () => {
  test("a fresh data folder owned by that user: starts on embedded PGlite and serves", async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const data = join(root, "data");
    mkdirSync(data);
    chownSync(data, UID, UID);
    const r = await startChitram({ prefix: asUser, env: { DATA_DIR: data, HOME: data } });
    try {
      const form = new FormData();
      form.append("file", new Blob([await Bun.file(join(import.meta.dir, "fixtures", "tiny.png")).arrayBuffer()]), "a.png");
      expect((await fetch(`${r.url}/api/v1/images/upload`, { method: "POST", body: form })).status).toBe(201);
    } finally {
      expect(await r.stop()).toBe(0);
    }
  }, 120_000);

  test("a root-owned data folder: one line, exit 1", async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const data = join(root, "data");
    mkdirSync(data, { mode: 0o755 });
    const r = await runChitram({ prefix: asUser, env: { DATA_DIR: data, HOME: root, PORT: String(await spareTcpPort()) } });
    expectOneLine(r, 1, new RegExp(`DATA_DIR ${data} is not writable by uid ${UID} \\(EACCES\\)`));
  });
});
