import type { Cache, CacheStatus, Codec } from "../cache/cache.ts";
import type { UserRow } from "../db/schema.ts";
import type { UsersRepo } from "./users.ts";
import { parseJsonObject } from "../untrusted.ts";

/** What the caches hold of a user: what authorising a request needs (never the password hash). */
export type CachedUser = Pick<UserRow, "id" | "email" | "isActive" | "isAdmin" | "createdAt" | "version">;

export const toCachedUser = (r: UserRow): CachedUser => ({
  id: r.id,
  email: r.email,
  isActive: r.isActive,
  isAdmin: r.isAdmin,
  createdAt: r.createdAt,
  version: r.version,
});

export const userCacheKey = (prefix: string, id: string) => `${prefix}:user:${id}`;

const MAX_EMAIL_CHARS = 254;

/**
 * Cached values are untrusted input (see decodeCachedImage): a value is used only if it is exactly
 * what this server would have written under that key. Hand-written: it runs on every
 * authenticated request.
 */
export function decodeCachedUser(raw: string, expectedId: string): { value: CachedUser; version: number; loadedAtMs: number } | undefined {
  const o = parseJsonObject(raw);
  if (!o) return undefined;
  const { id, email, isActive, isAdmin, createdAt, version, cachedAt } = o;
  if (id !== expectedId) return undefined;
  if (typeof email !== "string" || email.length < 3 || email.length > MAX_EMAIL_CHARS || email !== email.trim().toLowerCase() || !email.includes("@")) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(email)) return undefined;
  if (typeof isActive !== "boolean" || typeof isAdmin !== "boolean") return undefined;
  if (!Number.isSafeInteger(version) || (version as number) < 1) return undefined;
  if (typeof cachedAt !== "number" || !Number.isFinite(cachedAt)) return undefined;
  const created = typeof createdAt === "string" ? Date.parse(createdAt) : Number.NaN;
  if (Number.isNaN(created)) return undefined;
  const value: CachedUser = { id: expectedId, email, isActive, isAdmin, createdAt: new Date(created), version: version as number };
  return { value, version: value.version, loadedAtMs: cachedAt };
}

function codecFor(prefix: string): Codec<CachedUser> {
  const idStart = userCacheKey(prefix, "").length;
  return {
    encode: (user, loadedAtMs) => JSON.stringify({ ...user, cachedAt: loadedAtMs }),
    decode: (raw, key) => decodeCachedUser(raw, key.slice(idStart)),
    version: (user) => user.version,
  };
}

/**
 * Users through the cache. A deactivation bumps the row's version and records its invalidation
 * in the same statement, so every instance refuses its cached copy the moment it commits: a
 * deactivated user's tokens and keys stop working everywhere at once, without a database read per
 * request.
 */
export type UserLookup = {
  get(id: string): Promise<{ user: CachedUser | undefined; status: CacheStatus }>;
};

export function createUserLookup(repo: UsersRepo, cache: Cache, prefix: string): UserLookup {
  const codec = codecFor(prefix);
  return {
    async get(id) {
      const { value, status } = await cache.wrap(userCacheKey(prefix, id), codec, async () => {
        const row = await repo.findById(id);
        return row && toCachedUser(row);
      });
      return { user: value, status };
    },
  };
}
