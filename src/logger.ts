import { writeSync } from "node:fs";

/** Line-oriented logger. One JSON object per line on stdout/stderr; `fields` stay structured. */
export type Logger = {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  /**
   * Writes a line that is already one JSON object at info level (the access log's, see
   * http/request-log.ts); `ascii`: the caller knows it is (its length is its size in bytes).
   */
  infoLine(line: string, ascii?: boolean): void;
  /** Writes out what is buffered (before exiting). */
  flush?(): void;
};

// Access-log lines (one per request) are written in batches: a write(2) per line was a visible
// share of a cache hit. A batch is whole lines, goes out within FLUSH_MS, and is at most
// `batchBytes`: PIPE_BUF (4096) when several worker processes share one stdout, so that on a pipe
// their writes never interleave within a line; 64 KiB for a single process. Any other line is
// written at once (after the batch before it, keeping the order); warnings and errors on stderr.
export const PIPE_BUF = 4096;
const SINGLE_PROCESS_BATCH_BYTES = 64 * 1024;
const FLUSH_MS = 50;

/** Batches lines for one file descriptor (see above); `flush` writes synchronously. */
export function createLineBuffer(write: (chunk: Uint8Array) => void, fd: number, batchBytes = PIPE_BUF) {
  // Lines are copied into a buffer as they come (a batch handed to write() is never touched again).
  let buf = Buffer.allocUnsafe(batchBytes);
  let used = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drain = (sync: boolean) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (used === 0) return;
    const chunk = buf.subarray(0, used);
    buf = Buffer.allocUnsafe(batchBytes);
    used = 0;
    if (sync) writeSync(fd, chunk);
    else write(chunk);
  };
  const push = (line: string, ascii = false) => {
    const n = (ascii ? line.length : Buffer.byteLength(line)) + 1;
    if (used + n > batchBytes) drain(false);
    if (n > batchBytes) {
      write(Buffer.from(`${line}\n`));
      return;
    }
    used += buf.write(line, used, ascii ? "latin1" : "utf8");
    buf[used++] = 10;
    if (!timer) {
      timer = setTimeout(() => drain(false), FLUSH_MS);
      timer.unref?.();
    }
  };
  return {
    push,
    /** Writes what is buffered, then this line, now. */
    now(line: string) {
      push(line);
      drain(false);
    },
    flush: () => drain(true),
  };
}

export function createLogger(opts: { debug?: boolean; write?: (line: string, level: string) => void; sharedStdout?: boolean } = {}): Logger {
  let flush: (() => void) | undefined;
  let write = opts.write;
  let batched = write;
  if (!write) {
    const out = createLineBuffer((chunk) => void process.stdout.write(chunk), 1, opts.sharedStdout ? PIPE_BUF : SINGLE_PROCESS_BATCH_BYTES);
    flush = out.flush;
    process.on("exit", out.flush);
    write = (line: string, level: string) => {
      if (level === "error" || level === "warn") process.stderr.write(`${line}\n`);
      else out.now(line);
    };
    batched = (line: string, _level: string, ascii?: boolean) => out.push(line, ascii);
  }
  const w = write;
  const wBatched: (line: string, level: string, ascii?: boolean) => void = batched!;
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    w(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }), level);
  return {
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    debug: opts.debug ? log("debug") : () => {},
    infoLine: (line, ascii) => wBatched(line, "info", ascii),
    ...(flush ? { flush } : {}),
  };
}

/** A logger that remembers lines, for tests that assert on what was logged. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ debug: true, write: (line) => lines.push(line) }), { lines });
}
