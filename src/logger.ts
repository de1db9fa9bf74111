/** Line-oriented logger. One JSON object per line on stdout/stderr; `fields` stay structured. */
export type Logger = {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
};

export function createLogger(opts: { debug?: boolean; write?: (line: string, level: string) => void } = {}): Logger {
  const write =
    opts.write ??
    ((line: string, level: string) => (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${line}\n`));
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }), level);
  return {
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    debug: opts.debug ? log("debug") : () => {},
  };
}

/** A logger that remembers lines, for tests that assert on what was logged. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ debug: true, write: (line) => lines.push(line) }), { lines });
}
