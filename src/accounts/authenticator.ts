import { ApiError } from "../errors.ts";
import { hashApiKey, isApiKeyShaped, SCOPES, type ApiKeyLookup, type Scope } from "./api-keys.ts";
import type { Tokens } from "./tokens.ts";
import type { CachedUser, UserLookup } from "./user-cache.ts";

/**
 * Who a request acts for, and what it may do: a JWT (or a browser session, the pages' cookie) may
 * do everything its user may; an API key only its scopes.
 */
export type Principal = {
  user: CachedUser;
  via: "token" | "api_key" | "session";
  scopes: ReadonlySet<Scope>;
  apiKeyId?: string;
};

export const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i;
const MAX_CREDENTIAL_CHARS = 4096;

/** A 401 with RFC 6750's challenge, so clients know to (re-)authenticate. */
export const unauthorized = (message: string, error?: "invalid_request" | "invalid_token") =>
  new ApiError("UNAUTHORIZED", message, {}, { "WWW-Authenticate": error ? `Bearer error="${error}"` : "Bearer" });

export const inactive = () => new ApiError("USER_INACTIVE", "User account is inactive", {}, { "WWW-Authenticate": 'Bearer error="invalid_token"' });

/**
 * Resolves an `Authorization` header: nothing → undefined (anonymous); `Bearer <JWT>` or
 * `Bearer <API key>` → the principal; anything else, or credentials that are not (or no longer)
 * valid → 401. A request that sends credentials is never quietly treated as anonymous.
 * Users and keys come through the cache, version-checked against every invalidation heard.
 */
export type Authenticator = { authenticate(header: string | undefined): Promise<Principal | undefined> };

export function createAuthenticator(d: { tokens: Tokens; users: UserLookup; apiKeys: ApiKeyLookup }): Authenticator {
  async function activeUser(id: string, gone: () => ApiError): Promise<CachedUser> {
    const { user } = await d.users.get(id);
    if (!user) throw gone();
    if (!user.isActive) throw inactive();
    return user;
  }

  return {
    async authenticate(header) {
      if (header === undefined || header === "") return undefined;
      const m = header.length <= MAX_CREDENTIAL_CHARS ? BEARER.exec(header) : null;
      if (!m) throw unauthorized("Expected `Authorization: Bearer <token or API key>`", "invalid_request");
      const credential = m[1]!;
      if (isApiKeyShaped(credential)) {
        const key = await d.apiKeys.get(hashApiKey(credential));
        if (!key) throw unauthorized("Invalid or revoked API key", "invalid_token");
        const user = await activeUser(key.userId, () => unauthorized("Invalid or revoked API key", "invalid_token"));
        return { user, via: "api_key", scopes: new Set(key.scopes as Scope[]), apiKeyId: key.id };
      }
      const userId = await d.tokens.verify(credential);
      if (!userId) throw unauthorized("Invalid or expired token", "invalid_token");
      const user = await activeUser(userId, () => unauthorized("Invalid or expired token", "invalid_token"));
      return { user, via: "token", scopes: ALL_SCOPES };
    },
  };
}
