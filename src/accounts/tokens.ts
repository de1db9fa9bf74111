import { sql } from "drizzle-orm";
import { sign, verify } from "hono/jwt";
import type { DatabaseHandle } from "../db/client.ts";
import { appSecrets } from "../db/schema.ts";
import { CANONICAL_UUID } from "../untrusted.ts";

/** The one algorithm tokens are signed and accepted with: a token naming any other is refused. */
const ALG = "HS256";
// Instances' clocks may differ a little: a token issued "in the future" by this much is accepted.
const CLOCK_SKEW_SECONDS = 60;

/**
 * Access tokens: JWTs signed with HS256 (hono/jwt), carrying `sub` (the user id), `iat` and `exp`.
 * `verify` pins the algorithm (a header with `none`, HS512, RS256 … is refused before any
 * signature check) and requires all three claims. Returns the user id, or undefined for any token
 * that is not one of ours and current; whether that user may still act is the caller's question.
 */
export type Tokens = {
  issue(userId: string): Promise<{ token: string; expiresInSeconds: number }>;
  verify(token: string): Promise<string | undefined>;
};

export async function createTokens(secret: string, expiresInMinutes: number): Promise<Tokens> {
  // Imported once: hono/jwt would import a string secret again for every signature.
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const lifetime = expiresInMinutes * 60;
  return {
    async issue(userId) {
      const iat = Math.floor(Date.now() / 1000);
      return { token: await sign({ sub: userId, iat, exp: iat + lifetime }, key, ALG), expiresInSeconds: lifetime };
    },
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        // exp is checked by hono/jwt when present (and required below); iat with our own leeway.
        payload = await verify(token, key, { alg: ALG, iat: false });
      } catch {
        return undefined;
      }
      const { sub, iat, exp } = payload;
      const now = Math.floor(Date.now() / 1000);
      if (typeof sub !== "string" || !CANONICAL_UUID.test(sub)) return undefined;
      if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= now) return undefined;
      if (typeof iat !== "number" || !Number.isFinite(iat) || iat > now + CLOCK_SKEW_SECONDS || iat > exp) return undefined;
      return sub;
    },
  };
}

const JWT_SECRET_NAME = "jwt_signing_key";

/**
 * The signing key: JWT_SECRET_KEY when set, otherwise the one stored in the database, made by
 * whichever instance asked first. One statement: an insert that, when the row exists (also when a
 * concurrent first start inserted it a moment earlier: ON CONFLICT waits for that commit), returns
 * the stored value instead — every instance of the fleet gets the same key.
 */
export async function loadJwtSecret(database: DatabaseHandle, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const { db, run } = database;
  const candidate = Buffer.from(crypto.getRandomValues(new Uint8Array(64))).toString("base64url");
  const [row] = await run(() =>
    db
      .insert(appSecrets)
      .values({ name: JWT_SECRET_NAME, value: candidate })
      .onConflictDoUpdate({ target: appSecrets.name, set: { name: sql`excluded.name` } })
      .returning({ value: appSecrets.value }),
  );
  if (!row) throw new Error("could not read or create the JWT signing key");
  return row.value;
}
