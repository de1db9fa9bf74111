// On every page: Copy buttons, read-only links that select themselves, pictures that start as
// their thumbnail and become the original once it has loaded, and what the page scripts share
// (announcements, sizes and dates as the server writes them, the session's CSRF token). Builds
// nodes and sets text only: the pages' CSP refuses HTML parsed from strings (Trusted Types), and
// nothing here needs it.
"use strict";
(() => {
  const UNITS = ["bytes", "KiB", "MiB", "GiB"];
  window.chitram = {
    /** 48213 → "47.1 KiB" (components.tsx formatBytes). */
    formatBytes(n) {
      let value = n;
      let unit = 0;
      while (value >= 1024 && unit < UNITS.length - 1) {
        value /= 1024;
        unit++;
      }
      return unit === 0 ? `${n} bytes` : `${value.toFixed(value < 10 ? 1 : 0).replace(/\.0$/, "")} ${UNITS[unit]}`;
    },
    /** "2026-11-28 22:05 UTC" (components.tsx formatDate). */
    formatDate: (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`,
    /** The signed-in page's CSRF token (sent as X-CSRF-Token), or undefined for a visitor's page. */
    csrfToken: document.querySelector('meta[name="csrf-token"]')?.content,
    /** What an API refusal that any page can meet means, in words; `status` when the body says nothing. */
    describe(status, error) {
      const code = error && error.code;
      const reason = error && error.details && error.details.reason;
      if (reason === "csrf_token" || reason === "csrf_origin") return "This page is out of date. Reload it and try again.";
      if (code === "UNAUTHORIZED") return "You are signed out (or your sign-in has expired). Sign in again and retry.";
      if (code === "USER_INACTIVE") return "This account has been deactivated by the server's admin.";
      if (code === "SERVICE_UNAVAILABLE") return "The server is busy or briefly unavailable. Try again in a moment.";
      if (code === "RATE_LIMIT_EXCEEDED") return `Too many requests for now. Try again in ${(error.details && error.details.retry_after) || "a few"} seconds.`;
      if (error && error.message) return `${error.message}.`.replace(/\.\.$/, ".");
      return status ? `That did not work (the server answered ${status}).` : "Could not reach the server. Check the connection and try again.";
    },
    /** JSON from the API, with the session's CSRF token when there is one; `body` is null for 204. */
    async api(url, { method = "GET", json } = {}) {
      const headers = { Accept: "application/json" };
      if (window.chitram.csrfToken && method !== "GET") headers["X-CSRF-Token"] = window.chitram.csrfToken;
      if (json !== undefined) headers["Content-Type"] = "application/json";
      const res = await fetch(url, { method, headers, credentials: "same-origin", body: json === undefined ? undefined : JSON.stringify(json) });
      const body = res.status === 204 ? null : await res.json().catch(() => null);
      return { status: res.status, ok: res.ok, body, error: body && body.error ? body.error : null };
    },
  };

  const live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  document.body.append(live);

  /** Says something to screen readers without moving focus. */
  window.chitramAnnounce = (text) => {
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 50);
  };

  async function copyText(text, input) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // Permission refused: fall back to the selection.
      }
    }
    // A button without a field of its own (the gallery's) copies through a short-lived one.
    const field = input ?? document.createElement("textarea");
    if (!input) {
      field.value = text;
      field.className = "visually-hidden";
      document.body.append(field);
    }
    field.focus();
    field.select();
    const ok = document.execCommand("copy");
    if (!input) field.remove();
    return ok;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.copy") : null;
    if (!button) return;
    const input = button.closest(".copy-row")?.querySelector("input");
    const text = button.dataset.copyText ?? input?.value;
    if (!text) return;
    const label = button.dataset.label ?? (button.dataset.label = button.textContent.trim());
    const ok = await copyText(text, input);
    button.textContent = ok ? "Copied" : "Select and copy";
    if (ok) button.setAttribute("data-copied", "");
    window.chitramAnnounce(ok ? "Copied to the clipboard" : "Could not copy; the text is selected");
    setTimeout(() => {
      button.textContent = label;
      button.removeAttribute("data-copied");
    }, 2000);
  });

  document.addEventListener("focusin", (event) => {
    const t = event.target;
    if (t instanceof HTMLInputElement && t.readOnly) t.select();
  });

  for (const img of document.querySelectorAll("img[data-full]")) {
    const full = new Image();
    full.onload = () => (img.src = full.src);
    full.src = img.dataset.full;
  }
})();
