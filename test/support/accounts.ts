// Accounts for HTTP tests: unique emails (the shared databases keep every test's accounts),
// registration, sign-in and API keys through the API itself.
import { expect } from "bun:test";
import type { Harness } from "./harness.ts";

export const PASSWORD = "password123";

export const uniqueEmail = (label = "user") => `${label}-${crypto.randomUUID().slice(0, 12)}@example.com`;

export const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json", ...headers },
  body: JSON.stringify(body),
});

export type Account = { id: string; email: string; password: string; token: string; headers: Record<string, string> };

type Requester = Pick<Harness, "request">;

export async function register(h: Requester, email = uniqueEmail(), password = PASSWORD): Promise<Account> {
  const res = await h.request("/api/v1/auth/register", json({ email, password }));
  const body = await res.json();
  expect(`${res.status} ${JSON.stringify(body).slice(0, 200)}`).toStartWith("201");
  return { id: body.user.id, email, password, token: body.access_token, headers: bearer(body.access_token) };
}

export async function login(h: Requester, email: string, password = PASSWORD): Promise<Response> {
  return h.request("/api/v1/auth/login", json({ email, password }));
}

/** A new API key of `owner` with these scopes: the key itself and its id. */
export async function createApiKey(h: Requester, owner: Account, scopes: string[], name = "test key"): Promise<{ key: string; id: string; headers: Record<string, string> }> {
  const res = await h.request("/api/v1/api-keys", json({ name, scopes }, owner.headers));
  const body = await res.json();
  expect(`${res.status} ${JSON.stringify(body).slice(0, 200)}`).toStartWith("201");
  return { key: body.key, id: body.id, headers: bearer(body.key) };
}

/** Uploads a small PNG as `headers` (none: anonymous); returns the response's JSON with its status. */
export async function uploadAs(h: Harness, headers: Record<string, string>, bytes: Uint8Array, name = "img.png") {
  const res = await h.upload(bytes, name, "image/png", headers);
  return { status: res.status, body: await res.json(), headers: res.headers };
}
