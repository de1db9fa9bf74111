// On every page: Copy buttons, read-only links that select themselves, and pictures that start as
// their thumbnail and become the original once it has loaded. Builds nodes and sets text only:
// the pages' CSP refuses HTML parsed from strings (Trusted Types), and nothing here needs it.
"use strict";
(() => {
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

  async function copyText(input) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(input.value);
        return true;
      } catch {
        // Permission refused: fall back to the selection.
      }
    }
    input.focus();
    input.select();
    return document.execCommand("copy");
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.copy") : null;
    if (!button) return;
    const input = button.closest(".copy-row")?.querySelector("input");
    if (!input) return;
    const ok = await copyText(input);
    button.textContent = ok ? "Copied" : "Select and copy";
    if (ok) button.setAttribute("data-copied", "");
    window.chitramAnnounce(ok ? "Copied to the clipboard" : "Could not copy; the text is selected");
    setTimeout(() => {
      button.textContent = "Copy";
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
