// The access log is written in batches of whole lines, at most PIPE_BUF bytes each (so worker
// processes sharing one pipe never interleave inside a line), within 50 ms; other lines at once.
import { expect, test } from "bun:test";
import { createLineBuffer } from "../src/logger.ts";

test("access-log lines go out in whole-line batches of at most 4096 bytes, within 50 ms; other lines at once, in order", async () => {
  const chunks: string[] = [];
  const out = createLineBuffer((c) => chunks.push(Buffer.from(c).toString("utf8")), 1);
  const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ msg: "request", i, path: `/api/v1/images/${"é".repeat(i % 7)}` }));
  for (const l of lines) out.push(l);
  expect(chunks.length).toBeGreaterThan(5);
  expect(chunks.length).toBeLessThan(100); // batched, not one write per line
  await Bun.sleep(80); // the rest within the flush interval
  for (const c of chunks) {
    expect(Buffer.byteLength(c)).toBeLessThanOrEqual(4096);
    expect(c.endsWith("\n")).toBe(true);
  }
  expect(chunks.join("")).toBe(lines.map((l) => `${l}\n`).join(""));

  chunks.length = 0;
  out.push("a");
  out.now("b"); // an operational line: written at once, after what was buffered
  expect(chunks.join("")).toBe("a\nb\n");
});
