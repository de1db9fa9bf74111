// The seed system's own API tests for auth, image ownership and tags (abhi10/chitram,
// backend/tests/api/test_auth.py, test_images_auth.py, test_tags.py), ported one for one and run
// on both databases, each test on an empty database as there. Two differences are intended:
// errors are {"error": {...}} instead of {"detail": {...}}, and validation failures are 400
// INVALID_REQUEST instead of 422.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { bearer, json } from "./support/accounts.ts";
import { freshDatabase, type FreshDatabase } from "./support/fresh-db.ts";
import { createHarness, type DbKind, type Harness } from "./support/harness.ts";
import { fixture } from "./support/images.ts";
import { HAVE_POSTGRES } from "./support/services.ts";

const kinds: DbKind[] = HAVE_POSTGRES ? ["pglite", "postgres"] : ["pglite"];

describe.each(kinds)("the seed system's API tests on %s", (kind) => {
  let fresh: FreshDatabase;
  let h: Harness;
  let sample: Uint8Array;
  beforeAll(async () => {
    fresh = await freshDatabase(kind, "seedport");
    h = await createHarness({ db: fresh.db });
    sample = await fixture("tiny.jpg");
  }, 60_000); // a PGlite of its own: seconds to initialise
  afterAll(async () => {
    await h.close();
    await fresh.close();
  });
  beforeEach(() => fresh.reset());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => h.request(path, json(body, headers));
  const registerToken = async (email: string, password = "password123") => (await (await post("/api/v1/auth/register", { email, password })).json()).access_token as string;
  // conftest.py's auth_headers / other_user_auth_headers fixtures.
  const authHeaders = async () => bearer(await registerToken("testuser@example.com"));
  const otherUserAuthHeaders = async () => bearer(await registerToken("otheruser@example.com"));
  const upload = async (headers: Record<string, string> = {}, name = "test.jpg") => (await h.upload(sample, name, "image/jpeg", headers)).json();
  const addTag = (imageId: string, body: unknown, headers: Record<string, string>) => post(`/api/v1/images/${imageId}/tags`, body, headers);
  const errorCode = async (res: Response) => (await res.json()).error.code;

  describe("test_auth.py", () => {
    test("TestRegister.test_register_success", async () => {
      const res = await post("/api/v1/auth/register", { email: "test@example.com", password: "secure_password_123" });
      expect(res.status).toBe(201);
      const data = await res.json();
      expect(data.user).toBeDefined();
      expect(data.access_token).toBeDefined();
      expect(data.user.email).toBe("test@example.com");
      expect(data.token_type).toBe("bearer");
    });

    test("TestRegister.test_register_duplicate_email", async () => {
      await post("/api/v1/auth/register", { email: "dupe@example.com", password: "password123" });
      const res = await post("/api/v1/auth/register", { email: "dupe@example.com", password: "different_password" });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe("EMAIL_EXISTS");
    });

    test("TestRegister.test_register_invalid_email (400, not 422)", async () => {
      const res = await post("/api/v1/auth/register", { email: "not-an-email", password: "password123" });
      expect(res.status).toBe(400);
    });

    test("TestRegister.test_register_short_password (400, not 422)", async () => {
      const res = await post("/api/v1/auth/register", { email: "test@example.com", password: "short" });
      expect(res.status).toBe(400);
    });

    test("TestLogin.test_login_success", async () => {
      await post("/api/v1/auth/register", { email: "login@example.com", password: "password123" });
      const res = await post("/api/v1/auth/login", { email: "login@example.com", password: "password123" });
      expect(res.status).toBe(200);
      const data = await res.json();
      expect(data.user).toBeDefined();
      expect(data.access_token).toBeDefined();
      expect(data.user.email).toBe("login@example.com");
    });

    test("TestLogin.test_login_wrong_password", async () => {
      await post("/api/v1/auth/register", { email: "wrong@example.com", password: "correct_password" });
      const res = await post("/api/v1/auth/login", { email: "wrong@example.com", password: "wrong_password" });
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe("INVALID_CREDENTIALS");
    });

    test("TestLogin.test_login_nonexistent_user", async () => {
      const res = await post("/api/v1/auth/login", { email: "nonexistent@example.com", password: "any_password" });
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe("INVALID_CREDENTIALS");
    });

    test("TestGetMe.test_get_me_authenticated", async () => {
      const token = await registerToken("me@example.com");
      const res = await h.request("/api/v1/auth/me", { headers: bearer(token) });
      expect(res.status).toBe(200);
      const data = await res.json();
      expect(data.email).toBe("me@example.com");
      expect(data.password_hash).toBeUndefined();
    });

    test("TestGetMe.test_get_me_unauthenticated", async () => {
      expect((await h.request("/api/v1/auth/me")).status).toBe(401);
    });

    test("TestGetMe.test_get_me_invalid_token", async () => {
      expect((await h.request("/api/v1/auth/me", { headers: bearer("invalid.token.here") })).status).toBe(401);
    });

    test("TestTokenEndpoint.test_token_endpoint_success", async () => {
      await post("/api/v1/auth/register", { email: "oauth@example.com", password: "password123" });
      const res = await h.request("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: "oauth@example.com", password: "password123" }) });
      expect(res.status).toBe(200);
      const data = await res.json();
      expect(data.access_token).toBeDefined();
      expect(data.token_type).toBe("bearer");
    });

    test("TestTokenEndpoint.test_token_endpoint_invalid_credentials", async () => {
      const res = await h.request("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username: "bad@example.com", password: "wrong" }) });
      expect(res.status).toBe(401);
    });
  });

  describe("test_images_auth.py", () => {
    test("TestUploadWithAuth.test_anonymous_upload_returns_delete_token", async () => {
      const res = await h.upload(sample, "test.jpg", "image/jpeg");
      expect(res.status).toBe(201);
      const data = await res.json();
      expect(data.delete_token).not.toBeNull();
      expect(data.delete_token.length).toBeGreaterThanOrEqual(40);
    });

    test("TestUploadWithAuth.test_authenticated_upload_no_delete_token", async () => {
      const token = await registerToken("uploader@example.com");
      const res = await h.upload(sample, "test.jpg", "image/jpeg", bearer(token));
      expect(res.status).toBe(201);
      expect((await res.json()).delete_token).toBeNull();
    });

    test("TestDeleteWithAuth.test_anonymous_delete_with_valid_token", async () => {
      const { id, delete_token } = await upload();
      const res = await h.request(`/api/v1/images/${id}?delete_token=${encodeURIComponent(delete_token)}`, { method: "DELETE" });
      expect(res.status).toBe(204);
    });

    test("TestDeleteWithAuth.test_anonymous_delete_without_token_fails", async () => {
      const { id } = await upload();
      const res = await h.request(`/api/v1/images/${id}`, { method: "DELETE" });
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("DELETE_TOKEN_REQUIRED");
    });

    test("TestDeleteWithAuth.test_anonymous_delete_with_wrong_token_fails", async () => {
      const { id } = await upload();
      const res = await h.request(`/api/v1/images/${id}?delete_token=wrong_token_here`, { method: "DELETE" });
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("INVALID_DELETE_TOKEN");
    });

    test("TestDeleteWithAuth.test_owner_can_delete_own_image", async () => {
      const token = await registerToken("owner@example.com");
      const { id } = await upload(bearer(token));
      const res = await h.request(`/api/v1/images/${id}`, { method: "DELETE", headers: bearer(token) });
      expect(res.status).toBe(204);
    });

    test("TestDeleteWithAuth.test_non_owner_cannot_delete_others_image", async () => {
      const token1 = await registerToken("user1@example.com");
      const { id } = await upload(bearer(token1));
      const token2 = await registerToken("user2@example.com");
      const res = await h.request(`/api/v1/images/${id}`, { method: "DELETE", headers: bearer(token2) });
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("FORBIDDEN");
    });

    test("TestDeleteWithAuth.test_delete_nonexistent_image", async () => {
      const res = await h.request("/api/v1/images/nonexistent-id?delete_token=any_token", { method: "DELETE" });
      expect(res.status).toBe(404);
    });
  });

  describe("test_tags.py", () => {
    test("TestGetImageTags.test_get_tags_for_image_without_tags", async () => {
      const { id } = await upload(await authHeaders());
      const res = await h.request(`/api/v1/images/${id}/tags`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });

    test("TestGetImageTags.test_get_tags_for_image_with_tags", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      await addTag(id, { tag: "nature", category: "landscape" }, auth);
      const res = await h.request(`/api/v1/images/${id}/tags`);
      expect(res.status).toBe(200);
      const tags = await res.json();
      expect(tags.length).toBe(2);
      expect(["sunset", "nature"]).toContain(tags[0].name);
      expect(tags[0].source).toBe("user");
      expect(tags[0].confidence).toBeNull();
    });

    test("TestGetImageTags.test_get_tags_for_nonexistent_image", async () => {
      const res = await h.request("/api/v1/images/nonexistent-id/tags");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });

    test("TestAddTagToImage.test_add_tag_success", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      const res = await addTag(id, { tag: "sunset" }, auth);
      expect(res.status).toBe(201);
      const tag = await res.json();
      expect(tag.name).toBe("sunset");
      expect(tag.source).toBe("user");
      expect(tag.confidence).toBeNull();
      expect(tag.category).toBeNull();
    });

    test("TestAddTagToImage.test_add_tag_with_category", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      const res = await addTag(id, { tag: "mountain", category: "landscape" }, auth);
      expect(res.status).toBe(201);
      const tag = await res.json();
      expect(tag.name).toBe("mountain");
      expect(tag.category).toBe("landscape");
    });

    test("TestAddTagToImage.test_add_tag_normalizes_name", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      const res = await addTag(id, { tag: "  SUNSET  " }, auth);
      expect(res.status).toBe(201);
      expect((await res.json()).name).toBe("sunset");
    });

    test("TestAddTagToImage.test_add_duplicate_tag_fails", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      const res = await addTag(id, { tag: "sunset" }, auth);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe("INVALID_REQUEST");
    });

    test("TestAddTagToImage.test_add_tag_requires_authentication", async () => {
      const { id } = await upload(await authHeaders());
      const res = await post(`/api/v1/images/${id}/tags`, { tag: "sunset" });
      expect(res.status).toBe(401);
    });

    test("TestAddTagToImage.test_add_tag_requires_ownership", async () => {
      const { id } = await upload(await authHeaders());
      const res = await addTag(id, { tag: "sunset" }, await otherUserAuthHeaders());
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("FORBIDDEN");
    });

    test("TestAddTagToImage.test_add_tag_to_nonexistent_image", async () => {
      const res = await addTag("nonexistent-id", { tag: "sunset" }, await authHeaders());
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe("IMAGE_NOT_FOUND");
    });

    test("TestRemoveTagFromImage.test_remove_tag_success", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      const res = await h.request(`/api/v1/images/${id}/tags/sunset`, { method: "DELETE", headers: auth });
      expect(res.status).toBe(204);
      expect(await (await h.request(`/api/v1/images/${id}/tags`)).json()).toEqual([]);
    });

    test("TestRemoveTagFromImage.test_remove_tag_case_insensitive", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      const res = await h.request(`/api/v1/images/${id}/tags/SUNSET`, { method: "DELETE", headers: auth });
      expect(res.status).toBe(204);
    });

    test("TestRemoveTagFromImage.test_remove_nonexistent_tag", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      const res = await h.request(`/api/v1/images/${id}/tags/nonexistent`, { method: "DELETE", headers: auth });
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe("TAG_NOT_FOUND");
    });

    test("TestRemoveTagFromImage.test_remove_tag_requires_authentication", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      expect((await h.request(`/api/v1/images/${id}/tags/sunset`, { method: "DELETE" })).status).toBe(401);
    });

    test("TestRemoveTagFromImage.test_remove_tag_requires_ownership", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      const res = await h.request(`/api/v1/images/${id}/tags/sunset`, { method: "DELETE", headers: await otherUserAuthHeaders() });
      expect(res.status).toBe(403);
    });

    test("TestListTags.test_list_tags_empty", async () => {
      const res = await h.request("/api/v1/tags");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });

    test("TestListTags.test_list_tags_returns_all_tags", async () => {
      const auth = await authHeaders();
      for (const name of ["sunset", "nature", "mountain"]) {
        const { id } = await upload(auth, `${name}.jpg`);
        await addTag(id, { tag: name }, auth);
      }
      const res = await h.request("/api/v1/tags");
      expect(res.status).toBe(200);
      const tags = await res.json();
      expect(tags.length).toBe(3);
      const names = tags.map((t: { name: string }) => t.name);
      for (const name of ["sunset", "nature", "mountain"]) expect(names).toContain(name);
    });

    test("TestListTags.test_list_tags_respects_limit", async () => {
      const auth = await authHeaders();
      for (let i = 0; i < 5; i++) {
        const { id } = await upload(auth, `test${i}.jpg`);
        await addTag(id, { tag: `tag${i}` }, auth);
      }
      const res = await h.request("/api/v1/tags?limit=3");
      expect(res.status).toBe(200);
      expect((await res.json()).length).toBe(3);
    });

    test("TestPopularTags.test_popular_tags_empty", async () => {
      const res = await h.request("/api/v1/tags/popular");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });

    test("TestPopularTags.test_popular_tags_ordered_by_count", async () => {
      const auth = await authHeaders();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await upload(auth, `test${i}.jpg`)).id);
      for (const id of ids) await addTag(id, { tag: "sunset" }, auth);
      for (const id of ids.slice(0, 2)) await addTag(id, { tag: "nature" }, auth);
      await addTag(ids[0]!, { tag: "mountain" }, auth);
      const res = await h.request("/api/v1/tags/popular");
      expect(res.status).toBe(200);
      const tags = await res.json();
      expect(tags.length).toBe(3);
      expect(tags[0]).toMatchObject({ name: "sunset", count: 3 });
      expect(tags[1]).toMatchObject({ name: "nature", count: 2 });
      expect(tags[2]).toMatchObject({ name: "mountain", count: 1 });
    });

    test("TestPopularTags.test_popular_tags_respects_limit", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      for (let i = 0; i < 5; i++) await addTag(id, { tag: `tag${i}` }, auth);
      const res = await h.request("/api/v1/tags/popular?limit=3");
      expect(res.status).toBe(200);
      expect((await res.json()).length).toBe(3);
    });

    test("TestSearchTags.test_search_tags_empty_query", async () => {
      const res = await h.request("/api/v1/tags/search?q=");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });

    test("TestSearchTags.test_search_tags_prefix_match", async () => {
      const auth = await authHeaders();
      for (const name of ["sunset", "sun", "mountain"]) {
        const { id } = await upload(auth, `${name}.jpg`);
        await addTag(id, { tag: name }, auth);
      }
      const res = await h.request("/api/v1/tags/search?q=sun");
      expect(res.status).toBe(200);
      const names = (await res.json()).map((t: { name: string }) => t.name);
      expect(names.length).toBe(2);
      expect(names).toContain("sun");
      expect(names).toContain("sunset");
      expect(names).not.toContain("mountain");
    });

    test("TestSearchTags.test_search_tags_case_insensitive", async () => {
      const auth = await authHeaders();
      const { id } = await upload(auth);
      await addTag(id, { tag: "sunset" }, auth);
      const res = await h.request("/api/v1/tags/search?q=SUN");
      expect(res.status).toBe(200);
      const results = await res.json();
      expect(results.length).toBe(1);
      expect(results[0].name).toBe("sunset");
    });

    test("TestSearchTags.test_search_tags_respects_limit", async () => {
      const auth = await authHeaders();
      for (let i = 0; i < 5; i++) {
        const { id } = await upload(auth, `test${i}.jpg`);
        await addTag(id, { tag: `tag${i}` }, auth);
      }
      const res = await h.request("/api/v1/tags/search?q=tag&limit=3");
      expect(res.status).toBe(200);
      expect((await res.json()).length).toBe(3);
    });

    test("TestSearchTags.test_search_tags_no_results", async () => {
      const res = await h.request("/api/v1/tags/search?q=nonexistent");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
    });
  });
});
