// Runs the real program (src/main.ts) as its own process, for tests of start-up and of the
// server exactly as main.ts configures it.
import type { Subprocess } from "bun";
import { join } from "node:path";
import { spareTcpPort } from "./redis-server.ts";

export const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

// Only what the test chooses, plus what bun itself needs: no inherited chitram configuration, and
// no Redis (the machine's shared one on 6379 is not the tests' to use).
const baseEnv = () => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? "/tmp",
  TMPDIR: process.env.TMPDIR ?? "/tmp",
  HOST: "127.0.0.1",
  CACHE_ENABLED: "false",
  RATE_LIMIT_ENABLED: "false",
});

/** Runs chitram to completion (a start-up that fails); kills it after `timeoutMs`. */
export async function runChitram(opts: { env?: Record<string, string>; args?: string[]; timeoutMs?: number; prefix?: string[] } = {}) {
  const started = performance.now();
  const proc = Bun.spawn([...(opts.prefix ?? []), process.execPath, MAIN, ...(opts.args ?? [])], {
    env: { ...baseEnv(), ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code, stdout, stderr, ms: performance.now() - started };
}

export type Running = {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  port: number;
  firstAnswerMs: number;
  /** Everything written to stdout so far (read continuously, so the pipe never fills). */
  stdout(): string;
  stop(): Promise<number>;
};

/** Starts chitram and waits until /health answers; throws with its stderr if it exits first. */
export async function startChitram(opts: { env?: Record<string, string>; prefix?: string[]; timeoutMs?: number } = {}): Promise<Running> {
  const port = Number(opts.env?.PORT ?? (await spareTcpPort()));
  const started = performance.now();
  const proc = Bun.spawn([...(opts.prefix ?? []), process.execPath, MAIN], {
    env: { ...baseEnv(), ...opts.env, PORT: String(port) },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  let out = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < until && proc.exitCode === null) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) {
      return {
        proc,
        url,
        port,
        firstAnswerMs: Math.round(performance.now() - started),
        stdout: () => out,
        async stop() {
          proc.kill("SIGTERM");
          return proc.exited;
        },
      };
    }
    await Bun.sleep(20);
  }
  proc.kill("SIGKILL");
  throw new Error(`chitram did not answer: ${await new Response(proc.stderr).text()}`);
}
