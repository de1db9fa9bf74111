// Turns measurements into bench/RESULTS.md: the environment, one table row per scenario (both
// rounds and their mean), the separate 5 MB upload measurement, and the targets from the issue.
import type { WrkRun } from "./measure.ts";
import type { Kind, Notes } from "./scenarios.ts";
import type { StalenessResult } from "./staleness.ts";
import type { ThumbnailResult } from "./thumbnails.ts";
import type { BurstResult } from "./uploads.ts";

export type MeasuredRun = WrkRun & { peakRssMb: number };

export type ScenarioResult = {
  key: string;
  label: string;
  kind: Kind;
  /** Key of the scenario this one is compared with (its ceiling). */
  ceiling?: string;
  /** Bytes per request sent by the client (uploads), for MB/s. */
  uploadBytes?: number;
  /** One per round. */
  runs: MeasuredRun[];
  notes: Notes[];
};

export type Environment = {
  date: string;
  commit: string;
  cores: number;
  cpuModel: string;
  memoryGb: number;
  kernel: string;
  bun: string;
  postgres: string;
  redis: string;
  wrk: string;
};

export type Settings = { seconds: number; warmupSeconds: number; connections: number; threads: number; seedImages: number; rounds: number };

type Target = { what: string; measured: string; met: boolean };

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const fmtRatio = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const perRound = (xs: string[]) => xs.join(" / ");

export function renderReport(o: {
  env: Environment;
  settings: Settings;
  results: ScenarioResult[];
  bursts: BurstResult[];
  thumbnails?: ThumbnailResult;
  staleness?: Array<StalenessResult & { busyBefore?: number }>;
  totalSeconds: number;
}): string {
  const byKey = new Map(o.results.map((r) => [r.key, r]));
  const s = o.settings;
  const out: string[] = [];
  out.push("# chitram benchmark results", "");
  out.push(`Written by \`bun run bench\` (bench/run.ts) on ${o.env.date} at commit ${o.env.commit}; the whole run took ${Math.round(o.totalSeconds)} s.`, "");

  out.push("## Machine and versions", "");
  out.push(`- ${o.env.cores} cores, ${o.env.cpuModel}; ${o.env.memoryGb} GiB memory; Linux ${o.env.kernel}`);
  out.push(`- Bun ${o.env.bun}`, `- ${o.env.postgres}`, `- ${o.env.redis}`, `- ${o.env.wrk}`, "");

  out.push("## Method", "");
  out.push(
    `Everything runs on this machine over loopback: chitram from source (\`bun run src/main.ts\`), the bench's own redis-server, a fresh PostgreSQL database, and a ceiling server. ` +
      "The S3 downloads use chitram with `STORAGE_BACKEND=s3` against s3rver 3.7.1 (npm; an S3 server written in Node.js, run under Bun in a process of its own, objects as files on the local disk): each download is one ranged GET to it, streamed through chitram, compared with the same `Bun.file` ceiling as the local-disk download (its CPU is in the \"S3 server\" column); \"s3rver alone\" fetches the same objects straight from s3rver with presigned GETs, so what s3rver itself can serve on this machine is visible beside what chitram serves through it. " +
      `Each scenario runs ${s.rounds} times, interleaved (round 1 runs every scenario, then round 2 runs them all again), ` +
      `each time ${s.warmupSeconds} s of warm-up and then ${s.seconds} s measured with \`wrk -t${s.threads} -c${s.connections}\`. ` +
      `Metadata scenarios ask for a random id per request out of ${fmtInt(s.seedImages)} seeded images (bench/wrk/random-path.lua). ` +
      "The ceiling is a bare `Bun.serve` (bench/ceiling-server.ts): a metadata-sized JSON body for the metadata scenarios, and `new Response(Bun.file(path))` of the same file for downloads. " +
      "Ratios divide the means of both rounds (per round in brackets, each against the ceiling of the same round). " +
      "Errors are wrk's connect/read/write/timeout errors plus responses with status ≥ 400; r1/r2 values are listed as round 1 / round 2.",
    "",
  );

  out.push("## Results", "");
  out.push("| scenario | req/s: mean (r1 / r2) | p50 ms | p99 ms | errors | ratio to ceiling | notes |");
  out.push("|---|---|---|---|---|---|---|");
  for (const r of o.results) {
    const rps = r.runs.map((x) => x.rps);
    const ceiling = r.ceiling ? byKey.get(r.ceiling) : undefined;
    const ratio = ceiling
      ? `${fmtRatio(mean(rps) / mean(ceiling.runs.map((x) => x.rps)))} (${perRound(r.runs.map((x, i) => fmtRatio(x.rps / (ceiling.runs[i]?.rps ?? Number.NaN))))})`
      : "–";
    const notes = mergeNotes(r.notes);
    const drift = driftText(rps);
    if (drift) notes.unshift(drift);
    if (r.uploadBytes) notes.unshift(`${((mean(rps) * r.uploadBytes) / 1e6).toFixed(1)} MB/s uploaded`);
    if (r.kind === "download") notes.unshift(`${(mean(r.runs.map((x) => x.bytesPerSecond)) / 1e6).toFixed(0)} MB/s served`);
    out.push(
      `| ${r.label} | ${fmtInt(mean(rps))} (${perRound(rps.map(fmtInt))}) | ${perRound(r.runs.map((x) => fmtMs(x.p50Ms)))} | ${perRound(r.runs.map((x) => fmtMs(x.p99Ms)))} ` +
        `| ${perRound(r.runs.map(errorText))} | ${ratio} | ${notes.join("; ")} |`,
    );
  }
  out.push("");

  out.push("## CPU and memory during the measured runs", "");
  out.push(
    `CPU in cores, mean of both rounds (1.00 = one core busy for the whole run; the machine has ${o.env.cores}). ` +
      '"server" is the process under test (chitram, or the ceiling server), "PostgreSQL" all postgres processes, "Redis" the bench\'s redis-server, "S3 server" its s3rver process, ' +
      '"rest" whatever else the machine spent (kernel work not charged to a process, other jobs). "server µs per request" is the server\'s CPU time divided by the requests it answered (r1 / r2). ' +
      "Peak RSS of the server process, sampled every 100 ms.",
    "",
  );
  out.push("| scenario | server | server µs per request | wrk | PostgreSQL | Redis | S3 server | rest | machine | server peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|");
  for (const r of o.results) {
    const cpu = (k: string) => mean(r.runs.map((x) => x.cpu[k] ?? 0));
    const rest = cpu("machine") - cpu("server") - cpu("wrk") - cpu("postgres") - cpu("redis") - cpu("s3");
    out.push(
      `| ${r.label} | ${cpu("server").toFixed(2)} | ${perRound(r.runs.map((x) => (((x.cpu.server ?? 0) * 1e6) / x.rps).toFixed(1)))} | ${cpu("wrk").toFixed(2)} | ${cpu("postgres").toFixed(2)} | ${cpu("redis").toFixed(2)} | ${cpu("s3").toFixed(2)} | ${Math.max(0, rest).toFixed(2)} | ${cpu("machine").toFixed(2)} ` +
        `| ${perRound(r.runs.map((x) => x.peakRssMb.toFixed(0)))} |`,
    );
  }
  out.push("");

  const first = o.bursts[0];
  if (first) {
    out.push(`## ${first.count} concurrent ${(first.fileBytes / 1024 / 1024).toFixed(0)} MiB uploads`, "");
    out.push(
      "Sent at once with `fetch` from the bench process to a PostgreSQL + Redis chitram (UPLOAD_CONCURRENCY_LIMIT 10: half of them wait for a slot); " +
        "each is a valid PNG padded with a private chunk to exactly the 5 MiB limit. Peak RSS is chitram's VmHWM after the burst.",
      "",
    );
    out.push("| chitram instance | responses | seconds | RSS before MB | peak RSS MB (VmHWM) | highest VmRSS sampled every 50 ms | logged during the burst |", "|---|---|---|---|---|---|---|");
    for (const b of o.bursts) {
      out.push(
        `| ${b.instance} | ${Object.entries(b.statuses).map(([k, v]) => `${v}× ${k}`).join(", ")} | ${b.seconds.toFixed(1)} | ${b.rssBeforeMb.toFixed(0)} | ${b.peakMb.toFixed(0)} | ${b.sampledPeakMb.toFixed(0)} | ${b.warnings.join(", ") || "–"} |`,
      );
    }
    out.push("");
  }

  const t = o.thumbnails;
  if (t) {
    out.push("## Thumbnails", "");
    out.push(
      `A PostgreSQL + Redis chitram on a database of its own, THUMBNAIL_WORKERS=${t.poolSize} (the default on this machine: cores − 1). ` +
        `${t.images} uploads of a 4000x3000 (12-megapixel) JPEG of ${(t.sourceBytes / 1e6).toFixed(2)} MB, 4 at a time; the time runs from the first upload until the job queue is empty. ` +
        'Per image: claim to committed row, from the server\'s "thumbnail made" log lines (read, decode in the Worker, fit, encode, store, commit). ' +
        `Metadata reads: ${t.rate} GETs/s at an even pace (open loop) over 200 cached images for ${t.idle.requests / t.rate} s, once with no thumbnail work and once right after the burst's uploads, while the Workers are busy.`,
      "",
    );
    out.push("| Workers | images | seconds | thumbnails/s | ms per 12 MP JPEG: mean / p50 / max |", "|---|---|---|---|---|");
    out.push(`| ${t.poolSize} | ${t.images} | ${t.seconds.toFixed(1)} | ${t.thumbnailsPerSecond.toFixed(2)} | ${Math.round(t.msPerImage.mean)} / ${Math.round(t.msPerImage.p50)} / ${Math.round(t.msPerImage.max)} |`, "");
    out.push("| metadata reads | requests | p50 ms | p99 ms | max ms | errors |", "|---|---|---|---|---|---|");
    for (const [label, r] of [["idle", t.idle], [`during the thumbnail burst (${t.busyAtEnd} jobs still queued at its end)`, t.burst]] as const) {
      out.push(`| ${label} | ${r.requests} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.p99Ms)} | ${fmtMs(r.maxMs)} | ${r.errors} |`);
    }
    out.push("");
  }

  const st = o.staleness;
  if (st?.length) {
    out.push("## Cross-instance staleness of the in-process tier", "");
    out.push(
      "Two chitram processes on the same PostgreSQL and Redis: A (`CACHE_L1_MAX_ENTRIES=0`) uploads and deletes, B (the L1 instance above) reads; " +
        "once with B idle, once with B under `wrk -t1 -c50` load of random cached ids for the whole measurement. " +
        `Per delete: upload on A; read on B until B answers from its in-process tier (\`Cache-Status: chitram-l1; hit\`); ${st[0]!.pollers} loops of GETs of that id on B; DELETE on A. ` +
        "Two bounds of how long B can still answer from L1 after A's 204 arrived: an upper bound, B's first 404 arriving (it includes one request's round trip on B, long under load), " +
        "and a lower bound, the latest request sent after the 204 that B still answered 200 (a stale answer; 0 when there was none).",
      "",
    );
    out.push(
      "| B | deletes | upper bound, first 404 after the 204: p50 / p99 / max ms | lower bound, latest stale request after the 204: p99 / max ms | stale answers (deletes with any) | B's load: req/s, p99 ms | machine busy before |",
      "|---|---|---|---|---|---|---|",
    );
    for (const x of st) {
      out.push(
        `| ${x.loaded ? "under load" : "idle"} | ${x.deletes} | ${fmtMs(x.firstNotFoundMs.p50)} / ${fmtMs(x.firstNotFoundMs.p99)} / ${fmtMs(x.firstNotFoundMs.max)} | ${fmtMs(x.staleSentMs.p99)} / ${fmtMs(x.staleSentMs.max)} | ` +
          `${x.staleAnswers} (${x.deletesWithStale}) | ${x.load ? `${fmtInt(x.load.rps)}, ${fmtMs(x.load.p99Ms)}` : "–"} | ${x.busyBefore !== undefined ? `${x.busyBefore.toFixed(2)} cores` : "quiet"} |`,
      );
    }
    out.push("");
  }

  out.push("## Targets", "");
  out.push("| target | measured | |", "|---|---|---|");
  const targets = evaluateTargets(byKey, o.bursts);
  for (const x of st ?? []) {
    targets.push({
      what: `cross-instance staleness of L1 after a 204, p99 < 10 ms (B ${x.loaded ? "under load" : "idle"})`,
      measured:
        `upper bound (first 404) p99 ${fmtMs(x.firstNotFoundMs.p99)} ms, max ${fmtMs(x.firstNotFoundMs.max)} ms; ` +
        `lower bound (latest stale request) p99 ${fmtMs(x.staleSentMs.p99)} ms, max ${fmtMs(x.staleSentMs.max)} ms; ${x.deletes} deletes`,
      met: x.firstNotFoundMs.p99 < 10,
    });
  }
  if (t) {
    const factor = t.burst.p99Ms / t.idle.p99Ms;
    targets.push({
      what: "metadata p99 during a thumbnail burst ≤ 1.5 × idle",
      measured: `${fmtMs(t.burst.p99Ms)} ms vs ${fmtMs(t.idle.p99Ms)} ms (${fmtRatio(factor)}×; p50 ${fmtMs(t.burst.p50Ms)} vs ${fmtMs(t.idle.p50Ms)} ms), ${t.busyAtEnd} jobs still queued at the end`,
      met: factor <= 1.5 && t.busyAtEnd > 0 && t.burst.errors === 0,
    });
  }
  for (const x of targets) out.push(`| ${x.what} | ${x.measured} | ${x.met ? "met" : "**missed**"} |`);
  out.push("");
  return out.join("\n");
}

/** Notes of all rounds, one entry per label: "label: value" when the rounds agree, "label: r1 / r2" otherwise. */
function mergeNotes(rounds: Notes[]): string[] {
  const labels = [...new Set(rounds.flatMap((n) => Object.keys(n)))];
  return labels.map((label) => {
    const values = rounds.map((n) => n[label] ?? "–");
    return `${label}: ${values.every((v) => v === values[0]) ? values[0] : perRound(values)}`;
  });
}

/** "round 2 −36% vs round 1" when the rounds differ by more than 15%: something drifted. */
function driftText(rps: number[]): string | undefined {
  const [a, b] = rps;
  if (a === undefined || b === undefined || Math.abs(b - a) / a <= 0.15) return undefined;
  return `**round 2 ${b > a ? "+" : "−"}${Math.round((Math.abs(b - a) / a) * 100)}% vs round 1**`;
}

function errorText(r: WrkRun): string {
  if (r.errorCount === 0) return "0";
  const parts = Object.entries(r.errors).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
  return `${r.errorCount} (${parts.join(", ")})`;
}

function evaluateTargets(byKey: Map<string, ScenarioResult>, bursts: BurstResult[]): Target[] {
  const get = (key: string) => {
    const r = byKey.get(key);
    if (!r) throw new Error(`no results for ${key}`);
    return r;
  };
  const meanRps = (key: string) => mean(get(key).runs.map((r) => r.rps));
  const worstP99 = (key: string) => Math.max(...get(key).runs.map((r) => r.p99Ms));
  const errors = (key: string) => get(key).runs.reduce((n, r) => n + r.errorCount, 0);
  const targets: Target[] = [];

  const hitRatio = meanRps("cache-hit") / meanRps("ceiling-json");
  targets.push({
    what: "metadata HIT from L1 (access log on) ≥ 0.8 × ceiling, p99 ≤ 2 ms at 50 connections",
    measured: `${fmtRatio(hitRatio)} × ceiling, p99 ${perRound(get("cache-hit").runs.map((r) => fmtMs(r.p99Ms)))} ms; with ACCESS_LOG=false ${fmtRatio(meanRps("cache-hit-nolog") / meanRps("ceiling-json"))} ×`,
    met: hitRatio >= 0.8 && worstP99("cache-hit") <= 2,
  });
  const l2Ratio = meanRps("cache-hit-l2") / meanRps("ceiling-json");
  targets.push({ what: "metadata HIT from L2 only (L1 off) ≥ 0.45 × ceiling", measured: `${fmtRatio(l2Ratio)} × ceiling`, met: l2Ratio >= 0.45 });
  const w = (key: string, group: string) => mean(get(key).runs.map((r) => r.cpu[group] ?? 0));
  const workersRatio = meanRps("cache-hit-w2") / meanRps("cache-hit");
  targets.push({
    what: "WORKERS=2 ≥ 1.6 × WORKERS=1 (L1 HIT, 2 cores)",
    measured:
      `${fmtRatio(workersRatio)} × (${fmtInt(meanRps("cache-hit-w2"))} vs ${fmtInt(meanRps("cache-hit"))} req/s); ` +
      `CPU in cores, WORKERS=2: chitram ${w("cache-hit-w2", "server").toFixed(2)}, wrk ${w("cache-hit-w2", "wrk").toFixed(2)}, machine ${w("cache-hit-w2", "machine").toFixed(2)}; ` +
      `WORKERS=1: chitram ${w("cache-hit", "server").toFixed(2)}, wrk ${w("cache-hit", "wrk").toFixed(2)}, machine ${w("cache-hit", "machine").toFixed(2)}`,
    met: workersRatio >= 1.6,
  });
  const dbRatio = meanRps("db-postgres") / meanRps("ceiling-json");
  targets.push({ what: "DB only (PostgreSQL) ≥ 0.15 × ceiling", measured: `${fmtRatio(dbRatio)} × ceiling`, met: dbRatio >= 0.15 });
  const deadRatio = meanRps("redis-dead") / meanRps("db-postgres");
  targets.push({
    what: "Redis dead ≥ 0.95 × DB only, zero errors",
    measured: `${fmtRatio(deadRatio)} × DB only (${perRound(get("redis-dead").runs.map((r, i) => fmtRatio(r.rps / (get("db-postgres").runs[i]?.rps ?? Number.NaN))))}), ${errors("redis-dead")} errors`,
    met: deadRatio >= 0.95 && errors("redis-dead") === 0,
  });
  // Per round: the frozen run against the DB-only run of the same round.
  const frozen = get("redis-frozen").runs;
  const dbOnly = get("db-postgres").runs;
  const p99Factor = Math.max(...frozen.map((r, i) => r.p99Ms / (dbOnly[i]?.p99Ms ?? Number.NaN)));
  targets.push({
    what: "Redis frozen: zero errors, p99 ≤ 3 × DB-only p99",
    measured: `${errors("redis-frozen")} errors; p99 ${perRound(frozen.map((r) => fmtMs(r.p99Ms)))} ms vs DB only ${perRound(dbOnly.map((r) => fmtMs(r.p99Ms)))} ms (worst ${fmtRatio(p99Factor)}×)`,
    met: errors("redis-frozen") === 0 && p99Factor <= 3,
  });
  for (const [key, ceiling] of [["file-10k", "ceiling-file-10k"], ["file-1m", "ceiling-file-1m"]] as const) {
    const ratio = meanRps(key) / meanRps(ceiling);
    targets.push({ what: `${get(key).label} ≥ 0.8 × its Bun.file ceiling`, measured: `${fmtRatio(ratio)} × ceiling`, met: ratio >= 0.8 });
  }
  if (bursts.length) {
    const worst = Math.max(...bursts.map((b) => b.peakMb));
    const refused = bursts.flatMap((b) => Object.entries(b.statuses).filter(([k]) => k !== "201").map(([k, v]) => `${v}× ${k}`));
    targets.push({
      what: `${bursts[0]!.count} concurrent 5 MB uploads: peak RSS < 300 MB`,
      measured: `${bursts.map((b) => `${b.peakMb.toFixed(0)} MB ${b.instance.split(" (")[0]}`).join("; ")}${refused.length ? `; non-201: ${refused.join(", ")}` : ""}`,
      met: worst < 300,
    });
  }
  return targets;
}
