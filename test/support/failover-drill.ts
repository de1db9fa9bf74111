// Reads and deletes on several chitram instances while something fails (a Redis master is
// killed), checking every answer: no error, and no stale read (an image answered 200 by a request
// that started after its delete had returned 204, on any instance).
import { expect } from "bun:test";
import { makePng } from "./images.ts";

export type Instance = { name: string; request(path: string, init?: RequestInit): Promise<Response> };

export type DrillResult = {
  requests: number;
  deletes: number;
  /** Responses that were neither the right 200 nor the right 404 (or a delete that was not 204). */
  errors: string[];
  /** 200 for an image whose delete had already returned 204. */
  staleReads: string[];
  /** From the fault to the last read served from the database (X-Cache: DISABLED), over all instances. */
  windowMs: number;
  /** The slowest request during the drill. */
  maxLatencyMs: number;
  hitsAfterWindow: number;
  xCache: Record<string, number>;
};

/** Uploads `count` small PNGs; `headers(i)` may set e.g. a different X-Forwarded-For per upload. */
export async function uploadImages(on: Instance, count: number, headers?: (i: number) => Record<string, string>): Promise<Array<{ id: string; token: string }>> {
  const out: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < count; i++) {
    const form = new FormData();
    form.append("file", new Blob([makePng({ width: 1 + (i % 5), height: 1 + (i % 3) })]), `drill-${i}.png`);
    const res = await on.request("/api/v1/images/upload", { method: "POST", body: form, headers: headers?.(i) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; delete_token: string };
    out.push({ id: body.id, token: body.delete_token });
  }
  return out;
}

/**
 * Runs readers on every instance and a deleter on `deleteOn` for `durationMs`, calling `fault`
 * at `faultAtMs`. Every loop stops at the deadline.
 */
export async function failoverDrill(opts: {
  instances: Instance[];
  deleteOn: Instance;
  images: Array<{ id: string; token: string }>;
  durationMs: number;
  faultAtMs: number;
  fault: () => Promise<unknown>;
  readersPerInstance?: number;
  deleteEveryMs?: number;
}): Promise<DrillResult> {
  const start = performance.now();
  const until = start + opts.durationMs;
  const deletedAt = new Map<string, number>(); // id -> when its 204 arrived
  const deleting = new Set<string>();
  const errors: string[] = [];
  const staleReads: string[] = [];
  const xCache: Record<string, number> = {};
  let requests = 0;
  let maxLatencyMs = 0;
  let faultAt = Number.POSITIVE_INFINITY;
  let lastDisabledAt = 0;
  let hitsAfter: number[] = [];

  async function reader(inst: Instance) {
    while (performance.now() < until) {
      const img = opts.images[Math.floor(Math.random() * opts.images.length)]!;
      const file = Math.random() < 0.3;
      const startedAt = performance.now();
      const goneBefore = deletedAt.has(img.id);
      let status = 0;
      let cache = "";
      try {
        const res = await inst.request(`/api/v1/images/${img.id}${file ? "/file" : ""}`);
        status = res.status;
        cache = res.headers.get("x-cache") ?? "";
        await res.arrayBuffer();
      } catch (err) {
        errors.push(`${inst.name} ${img.id}: ${String(err)}`);
        continue;
      }
      const endedAt = performance.now();
      requests++;
      maxLatencyMs = Math.max(maxLatencyMs, endedAt - startedAt);
      if (cache) xCache[cache] = (xCache[cache] ?? 0) + 1;
      if (!file && startedAt > faultAt) {
        if (cache === "DISABLED") lastDisabledAt = Math.max(lastDisabledAt, endedAt);
        if (cache === "HIT") hitsAfter.push(endedAt);
      }
      const at = (t: number) => `${Math.round(t - start)} ms`;
      if (status === 200 && goneBefore) staleReads.push(`${inst.name} ${file ? "file" : "metadata"} ${img.id} at ${at(startedAt)}, deleted at ${at(deletedAt.get(img.id)!)}`);
      else if (status === 404 && !deletedAt.has(img.id) && !deleting.has(img.id)) errors.push(`${inst.name} 404 for a live image ${img.id} at ${at(startedAt)}`);
      else if (status !== 200 && status !== 404) errors.push(`${inst.name} ${status} for ${img.id} at ${at(startedAt)}`);
    }
  }

  async function deleter() {
    for (const img of opts.images.slice(0, Math.floor(opts.images.length / 2))) {
      if (performance.now() >= until) break;
      await Bun.sleep(opts.deleteEveryMs ?? 100);
      deleting.add(img.id);
      const res = await opts.deleteOn.request(`/api/v1/images/${img.id}?delete_token=${img.token}`, { method: "DELETE" }).catch((e: Error) => e);
      if (res instanceof Error || res.status !== 204) {
        errors.push(`delete ${img.id}: ${res instanceof Error ? res.message : res.status}`);
        continue;
      }
      deletedAt.set(img.id, performance.now());
    }
  }

  const faulted = Bun.sleep(opts.faultAtMs).then(async () => {
    faultAt = performance.now();
    await opts.fault();
  });
  await Promise.all([
    ...opts.instances.flatMap((inst) => Array.from({ length: opts.readersPerInstance ?? 3 }, () => reader(inst))),
    deleter(),
    faulted,
  ]);
  const windowEnd = Math.max(lastDisabledAt, faultAt);
  return {
    requests,
    deletes: deletedAt.size,
    errors,
    staleReads,
    windowMs: Math.round(windowEnd - faultAt),
    maxLatencyMs: Math.round(maxLatencyMs),
    hitsAfterWindow: hitsAfter.filter((t) => t > windowEnd).length,
    xCache,
  };
}
