import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";
import type { Cache, Codec } from "../cache/cache.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { apiKeys, type ApiKeyRow } from "../db/schema.ts";
import { outboxCte, outboxIdsOf, type Committed } from "../invalidation/outbox.ts";
import { CANONICAL_UUID, SHA256_HEX, parseJsonObject } from "../untrusted.ts";

export const SCOPES = ["upload", "delete", "read"] as const;
export type Scope = (typeof SCOPES)[number];

/** Keys look like `chk_<43 base64url characters>`: 256 random bits, recognisable in logs and by secret scanners. */
export const API_KEY_PREFIX = "chk_";
const API_KEY = /^chk_[A-Za-z0-9_-]{43}$/;
const SHOWN_PREFIX_CHARS = 12;
/** How many keys one account may hold. */
export const MAX_KEYS_PER_USER = 100;

export const isApiKeyShaped = (token: string) => API_KEY.test(token);
export const hashApiKey = (key: string) => createHash("sha256").update(key).digest("hex");
export const apiKeyCacheKey = (prefix: string, keyHash: string) => `${prefix}:apikey:${keyHash}`;

/** What the caches hold of a key: enough to authorise a request (the owner is looked up on its own). */
export type CachedApiKey = Pick<ApiKeyRow, "id" | "userId" | "keyHash" | "scopes">;
export type ApiKeyInfo = Pick<ApiKeyRow, "id" | "name" | "prefix" | "scopes" | "createdAt">;

/** SQL for `api_keys`. */
export type ApiKeysRepo = {
  /** Stores a new key (its hash only); undefined when the account already holds MAX_KEYS_PER_USER. */
  create(userId: string, name: string, scopes: Scope[]): Promise<{ key: string; info: ApiKeyInfo } | undefined>;
  list(userId: string): Promise<ApiKeyInfo[]>;
  findByHash(keyHash: string): Promise<CachedApiKey | undefined>;
  /** Deletes the key if it is `userId`'s, with its cache invalidation in the same statement. */
  revoke(userId: string, id: string, afterCommit: (change: Committed) => Promise<void>): Promise<boolean>;
};

export function createApiKeysRepo(database: DatabaseHandle, cachePrefix: string): ApiKeysRepo {
  const { db, run } = database;
  const keyPrefix = apiKeyCacheKey(cachePrefix, "");
  const info = { id: apiKeys.id, name: apiKeys.name, prefix: apiKeys.prefix, scopes: apiKeys.scopes, createdAt: apiKeys.createdAt };
  const byHash = db
    .select({ id: apiKeys.id, userId: apiKeys.userId, keyHash: apiKeys.keyHash, scopes: apiKeys.scopes })
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, sql.placeholder("hash")))
    .limit(1)
    .prepare("api_keys_by_hash");

  return {
    async create(userId, name, scopes) {
      const key = API_KEY_PREFIX + randomBytes(32).toString("base64url");
      const id = crypto.randomUUID();
      const unique = [...new Set(scopes)].sort();
      const created = db.$with("created", info).as(sql`
        insert into ${apiKeys} (id, user_id, name, prefix, key_hash, scopes)
        select ${id}::uuid, ${userId}::uuid, ${name}::text, ${key.slice(0, SHOWN_PREFIX_CHARS)}::text, ${hashApiKey(key)}::text,
          ${`{${unique.join(",")}}`}::text[]
        where (select count(*) from ${apiKeys} where user_id = ${userId}::uuid) < ${MAX_KEYS_PER_USER}
        returning id, name, prefix, scopes, created_at`);
      const [row] = await run(() => db.with(created).select().from(created));
      return row && { key, info: row };
    },
    list: (userId) => run(() => db.select(info).from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))),
    findByHash: (keyHash) => run(async () => (await byHash.execute({ hash: keyHash }))[0]),
    revoke: (userId, id, afterCommit) =>
      run(
        async () => {
          const deleted = db.$with("deleted").as(
            db.delete(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).returning({ keyHash: apiKeys.keyHash }),
          );
          // Gone for good: version null, so no cached copy of it is ever served again.
          const invalidated = outboxCte(db, sql`select ${keyPrefix} || ${deleted.keyHash}, null::int from ${deleted}`);
          const [r] = await db.with(deleted, invalidated).select({ keyHash: deleted.keyHash, outboxIds: outboxIdsOf(invalidated) }).from(deleted);
          return r;
        },
        async (r) => {
          if (!r) return false;
          await afterCommit({ invalidations: [{ key: keyPrefix + r.keyHash, version: null }], outboxIds: r.outboxIds });
          return true;
        },
      ),
  };
}

// Keys never change, only go: every cached copy is version 1, and a revocation (version null) refuses them all.
const KEY_VERSION = 1;

/** Strict decoder of a cached key (untrusted input): the hash must be the one in the cache key. */
export function decodeCachedApiKey(raw: string, expectedHash: string): { value: CachedApiKey; version: number; loadedAtMs: number } | undefined {
  const o = parseJsonObject(raw);
  if (!o) return undefined;
  const { id, userId, keyHash, scopes, cachedAt } = o;
  if (keyHash !== expectedHash || !SHA256_HEX.test(expectedHash)) return undefined;
  if (typeof id !== "string" || !CANONICAL_UUID.test(id) || typeof userId !== "string" || !CANONICAL_UUID.test(userId)) return undefined;
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > SCOPES.length || !scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) return undefined;
  if (typeof cachedAt !== "number" || !Number.isFinite(cachedAt)) return undefined;
  return { value: { id, userId, keyHash: expectedHash, scopes: scopes as string[] }, version: KEY_VERSION, loadedAtMs: cachedAt };
}

/** Keys by their hash through the cache; a revocation on any instance refuses every cached copy at once. */
export type ApiKeyLookup = { get(keyHash: string): Promise<CachedApiKey | undefined> };

export function createApiKeyLookup(repo: ApiKeysRepo, cache: Cache, prefix: string): ApiKeyLookup {
  const hashStart = apiKeyCacheKey(prefix, "").length;
  const codec: Codec<CachedApiKey> = {
    encode: (k, loadedAtMs) => JSON.stringify({ id: k.id, userId: k.userId, keyHash: k.keyHash, scopes: k.scopes, cachedAt: loadedAtMs }),
    decode: (raw, key) => decodeCachedApiKey(raw, key.slice(hashStart)),
    version: () => KEY_VERSION,
  };
  return {
    async get(keyHash) {
      const { value } = await cache.wrap(apiKeyCacheKey(prefix, keyHash), codec, () => repo.findByHash(keyHash));
      return value;
    },
  };
}
