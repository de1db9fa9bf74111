import { expect, test } from "bun:test";
import { createInFlightLimit } from "../src/db/in-flight-limit.ts";

test("the in-flight limit never runs more than max at once, keeps order, and frees slots on failure", async () => {
  const limited = createInFlightLimit(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const jobs = Array.from({ length: 20 }, (_, i) =>
    limited(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await Bun.sleep(1 + (i % 3));
      running--;
      if (i % 5 === 0) throw new Error(`job ${i}`);
      return i;
    }).catch((e: Error) => e.message),
  );
  const results = await Promise.all(jobs);
  expect(peak).toBe(3);
  expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i)); // FIFO
  expect(results[5]).toBe("job 5");
  expect(results[6]).toBe(6);
  expect(await limited(async () => "still free")).toBe("still free");
});
