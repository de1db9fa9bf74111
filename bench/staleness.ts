// The cross-instance staleness bound: after a DELETE's 204 on instance A, for how long can
// instance B still answer the image from its in-process tier? Measured with B idle, and with B
// under load (wrk, 50 connections, random cached ids) the whole time. Per delete: upload on A, read on B until B
// serves it from L1, start pollers on B (each a loop of GETs of that id), delete on A, and note
// when A's 204 arrived; the pollers stop at their first 404.
//  - "first 404 after the 204": A's 204 received → B's first 404 received. An upper bound of the
//    window (it includes one request's round trip on a loaded B).
//  - stale answers: 200s to requests sent after the 204 arrived (the server answered them later
//    still); their latest send time after the 204 is a lower bound of the window.
import { runWrk, type WrkRun } from "./measure.ts";
import type { Server } from "./services.ts";

const API = "/api/v1/images";
const POLLERS = 4;
const POLL_GIVE_UP_MS = 2_000;

export type StalenessResult = {
  /** Whether B was under wrk load meanwhile. */
  loaded: boolean;
  deletes: number;
  /** ms from A's 204 to B's first 404, per delete. */
  firstNotFoundMs: { p50: number; p99: number; max: number };
  staleAnswers: number;
  /** Deletes with at least one stale answer. */
  deletesWithStale: number;
  /** Per delete, the latest (send time − 204 time) of a stale answer (0 if none): a lower bound of the window, ms. */
  staleSentMs: { p50: number; p99: number; max: number };
  load?: WrkRun;
  pollers: number;
};

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export async function measureStaleness(o: {
  writer: Server;
  reader: Server;
  idsFile: string;
  image: Uint8Array;
  deletes: number;
  seconds: number;
  /** Load B with wrk meanwhile. */
  loaded: boolean;
  track: (p: import("bun").Subprocess) => void;
}): Promise<StalenessResult> {
  // Background load on B for the whole measurement (wrk stops itself after `seconds`).
  const load = !o.loaded ? undefined : runWrk({
    url: o.reader.url,
    script: "random-path.lua",
    args: [o.idsFile, `${API}/`],
    seconds: o.seconds,
    connections: 50,
    threads: 1,
    timeoutSeconds: 5,
    cpuGroups: { server: [o.reader.pid] },
    track: o.track,
  });
  if (load) await Bun.sleep(1_000);
  const until = performance.now() + (o.seconds - 2) * 1000;
  const firsts: number[] = [];
  const staleSent: number[] = [];
  let staleAnswers = 0;
  let deletesWithStale = 0;
  for (let i = 0; i < o.deletes && performance.now() < until; i++) {
    const form = new FormData();
    form.append("file", new Blob([o.image as Uint8Array<ArrayBuffer>], { type: "image/jpeg" }), "stale.jpg");
    const up = await fetch(`${o.writer.url}${API}/upload`, { method: "POST", body: form, signal: AbortSignal.timeout(10_000) });
    const { id, delete_token } = (await up.json()) as { id: string; delete_token: string };
    if (up.status !== 201) throw new Error(`upload for the staleness measurement: ${up.status}`);
    const url = `${o.reader.url}${API}/${id}`;
    for (let t = performance.now(); ; ) {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      if (res.headers.get("cache-status") === "chitram-l1; hit") break;
      if (performance.now() - t > 5_000) throw new Error(`B never served ${id} from its in-process tier`);
    }
    let t204 = Number.POSITIVE_INFINITY;
    const answers: Array<{ sent: number; received: number; status: number }> = [];
    const poller = async () => {
      const started = performance.now();
      while (performance.now() - started < POLL_GIVE_UP_MS) {
        const sent = performance.now();
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        answers.push({ sent, received: performance.now(), status: res.status });
        if (res.status === 404) return;
      }
    };
    const polling = Promise.all(Array.from({ length: POLLERS }, poller));
    await Bun.sleep(2);
    const del = await fetch(`${o.writer.url}${API}/${id}`, { method: "DELETE", headers: { "X-Delete-Token": delete_token }, signal: AbortSignal.timeout(10_000) });
    t204 = performance.now();
    if (del.status !== 204) throw new Error(`delete for the staleness measurement: ${del.status}`);
    await polling;
    const notFound = answers.filter((a) => a.status === 404).map((a) => a.received);
    if (notFound.length === 0) throw new Error(`B still served ${id} ${POLL_GIVE_UP_MS} ms after A's 204`);
    firsts.push(Math.max(0, Math.min(...notFound) - t204));
    const stale = answers.filter((a) => a.status === 200 && a.sent > t204);
    staleAnswers += stale.length;
    if (stale.length) deletesWithStale++;
    staleSent.push(Math.max(0, ...stale.map((a) => a.sent - t204)));
  }
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
  };
  return {
    loaded: o.loaded,
    deletes: firsts.length,
    firstNotFoundMs: stats(firsts),
    staleAnswers,
    deletesWithStale,
    staleSentMs: stats(staleSent),
    load: await load,
    pollers: POLLERS,
  };
}
