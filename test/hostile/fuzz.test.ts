// Seeded random fuzz of upload bodies: mutated real images inside (sometimes mutated) multipart
// framing. Whatever arrives, the answer is 201, 400 or 413 — never a 500 — and nothing is orphaned.
// Reproduce a failure with FUZZ_SEED=<seed>; widen with FUZZ_CASES=<n>.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHarness, type Harness } from "../support/harness.ts";
import { FIXTURES_BY_TYPE, concat, fixture, makePng } from "../support/images.ts";
import { multipart } from "../support/multipart.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_c0de);
const CASES = Number(process.env.FUZZ_CASES ?? 2_500);

/** mulberry32: small, fast, deterministic. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof prng>;

const MUTATIONS: Array<[string, (b: Uint8Array, r: Rng, seeds: Uint8Array[]) => Uint8Array]> = [
  ["flip bits", (b, r) => {
    const out = new Uint8Array(b);
    for (let i = 0, n = 1 + r.int(16); i < n && out.length; i++) out[r.int(out.length)]! ^= 1 << r.int(8);
    return out;
  }],
  ["truncate", (b, r) => b.subarray(0, r.int(b.length + 1))],
  ["insert random bytes", (b, r) => {
    const at = r.int(b.length + 1);
    return concat([b.subarray(0, at), r.bytes(1 + r.int(64)), b.subarray(at)]);
  }],
  ["overwrite header", (b, r) => {
    const out = new Uint8Array(b);
    const at = r.int(Math.min(64, out.length + 1));
    out.set(r.bytes(Math.min(1 + r.int(8), out.length - at)), at);
    return out;
  }],
  ["duplicate a slice", (b, r) => {
    const s = r.int(b.length + 1);
    const e = s + r.int(b.length - s + 1);
    return concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)]);
  }],
  ["append garbage", (b, r) => concat([b, r.bytes(1 + r.int(200))])],
  ["splice two images", (b, r, seeds) => {
    const other = r.pick(seeds);
    return concat([b.subarray(0, r.int(b.length + 1)), other.subarray(r.int(other.length + 1))]);
  }],
  ["big dimensions", (b, r) => {
    const out = new Uint8Array(b);
    if (out.length > 24 && out[0] === 0x89) new DataView(out.buffer).setUint32(16 + 4 * r.int(2), r.int(2 ** 31));
    return out;
  }],
  ["pure noise", (_b, r) => r.bytes(r.int(4096))],
  ["unchanged", (b) => b],
];

const FRAMINGS = ["normal", "normal", "normal", "normal", "two files", "no closing boundary", "wrong boundary", "random content type", "extra fields", "file as text field"] as const;

let h: Harness;
let seeds: Uint8Array[];
beforeAll(async () => {
  // A small size limit so mutated photos also cross it and exercise the 413 path.
  h = await createHarness({ db: "pglite", env: { MAX_FILE_SIZE_MB: "0.05" } });
  seeds = [...(await Promise.all(FIXTURES_BY_TYPE.map((f) => fixture(f.name)))), makePng({ width: 3, height: 3 })];
});
afterAll(() => h.close());

test(`fuzzed uploads (${CASES} cases, seed ${SEED}) only ever get 201, 400 or 413, and leave no orphans`, async () => {
  const r = prng(SEED);
  const rowsBefore = await h.deps.repo.count();
  const filesBefore = (await h.deps.storage.list()).length;
  const seen = new Map<number, number>();
  const failures: string[] = [];
  let created = 0;

  for (let i = 0; i < CASES; i++) {
    let bytes = r.pick(seeds);
    const ops: string[] = [];
    for (let k = 0, n = 1 + r.int(3); k < n; k++) {
      const [name, mutate] = r.pick(MUTATIONS);
      ops.push(name);
      bytes = mutate(bytes, r, seeds);
    }
    const framing = r.pick(FRAMINGS);
    const filename = r.next() < 0.2 ? new TextDecoder().decode(r.bytes(1 + r.int(40))) : "f.png";
    let { body, contentType } = multipart([{ name: "file", filename, contentType: "image/png", body: bytes }]);
    switch (framing) {
      case "two files":
        ({ body, contentType } = multipart([{ name: "file", filename, body: bytes }, { name: "file", filename, body: bytes }]));
        break;
      case "no closing boundary":
        body = body.subarray(0, body.length - r.int(40));
        break;
      case "wrong boundary":
        // Printable only: a header value cannot carry arbitrary bytes, so clients cannot send them.
        contentType = `multipart/form-data; boundary=${String.fromCharCode(...Array.from({ length: 1 + r.int(20) }, () => 0x21 + r.int(94)))}`;
        break;
      case "random content type":
        contentType = r.pick(["text/plain", "application/octet-stream", "image/png", "multipart/mixed; boundary=x", "", "multipart/form-data"]);
        break;
      case "extra fields":
        ({ body, contentType } = multipart([
          ...Array.from({ length: r.int(30) }, (_, j) => ({ name: `x${j}`, body: r.bytes(r.int(30)) })),
          { name: "file", filename, body: bytes },
        ]));
        break;
      case "file as text field":
        ({ body, contentType } = multipart([{ name: "file", body: bytes }]));
        break;
    }
    let status: number;
    try {
      const res = await h.request("/api/v1/images/upload", { method: "POST", body, headers: contentType ? { "Content-Type": contentType } : {} });
      status = res.status;
      const json = await res.json();
      if (status === 201) {
        created++;
        if (!["image/jpeg", "image/png", "image/gif", "image/webp"].includes(json.content_type)) failures.push(`#${i}: stored ${json.content_type}`);
      } else if (!json.error?.code) failures.push(`#${i}: ${status} without the envelope`);
    } catch (err) {
      status = -1;
      failures.push(`#${i} (${framing}; ${ops.join(", ")}): threw ${err}`);
    }
    seen.set(status, (seen.get(status) ?? 0) + 1);
    if (![201, 400, 413].includes(status)) failures.push(`#${i} (${framing}; ${ops.join(", ")}): status ${status}`);
  }

  console.log(`fuzz seed ${SEED}: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  expect(failures).toEqual([]);
  // Every path was exercised, and nothing is orphaned.
  expect(seen.get(201) ?? 0).toBeGreaterThan(0);
  expect(seen.get(400) ?? 0).toBeGreaterThan(0);
  expect(seen.get(413) ?? 0).toBeGreaterThan(0);
  expect((await h.deps.repo.count()) - rowsBefore).toBe(created);
  const files = await h.deps.storage.list();
  expect(files.length - filesBefore).toBe(created);
  for (const f of files) expect(f).toMatch(/^[0-9a-f-]{36}\.(jpg|png|gif|webp)$/);
}, 120_000);
