// Delete forms (the delete page, the image page): nothing is deleted until the person presses
// the button; then one DELETE with the token in X-Delete-Token (owners: the session's CSRF token).
// The token comes from the URL fragment (the kept delete link, never sent to any server), from
// this browser's memory of its own uploads, or from the field.
"use strict";
(() => {
  const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

  function tokenFrom(text) {
    const t = text.trim();
    const afterHash = t.includes("#") ? t.slice(t.lastIndexOf("#") + 1) : t;
    try {
      return decodeURIComponent(afterHash);
    } catch {
      return afterHash;
    }
  }

  function remembered(id) {
    try {
      return localStorage.getItem(`chitram:delete:${id}`);
    } catch {
      return null;
    }
  }

  function forget(id) {
    try {
      localStorage.removeItem(`chitram:delete:${id}`);
    } catch {
      // nothing to forget
    }
  }

  function describe(status, body) {
    const error = body && body.error;
    const code = error && error.code;
    if (code === "INVALID_DELETE_TOKEN") return "This token does not belong to this image. Check that the delete link was copied whole.";
    if (code === "DELETE_TOKEN_REQUIRED") return "Enter the delete token (or paste the whole delete link).";
    if (code === "IMAGE_NOT_FOUND") return "This image is already gone: it has been deleted.";
    if (code === "FORBIDDEN" && !(error.details && error.details.reason)) return "Only the owner of this image can delete it.";
    return window.chitram.describe(status, error);
  }

  function setup(form) {
    const id = form.dataset.imageId;
    const field = form.querySelector("input[name=token]");
    const result = form.querySelector(".delete-result");
    const button = form.querySelector("button[type=submit]");
    const show = (kind, text) => {
      result.dataset.kind = kind;
      result.textContent = text;
    };

    const fill = () => {
      if (!field) return;
      const fromLink = tokenFrom(location.hash.slice(1));
      const known = remembered(id);
      if (TOKEN.test(fromLink)) {
        field.value = fromLink;
        form.setAttribute("data-token-from-link", ""); // the link says which image: no field to fill
      } else if (known) {
        field.value = known;
        const hint = form.querySelector(".token-field .hint");
        if (hint) hint.textContent = "This browser uploaded the image and kept its token: it is filled in.";
      }
      result.textContent = "";
    };
    fill();
    // Another delete link pasted into the address bar changes only the fragment: no reload.
    window.addEventListener("hashchange", fill);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const headers = { Accept: "application/json" };
      if (form.dataset.mode === "owner") {
        headers["X-CSRF-Token"] = window.chitram.csrfToken ?? "";
      } else {
        const token = tokenFrom(field.value);
        if (!token) {
          show("error", "Enter the delete token (or paste the whole delete link).");
          field.focus();
          return;
        }
        headers["X-Delete-Token"] = token;
      }
      button.disabled = true;
      show("busy", "Deleting…");
      let res;
      let body = null;
      try {
        res = await fetch(form.dataset.api, { method: "DELETE", headers, credentials: "same-origin" });
        if (res.status !== 204) body = await res.json().catch(() => null);
      } catch {
        show("error", "Could not reach the server. Check the connection and try again.");
        button.disabled = false;
        return;
      }
      if (res.status === 204 || (body && body.error && body.error.code === "IMAGE_NOT_FOUND")) {
        forget(id);
        show("done", res.status === 204 ? "Deleted. The image, its thumbnail and its links are gone." : describe(res.status, body));
        button.hidden = true;
        form.querySelector(".token-field")?.remove();
        form.querySelector(".delete-warning")?.remove();
        for (const el of document.querySelectorAll("[data-while-present]")) el.hidden = true;
        for (const el of document.querySelectorAll("[data-done-text]")) el.textContent = el.dataset.doneText;
        const next = document.createElement("a");
        next.href = form.dataset.after;
        next.textContent = form.dataset.afterLabel || "Upload images";
        result.append(" ", next);
        // The token is spent: keep it out of the history too.
        if (location.hash) history.replaceState(null, "", location.pathname + location.search);
        result.focus();
        return;
      }
      show("error", describe(res.status, body));
      button.disabled = false;
    });
  }

  for (const form of document.querySelectorAll("form[data-delete-form]")) setup(form);
})();
