import { describe, expect, test } from "bun:test";
import { createClientIpResolver } from "../src/http/client-ip.ts";

describe("client identity", () => {
  const none = createClientIpResolver([]);
  const proxies = createClientIpResolver(["10.0.0.0/8", "::1"]);

  test.each([
    // [resolver, peer, X-Forwarded-For, expected]
    [none, "203.0.113.9", "1.2.3.4", "203.0.113.9"], // no trusted proxies: the header is ignored
    [proxies, "203.0.113.9", "1.2.3.4", "203.0.113.9"], // untrusted peer: spoofed header ignored
    [proxies, "10.1.1.1", "1.2.3.4", "1.2.3.4"], // trusted peer: header believed
    [proxies, "10.1.1.1", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4"], // right-most untrusted hop; the left part is client-controlled
    [proxies, "::1", "2001:db8::5", "2001:db8::5"],
    [proxies, "::ffff:10.1.1.1", "1.2.3.4", "1.2.3.4"], // IPv4-mapped peer
    [proxies, "10.1.1.1", "not-an-ip, 1.2.3.4", "1.2.3.4"],
    [proxies, "10.1.1.1", "1.2.3.4, garbage", "10.1.1.1"], // a malformed hop next to us: trust none of it
    [proxies, "10.1.1.1", "10.3.3.3, 10.2.2.2", "10.3.3.3"], // all trusted: the left-most
    [proxies, "10.1.1.1", undefined, "10.1.1.1"],
    [none, undefined, undefined, "unknown"],
  ] as const)("%#: peer %p with X-Forwarded-For %p", (resolve, peer, xff, expected) => {
    expect(resolve(peer, xff)).toBe(expected);
  });
});
