import type { Logger } from "../logger.ts";
import { SKIPPED, type RedisConnection } from "../cache/redis-connection.ts";

export type RateDecision = { allowed: boolean; limit: number; remaining: number; resetSeconds: number; retryAfterSeconds: number };
export type RateLimiterState = "redis" | "in-process" | "disabled";

/** Per-client (or per-user, per-account) limits shared by all instances through Redis, per instance while Redis is away. */
export type RateLimiter = {
  check(client: string): Promise<RateDecision>;
  state(): RateLimiterState;
  close(): void;
};

// GCRA (generic cell rate algorithm): a smooth sliding window. Each request advances the client's
// "theoretical arrival time" (TAT) by periodMs/limit; a request is refused when the TAT would run
// more than a whole period ahead of now. So `limit` requests fit in any period-long window, with
// no double burst at window edges, and capacity returns gradually.
type Gcra = { allowed: boolean; tatMs: number; nowMs: number };

function gcra(tatMs: number | undefined, nowMs: number, limit: number, periodMs: number): Gcra {
  const interval = periodMs / limit;
  const newTat = Math.max(tatMs ?? nowMs, nowMs) + interval;
  return newTat - nowMs > periodMs ? { allowed: false, tatMs: tatMs ?? nowMs, nowMs } : { allowed: true, tatMs: newTat, nowMs };
}

function decide(g: Gcra, limit: number, periodMs: number): RateDecision {
  const interval = periodMs / limit;
  const ahead = Math.max(0, g.tatMs - g.nowMs); // how far the client's TAT runs ahead of now
  // The 1 ms tolerance absorbs rounding (2000 ms / 3 does not divide evenly; Redis returns ms to 3 decimals).
  const remaining = Math.max(0, Math.floor((periodMs - ahead + 1) / interval));
  // A refused client may retry when its TAT + one interval fits within the period again.
  const retryMs = g.allowed ? 0 : ahead + interval - periodMs;
  return {
    allowed: g.allowed,
    limit,
    remaining,
    resetSeconds: Math.ceil(ahead / 1000),
    retryAfterSeconds: g.allowed ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
  };
}

// Same algorithm in Lua, using Redis' clock so every instance agrees. Returns {allowed, tat, now}.
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local newTat = math.max(tat, now) + interval
local function ms(x) return string.format('%.3f', x) end
if newTat - now > period then return {0, ms(tat), ms(now)} end
redis.call('SET', KEYS[1], ms(newTat), 'PX', math.ceil(newTat - now))
return {1, ms(newTat), ms(now)}`;

export function createRateLimiter(
  opts: { enabled: boolean; limit: number; windowSeconds: number; keyPrefix: string; /** What is counted (keys `{prefix}:ratelimit:{name}:…`); default "upload". */ name?: string },
  redis: RedisConnection | undefined,
  logger: Logger,
): RateLimiter {
  const periodMs = opts.windowSeconds * 1000;
  const local = new Map<string, number>(); // client -> TAT (ms)
  let lastState: RateLimiterState | undefined;

  // Forget clients whose TAT has passed, so the map stays as small as the set of active clients.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, tat] of local) if (tat <= now) local.delete(k);
  }, Math.min(periodMs, 60_000));
  sweep.unref?.();

  const state = (): RateLimiterState => (!opts.enabled ? "disabled" : redis?.state() === "connected" ? "redis" : "in-process");
  const note = (s: RateLimiterState) => {
    if (s !== lastState && lastState !== undefined) logger.warn(`Rate limiter now ${s === "redis" ? "shared through Redis" : "per instance (Redis unavailable)"}`);
    lastState = s;
  };

  function inProcess(client: string): RateDecision {
    const g = gcra(local.get(client), Date.now(), opts.limit, periodMs);
    if (g.allowed) local.set(client, g.tatMs);
    return decide(g, opts.limit, periodMs);
  }

  return {
    state,
    close: () => clearInterval(sweep),
    async check(client) {
      if (!opts.enabled) return { allowed: true, limit: opts.limit, remaining: opts.limit, resetSeconds: 0, retryAfterSeconds: 0 };
      if (redis) {
        try {
          const r = await redis.run((c) =>
            c.eval(GCRA_LUA, { keys: [`${opts.keyPrefix}:ratelimit:${opts.name ?? "upload"}:${client}`], arguments: [String(opts.limit), String(periodMs)] }),
          );
          if (r !== SKIPPED) {
            note("redis");
            const [allowed, tat, now] = r as [number, string, string];
            return decide({ allowed: allowed === 1, tatMs: Number(tat), nowMs: Number(now) }, opts.limit, periodMs);
          }
        } catch {
          // fall through to the local limiter; the connection has logged the outage
        }
      }
      note("in-process");
      return inProcess(client);
    },
  };
}
