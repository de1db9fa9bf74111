import { writeSync } from "node:fs";

/** Line-oriented logger. One JSON object per line on stdout/stderr; `fields` stay structured. */
export type Logger = {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Writes a line that is already one JSON object at info level (the access log's, see http/request-log.ts). */
  infoLine(line: string): void;
  /** Writes out what is buffered (before exiting). */
  flush?(): void;
};

// Access-log lines (one per request) are written in batches: a write(2) per line was a visible
// share of a cache hit. A batch is whole lines and at most PIPE_BUF bytes, so that several worker
// processes writing to one pipe never interleave within a line, and it goes out within FLUSH_MS.
// Any other line is written at once (after the batch before it, keeping the order); warnings and
// errors on stderr.
const PIPE_BUF = 4096;
const FLUSH_MS = 50;

/** Batches lines for one file descriptor (see above); `flush` writes synchronously. */
export function createLineBuffer(write: (chunk: string) => void, fd: number) {
  let parts: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drain = (sync: boolean) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (parts.length === 0) return;
    const chunk = parts.join("");
    parts = [];
    bytes = 0;
    if (sync) writeSync(fd, chunk);
    else write(chunk);
  };
  const push = (line: string) => {
    const n = Buffer.byteLength(line) + 1;
    if (bytes + n > PIPE_BUF) drain(false);
    if (n > PIPE_BUF) {
      write(`${line}\n`);
      return;
    }
    parts.push(line, "\n");
    bytes += n;
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

export function createLogger(opts: { debug?: boolean; write?: (line: string, level: string) => void } = {}): Logger {
  let flush: (() => void) | undefined;
  let write = opts.write;
  let batched = write;
  if (!write) {
    const out = createLineBuffer((chunk) => void process.stdout.write(chunk), 1);
    flush = out.flush;
    process.on("exit", out.flush);
    write = (line: string, level: string) => {
      if (level === "error" || level === "warn") process.stderr.write(`${line}\n`);
      else out.now(line);
    };
    batched = (line: string) => out.push(line);
  }
  const w = write;
  const wBatched = batched!;
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    w(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }), level);
  return {
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    debug: opts.debug ? log("debug") : () => {},
    infoLine: (line) => wBatched(line, "info"),
    ...(flush ? { flush } : {}),
  };
}

/** A logger that remembers lines, for tests that assert on what was logged. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ debug: true, write: (line) => lines.push(line) }), { lines });
}
