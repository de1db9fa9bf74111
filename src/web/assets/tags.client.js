// The owner's tags on the image page: add (POST /api/v1/images/{id}/tags) and remove (DELETE
// …/tags/{name}), with the session's CSRF token. New chips are clones of the page's <template>.
"use strict";
(() => {
  const form = document.getElementById("tag-form");
  if (!form) return;
  const { api, describe } = window.chitram;
  const list = document.getElementById("tag-list");
  const template = document.getElementById("tag-template");
  const input = document.getElementById("tag-input");
  const error = document.getElementById("tag-error");
  const none = document.getElementById("no-tags");
  const base = document.body.dataset.base;

  function chip(name) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.tag = name;
    const link = node.querySelector("a");
    link.href = `${base}/me?tag=${encodeURIComponent(name)}`;
    link.textContent = name;
    node.querySelector("button").setAttribute("aria-label", `Remove the tag ${name}`);
    return node;
  }

  function describeTag(res, name) {
    const code = res.error && res.error.code;
    if (code === "INVALID_REQUEST" && res.error.details && res.error.details.field === "tag") return `This image already has the tag “${name}”.`;
    if (code === "INVALID_REQUEST") return "A tag is 2 to 50 characters, without control characters.";
    if (code === "IMAGE_NOT_FOUND") return "This image has been deleted.";
    return describe(res.status, res.error);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = input.value.trim().toLowerCase();
    if (name.length < 2 || name.length > 50) {
      error.textContent = "A tag is 2 to 50 characters.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    error.textContent = "";
    let res;
    try {
      res = await api(list.dataset.api, { method: "POST", json: { tag: name } });
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    if (res.status !== 201) {
      error.textContent = describeTag(res, name);
      input.focus();
      return;
    }
    list.append(chip(res.body.name));
    none.hidden = true;
    form.reset();
    input.focus();
    window.chitramAnnounce(`Tag ${res.body.name} added`);
  });

  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.tag-remove") : null;
    const node = button && button.closest(".tag-chip");
    if (!node) return;
    const name = node.dataset.tag;
    button.disabled = true;
    let res;
    try {
      res = await api(`${list.dataset.api}/${encodeURIComponent(name)}`, { method: "DELETE" });
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    if (res.status === 204 || (res.error && res.error.code === "TAG_NOT_FOUND")) {
      node.remove();
      none.hidden = list.children.length > 0;
      window.chitramAnnounce(`Tag ${name} removed`);
      input.focus();
      return;
    }
    button.disabled = false;
    error.textContent = describe(res.status, res.error);
  });
})();
