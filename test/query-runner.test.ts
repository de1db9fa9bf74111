import { expect, test } from "bun:test";
import { createQueryRunner, QueryDeadlineError } from "../src/db/query-runner.ts";

test("the runner never runs more than max at once, keeps order, and frees slots on failure", async () => {
  const run = createQueryRunner(3, 10_000);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const jobs = Array.from({ length: 20 }, (_, i) =>
    run(async () => {
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
  expect(await run(async () => "still free")).toBe("still free");
});

test("a call that outlives the deadline is answered with QueryDeadlineError; its slot is held until it settles", async () => {
  const run = createQueryRunner(1, 100);
  let finish!: () => void;
  let continued = false;
  const stuck = run(() => new Promise<void>((r) => (finish = r)).then(() => void (continued = true)));
  const t = performance.now();
  expect(await stuck.catch((e) => e)).toBeInstanceOf(QueryDeadlineError);
  expect(performance.now() - t).toBeLessThan(300);
  // The stuck call still holds the only slot: a waiter times out too (waiting counts toward the deadline).
  expect(await run(async () => 1).catch((e) => e)).toBeInstanceOf(QueryDeadlineError);
  finish();
  await Bun.sleep(1);
  expect(continued).toBe(true); // its continuation ran
  expect(await run(async () => 2)).toBe(2); // and the slot came back
});

test("a deadlock victim (40P01) or serialization failure (40001) is run again, at most twice; other errors are not", async () => {
  const run = createQueryRunner(2, 5_000);
  const failing = (code: string, times: number) => {
    let calls = 0;
    return {
      calls: () => calls,
      fn: async () => {
        calls++;
        if (calls <= times) throw Object.assign(new Error(code), { cause: { code } });
        return "ok";
      },
    };
  };
  const deadlock = failing("40P01", 2);
  expect(await run(deadlock.fn)).toBe("ok");
  expect(deadlock.calls()).toBe(3);
  const stubborn = failing("40001", 5);
  expect(await run(stubborn.fn).catch((e: Error) => e.message)).toBe("40001");
  expect(stubborn.calls()).toBe(3);
  const other = failing("23505", 1);
  expect(await run(other.fn).catch((e: Error) => e.message)).toBe("23505");
  expect(other.calls()).toBe(1);
});
