// API keys: create one (POST /api/v1/api-keys; the key is shown once, here) and revoke with a
// second press to confirm (DELETE). The session's CSRF token goes with both.
"use strict";
(() => {
  const form = document.getElementById("key-form");
  if (!form) return;
  const { api, describe, formatDate } = window.chitram;
  const list = document.getElementById("key-list");
  const template = document.getElementById("key-template");
  const empty = document.getElementById("keys-empty");
  const error = document.getElementById("key-error");
  const nameField = document.getElementById("key-name");
  const shown = document.getElementById("new-key");
  const shownValue = document.getElementById("new-key-value");
  const submit = form.querySelector("button[type=submit]");

  function item(key) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.keyId = key.id;
    node.querySelector(".key-name").textContent = key.name;
    node.querySelector(".key-prefix").textContent = `${key.prefix}…`;
    node.querySelector(".key-scopes").textContent = key.scopes.join(", ");
    node.querySelector(".key-created").textContent = `made ${formatDate(key.created_at)}`;
    node.querySelector("[data-revoke]").setAttribute("aria-label", `Revoke ${key.name}`);
    return node;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = nameField.value.trim();
    const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((i) => i.value);
    nameField.removeAttribute("aria-invalid");
    if (!name) {
      error.textContent = "Give the key a name, to tell it apart from the others.";
      nameField.setAttribute("aria-invalid", "true");
      nameField.focus();
      return;
    }
    if (scopes.length === 0) {
      error.textContent = "Choose at least one thing the key may do.";
      form.querySelector("input[name=scopes]").focus();
      return;
    }
    submit.disabled = true;
    error.textContent = "";
    let res;
    try {
      res = await api(form.dataset.api, { method: "POST", json: { name, scopes } });
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    submit.disabled = false;
    if (res.status !== 201) {
      error.textContent = res.error && res.error.code === "INVALID_REQUEST" && res.error.details && res.error.details.limit
        ? "This account has as many keys as it may hold. Revoke one you no longer use first."
        : describe(res.status, res.error);
      return;
    }
    shownValue.value = res.body.key;
    shown.hidden = false;
    list.prepend(item(res.body));
    empty.hidden = true;
    form.reset();
    shownValue.focus(); // read-only fields select themselves (common.client.js)
    window.chitramAnnounce(`Key ${res.body.name} created. Copy it now: it is shown only this once.`);
  });

  function setConfirming(node, on) {
    node.querySelector("[data-while-idle]").hidden = on;
    node.querySelector(".key-confirm").hidden = !on;
    (on ? node.querySelector("[data-confirm]") : node.querySelector("[data-revoke]")).focus();
  }

  async function revoke(node) {
    const name = node.querySelector(".key-name").textContent;
    const confirm = node.querySelector("[data-confirm]");
    confirm.disabled = true;
    let res;
    try {
      res = await api(`${list.dataset.api}/${node.dataset.keyId}`, { method: "DELETE" });
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    if (res.status === 204 || (res.error && res.error.code === "API_KEY_NOT_FOUND")) {
      const next = node.nextElementSibling || node.previousElementSibling;
      node.remove();
      window.chitramAnnounce(`${name} revoked`);
      if (next) next.querySelector("[data-revoke]").focus();
      else {
        empty.hidden = false;
        nameField.focus();
      }
      return;
    }
    confirm.disabled = false;
    node.querySelector(".key-status").textContent = describe(res.status, res.error);
  }

  list.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    const node = button && button.closest(".key-item");
    if (!node) return;
    if (button.matches("[data-revoke]")) setConfirming(node, true);
    else if (button.matches("[data-cancel]")) setConfirming(node, false);
    else if (button.matches("[data-confirm]")) revoke(node);
  });
})();
