import { describe, expect, test } from "bun:test";
import { createInvalidationLog, decodeInvalidation, encodeInvalidation } from "../src/invalidation/log.ts";

function clockedLog(opts: { ttlMs?: number; maxEntries?: number; clockSkewMs?: number } = {}) {
  let t = 1_000_000;
  const log = createInvalidationLog({ ttlMs: opts.ttlMs ?? 10_000, clockSkewMs: opts.clockSkewMs ?? 1_000, maxEntries: opts.maxEntries, now: () => t });
  log.setLive(true);
  return { log, advance: (ms: number) => void (t += ms), now: () => t };
}

describe("the invalidation log", () => {
  test("admits nothing while it is not live: missed invalidations are possible", () => {
    const { log, now } = clockedLog();
    expect(log.admits("k", 1, now())).toBe(true);
    log.setLive(false);
    expect(log.admits("k", 1, now())).toBe(false);
  });

  test("a deleted key is refused at every version, and gone is final even if an older update arrives later", () => {
    const { log, now } = clockedLog();
    log.record({ key: "k", version: null });
    expect(log.admits("k", 1, now())).toBe(false);
    expect(log.admits("k", 99, now())).toBe(false);
    log.record({ key: "k", version: 5 }); // out of order
    expect(log.admits("k", 99, now())).toBe(false);
    expect(log.admits("other", 1, now())).toBe(true);
  });

  test("an update refuses copies older than its version, whatever order notifications arrive in", () => {
    const { log, now } = clockedLog();
    log.record({ key: "k", version: 3 });
    log.record({ key: "k", version: 2 });
    expect(log.admits("k", 2, now())).toBe(false);
    expect(log.admits("k", 3, now())).toBe(true);
  });

  test("entries are kept for TTL + skew, then forgotten (no copy can still be in Redis by then)", () => {
    const { log, advance, now } = clockedLog({ ttlMs: 10_000, clockSkewMs: 1_000 });
    log.record({ key: "k", version: null });
    const loadedBefore = now() - 1;
    advance(10_999);
    expect(log.keys()).toEqual(["k"]);
    expect(log.admits("k", 1, now())).toBe(false);
    advance(2);
    expect(log.keys()).toEqual([]);
    // A copy loaded before that invalidation would be older than TTL + skew now: refused as implausible.
    expect(log.admits("k", 1, loadedBefore)).toBe(false);
    expect(log.admits("k", 1, now())).toBe(true);
  });

  test("copies with timestamps from the future or older than any Redis copy can be are refused", () => {
    const { log, now } = clockedLog({ ttlMs: 10_000, clockSkewMs: 1_000 });
    expect(log.admits("k", 1, now() + 2_000)).toBe(false);
    expect(log.admits("k", 1, now() - 12_000)).toBe(false);
    expect(log.admits("k", 1, now() - 5_000)).toBe(true);
  });

  test("on overflow the oldest entries go, and copies loaded before them are refused (horizon)", () => {
    const { log, advance, now } = clockedLog({ maxEntries: 3, clockSkewMs: 1_000 });
    const before = now();
    for (const k of ["a", "b", "c", "d"]) {
      log.record({ key: k, version: null });
      advance(10);
    }
    expect(log.size()).toBe(3);
    expect(log.keys()).toEqual(["b", "c", "d"]);
    // "a" is forgotten, but a copy of it loaded back then is still refused by the horizon.
    expect(log.admits("a", 1, before)).toBe(false);
    advance(2_000);
    expect(log.admits("a", 1, now())).toBe(true);
  });

  test("hooks hear every invalidation and every change of liveness", () => {
    const { log } = clockedLog();
    const heard: string[] = [];
    const lives: boolean[] = [];
    log.onInvalidate((k) => heard.push(k));
    log.onLiveChange((l) => lives.push(l));
    log.record({ key: "x", version: 2 });
    log.setLive(false);
    log.setLive(false);
    log.setLive(true);
    expect(heard).toEqual(["x"]);
    expect(lives).toEqual([false, true]);
  });

  test("notification payloads round-trip and garbage is ignored", () => {
    for (const inv of [{ key: "chitram:image:0b6c", version: null }, { key: "p:apikey:ab", version: 7 }]) {
      expect(decodeInvalidation(encodeInvalidation(inv))).toEqual(inv);
    }
    for (const bad of ["", "-", "- ", "x key", "1.5 key", " key"]) expect(decodeInvalidation(bad)).toBeUndefined();
  });
});
