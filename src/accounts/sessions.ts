// Browser sessions: what the pages' cookie names. The cookie holds 256 random bits; the server
// keeps only their SHA-256 (like API keys), reads sessions through the cache, and ends them with a
// delete that records its invalidation in the same statement, so a signed-out session stops
// working on every instance at once. A session acts for its user only while the user is active
// (the user comes through the same versioned cache as for tokens and keys).
import { createHash, createHmac, randomBytes } from "node:crypto";
import { and, eq, lte, sql } from "drizzle-orm";
import type { Cache, Codec } from "../cache/cache.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { sessions } from "../db/schema.ts";
import { outboxCte, outboxIdsOf, type Committed } from "../invalidation/outbox.ts";
import type { CachedUser, UserLookup } from "./user-cache.ts";
import { CANONICAL_UUID, SHA256_HEX, parseJsonObject } from "../untrusted.ts";

const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;
// Sessions never change, only go: every cached copy is version 1; an end (version null) refuses them all.
const SESSION_VERSION = 1;

export const hashSessionToken = (token: string) => createHash("sha256").update(token).digest("hex");
export const sessionCacheKey = (prefix: string, tokenHash: string) => `${prefix}:session:${tokenHash}`;

/**
 * The session's CSRF token (the synchronizer token pages send back): derived from the session's
 * secret, so nothing more is stored, and an HMAC, so the token (which is in every page) reveals
 * nothing of the cookie.
 */
export const csrfTokenOf = (sessionToken: string) => createHmac("sha256", sessionToken).update("chitram csrf token v1").digest("base64url");

export type CachedSession = { tokenHash: string; userId: string; expiresAt: Date };

/** SQL for `sessions`. Every write is one statement. */
export type SessionsRepo = {
  /** Stores a session (its hash only), and drops the user's expired ones in the same statement. */
  create(tokenHash: string, userId: string, expiresAt: Date): Promise<void>;
  findByHash(tokenHash: string): Promise<CachedSession | undefined>;
  /** Deletes the session with its cache invalidation, in one statement; false when there was none. */
  end(tokenHash: string, afterCommit: (change: Committed) => Promise<void>): Promise<boolean>;
};

export function createSessionsRepo(database: DatabaseHandle, cachePrefix: string): SessionsRepo {
  const { db, run } = database;
  const keyPrefix = sessionCacheKey(cachePrefix, "");
  const byHash = db
    .select({ tokenHash: sessions.tokenHash, userId: sessions.userId, expiresAt: sessions.expiresAt })
    .from(sessions)
    .where(eq(sessions.tokenHash, sql.placeholder("hash")))
    .limit(1)
    .prepare("sessions_by_hash");

  return {
    create: (tokenHash, userId, expiresAt) =>
      run(async () => {
        // Expired sessions are refused when read whatever a cache holds: dropping them needs no invalidation.
        const pruned = db.$with("pruned").as(
          db.delete(sessions).where(and(eq(sessions.userId, userId), lte(sessions.expiresAt, sql`now()`))).returning({ tokenHash: sessions.tokenHash }),
        );
        await db.with(pruned).insert(sessions).values({ tokenHash, userId, expiresAt });
      }),
    findByHash: (tokenHash) => run(async () => (await byHash.execute({ hash: tokenHash }))[0]),
    end: (tokenHash, afterCommit) =>
      run(
        async () => {
          const deleted = db.$with("deleted").as(db.delete(sessions).where(eq(sessions.tokenHash, tokenHash)).returning({ tokenHash: sessions.tokenHash }));
          // Gone for good: version null, so no cached copy of it is ever served again.
          const invalidated = outboxCte(db, sql`select ${keyPrefix} || ${deleted.tokenHash}, null::int from ${deleted}`);
          const [r] = await db.with(deleted, invalidated).select({ outboxIds: outboxIdsOf(invalidated) }).from(deleted);
          return r;
        },
        async (r) => {
          if (!r) return false;
          await afterCommit({ invalidations: [{ key: keyPrefix + tokenHash, version: null }], outboxIds: r.outboxIds });
          return true;
        },
      ),
  };
}

/** Strict decoder of a cached session (untrusted input): the hash must be the one in the cache key. */
export function decodeCachedSession(raw: string, expectedHash: string): { value: CachedSession; version: number; loadedAtMs: number } | undefined {
  const o = parseJsonObject(raw);
  if (!o) return undefined;
  const { tokenHash, userId, expiresAt, cachedAt } = o;
  if (tokenHash !== expectedHash || !SHA256_HEX.test(expectedHash)) return undefined;
  if (typeof userId !== "string" || !CANONICAL_UUID.test(userId)) return undefined;
  if (typeof expiresAt !== "number" || !Number.isSafeInteger(expiresAt) || typeof cachedAt !== "number" || !Number.isFinite(cachedAt)) return undefined;
  return { value: { tokenHash: expectedHash, userId, expiresAt: new Date(expiresAt) }, version: SESSION_VERSION, loadedAtMs: cachedAt };
}

/** What a session cookie stands for: its user (active or not: the caller decides) and its CSRF token. */
export type SessionInfo = { user: CachedUser; csrfToken: string };

/**
 * Sessions for the pages: `start` signs a user in (the new cookie value and how long it lasts),
 * `read` finds who a cookie value stands for (undefined for anything unknown, expired or ended),
 * `end` signs out (on every instance at once).
 */
export type Sessions = {
  start(userId: string): Promise<{ token: string; maxAgeSeconds: number }>;
  read(token: string): Promise<SessionInfo | undefined>;
  end(token: string): Promise<void>;
};

export function createSessions(d: {
  repo: SessionsRepo;
  cache: Cache;
  users: UserLookup;
  prefix: string;
  lifetimeSeconds: number;
  committed: (change: Committed) => Promise<void>;
}): Sessions {
  const hashStart = sessionCacheKey(d.prefix, "").length;
  const codec: Codec<CachedSession> = {
    encode: (s, loadedAtMs) => JSON.stringify({ tokenHash: s.tokenHash, userId: s.userId, expiresAt: s.expiresAt.getTime(), cachedAt: loadedAtMs }),
    decode: (raw, key) => decodeCachedSession(raw, key.slice(hashStart)),
    version: () => SESSION_VERSION,
  };

  return {
    async start(userId) {
      const token = randomBytes(32).toString("base64url");
      await d.repo.create(hashSessionToken(token), userId, new Date(Date.now() + d.lifetimeSeconds * 1000));
      return { token, maxAgeSeconds: d.lifetimeSeconds };
    },
    async read(token) {
      // Anything that is not a value this server hands out costs no lookup.
      if (!SESSION_TOKEN.test(token)) return undefined;
      const hash = hashSessionToken(token);
      const { value: session } = await d.cache.wrap(sessionCacheKey(d.prefix, hash), codec, () => d.repo.findByHash(hash));
      if (!session || session.expiresAt.getTime() <= Date.now()) return undefined;
      const { user } = await d.users.get(session.userId);
      return user && { user, csrfToken: csrfTokenOf(token) };
    },
    async end(token) {
      if (SESSION_TOKEN.test(token)) await d.repo.end(hashSessionToken(token), d.committed);
    },
  };
}
