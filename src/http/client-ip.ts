import type { Context } from "hono";
import { getConnInfo } from "hono/bun";
import type { AppEnv } from "../app-env.ts";
import { BlockList, isIP } from "node:net";

/**
 * Resolves the client's address: the socket peer, unless that peer is a trusted proxy; only then
 * is `X-Forwarded-For` read, from the right, skipping trusted hops, taking the first untrusted one.
 * A header sent by an untrusted peer changes nothing.
 */
export type ClientIpResolver = (peer: string | undefined, forwardedFor: string | undefined) => string;

export function createClientIpResolver(trustedCidrs: readonly string[]): ClientIpResolver {
  const trusted = new BlockList();
  for (const cidr of trustedCidrs) {
    const [addr, bits] = cidr.split("/") as [string, string | undefined];
    const family = isIP(addr) === 6 ? "ipv6" : isIP(addr) === 4 ? "ipv4" : undefined;
    if (!family) throw new Error(`TRUSTED_PROXIES: ${cidr} is not an IP or CIDR`);
    if (bits === undefined) trusted.addAddress(addr, family);
    else trusted.addSubnet(addr, Number(bits), family);
  }
  const isTrusted = (ip: string) => {
    const v = isIP(ip);
    return v !== 0 && trusted.check(ip, v === 6 ? "ipv6" : "ipv4");
  };

  return (peer, forwardedFor) => {
    const socketIp = normalize(peer ?? "") || "unknown";
    if (trustedCidrs.length === 0 || !forwardedFor || !isTrusted(socketIp)) return socketIp;
    const hops = forwardedFor.split(",").map((h) => normalize(h.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return socketIp; // garbage in the chain: do not believe any of it
      if (!isTrusted(hop)) return hop;
    }
    return hops[0] || socketIp;
  };
}

function normalize(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return (m ? m[1]! : ip).toLowerCase();
}

/** The request's client address (socket peer, or X-Forwarded-For from a trusted proxy), resolved once per request. */
export function clientOf(c: Context<AppEnv>): string {
  let ip = c.get("clientIp");
  if (ip === undefined) {
    let peer: string | undefined;
    try {
      peer = getConnInfo(c).remote.address;
    } catch {
      peer = undefined; // in-process requests (tests) have no socket
    }
    ip = c.var.deps.clientIp(peer, c.req.header("x-forwarded-for"));
    c.set("clientIp", ip);
  }
  return ip;
}
