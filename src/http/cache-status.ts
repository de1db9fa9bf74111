import type { CacheRead } from "../cache/cache.ts";

/**
 * The `Cache-Status` header (RFC 9211) of a read through the cache tiers: one member per tier
 * that handled it, from the origin's side (Redis, `chitram-l2`) to the client's (in-process,
 * `chitram-l1`), e.g. `chitram-l2; hit, chitram-l1; fwd=miss` for a copy Redis had. A tier that
 * was skipped (Redis down, invalidation channel not live) says `fwd=bypass`. `l1Enabled`: whether
 * this process has an in-process tier at all (CACHE_L1_MAX_ENTRIES > 0).
 */
export function cacheStatusHeader(read: Pick<CacheRead<unknown>, "status" | "tier">, l1Enabled: boolean, cacheEnabled: boolean): string {
  if (!cacheEnabled) return "chitram-l2; fwd=bypass; detail=disabled";
  if (read.tier === "l1") return L1_HIT;
  const l2 = read.status === "HIT" ? "chitram-l2; hit" : read.status === "MISS" ? "chitram-l2; fwd=miss" : "chitram-l2; fwd=bypass";
  if (!l1Enabled) return l2;
  return `${l2}, chitram-l1; fwd=${read.status === "DISABLED" ? "bypass" : "miss"}`;
}

export const L1_HIT = "chitram-l1; hit";
