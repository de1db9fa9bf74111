import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { dlopen, FFIType } from "bun:ffi";
import type { Config } from "./config.ts";
import { StartupError } from "./startup-error.ts";

const LOCK_FILE = "chitram.lock";
const LOCK_EX = 2;
const LOCK_NB = 4;
// glibc (Debian, the official Bun image), musl (Alpine), macOS.
const LIBC = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "/usr/lib/libSystem.B.dylib"];

/** `guarded` is false only where no libc offers flock(2) (then nothing stops a second process). */
export type DataDirLock = { guarded: boolean; release(): void };

/**
 * Checks that the folders chitram writes to are writable, and with the embedded database takes
 * an exclusive lock on DATA_DIR: PGlite in two processes on one folder loses data, so a second
 * process refuses to start. Throws StartupError (one line).
 */
export function prepareDataDir(config: Config): DataDirLock | undefined {
  const embedded = !config.DATABASE_URL;
  if (embedded || isInside(config.LOCAL_STORAGE_PATH, config.DATA_DIR)) assertWritable("DATA_DIR", config.DATA_DIR);
  assertWritable(config.LOCAL_STORAGE_PATH === join(config.DATA_DIR, "images") ? "DATA_DIR" : "LOCAL_STORAGE_PATH", config.LOCAL_STORAGE_PATH);
  return embedded ? lockDataDir(config.DATA_DIR) : undefined;
}

function assertWritable(name: string, dir: string) {
  const probe = join(dir, `.chitram-write-test-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, "");
    rmSync(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const who = typeof process.getuid === "function" ? ` by uid ${process.getuid()}` : "";
    throw new StartupError(`${name} ${resolve(dir)} is not writable${who} (${e.code ?? e.message}); create it and give this user write access`);
  }
}

/**
 * flock(2) on DATA_DIR/chitram.lock: the kernel drops it when the process dies however it dies
 * (SIGKILL, OOM, power loss), so a stale lock can never keep chitram from starting, and no pid
 * can be mistaken for a live one after a restart (in a container chitram is always pid 1).
 * The file holds the holder's pid only for the error message.
 */
export function lockDataDir(dir: string): DataDirLock {
  const flock = loadFlock();
  if (!flock) return { guarded: false, release() {} };
  const path = join(dir, LOCK_FILE);
  // No O_TRUNC: the holder's pid must survive a second process opening the file.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const holder = readFileSync(path, "utf8").trim();
    closeSync(fd);
    throw new StartupError(
      `DATA_DIR ${resolve(dir)} is in use by another chitram process${/^\d+$/.test(holder) ? ` (pid ${holder})` : ""}; ` +
        "the embedded database allows one process per folder (use DATABASE_URL to run several)",
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { guarded: true, release: () => closeSync(fd) };
}

function loadFlock(): ((fd: number, op: number) => number) | undefined {
  for (const lib of LIBC) {
    try {
      const { symbols } = dlopen(lib, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
      return (fd, op) => symbols.flock(fd, op);
    } catch {
      // try the next name
    }
  }
  return undefined;
}

function isInside(child: string, parent: string): boolean {
  const c = resolve(child);
  const p = resolve(parent);
  return c === p || c.startsWith(`${p}/`);
}
