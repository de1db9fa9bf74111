// Prometheus' own parser: `promtool check metrics` reads an exposition from stdin and exits 0
// only if it parses (and passes promtool's lint of names, types and help texts).
import { PROMTOOL } from "./services.ts";

export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const p = Bun.spawn([PROMTOOL ?? "promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, output: `${out}${err}`.trim() };
}

/** The value of one sample line, e.g. sample(text, 'chitram_upload_refusals_total{reason="FILE_TOO_LARGE"}'). */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
