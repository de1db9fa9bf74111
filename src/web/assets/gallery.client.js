// My images: more pages as the list scrolls (the cursor API, GET /api/v1/images), and delete
// with a second press to confirm (DELETE with the session's CSRF token). New cards are clones of
// the page's <template>; only text, attributes and values are filled in.
"use strict";
(() => {
  const list = document.getElementById("gallery");
  if (!list) return;
  const { api, describe, formatBytes, formatDate } = window.chitram;
  const template = document.getElementById("card-template");
  const more = document.getElementById("load-more");
  const status = document.getElementById("gallery-status");
  const empty = document.getElementById("gallery-empty");
  const base = document.body.dataset.base;
  const publicBase = document.body.dataset.publicBase;
  let cursor = list.dataset.nextCursor || null;
  let loading = false;

  function card(meta) {
    const node = template.content.firstElementChild.cloneNode(true);
    const page = `${base}/images/${meta.id}`;
    node.dataset.imageId = meta.id;
    node.querySelector(".card-media").href = page;
    const img = node.querySelector("img");
    // Paths under this page's base, not the API's absolute URLs: the page's CSP allows only itself.
    img.src = `${base}/api/v1/images/${meta.id}/${meta.thumbnail_status === "ready" ? "thumbnail" : "file"}`;
    if (meta.width && meta.height) {
      img.width = meta.width;
      img.height = meta.height;
    }
    const title = node.querySelector(".card-title");
    title.href = page;
    title.textContent = meta.filename;
    const time = node.querySelector("time");
    time.dateTime = meta.created_at;
    time.textContent = formatDate(meta.created_at);
    node.querySelector(".card-size").textContent = formatBytes(meta.file_size);
    const copy = node.querySelector("button.copy");
    copy.dataset.copyText = `${publicBase}/api/v1/images/${meta.id}/file`;
    copy.setAttribute("aria-label", `Copy the direct link of ${meta.filename}`);
    node.querySelector("[data-delete]").setAttribute("aria-label", `Delete ${meta.filename}`);
    return node;
  }

  async function loadMore() {
    if (loading || !cursor) return;
    loading = true;
    more.setAttribute("aria-disabled", "true");
    status.textContent = "Loading more images…";
    const params = new URLSearchParams({ cursor, limit: list.dataset.pageSize });
    if (list.dataset.tag) params.set("tag", list.dataset.tag);
    let res;
    try {
      res = await api(`${list.dataset.api}?${params}`);
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    loading = false;
    more.removeAttribute("aria-disabled");
    if (!res.ok) {
      status.textContent = `${describe(res.status, res.error)} Press “Load more” to try again.`;
      return;
    }
    const known = new Set([...list.children].map((li) => li.dataset.imageId));
    for (const meta of res.body.images) if (!known.has(meta.id)) list.append(card(meta));
    cursor = res.body.next_cursor;
    more.hidden = !cursor;
    if (cursor) {
      params.set("cursor", cursor);
      params.delete("limit");
      more.href = `${base}/me?${params}`;
    }
    status.textContent = cursor ? `${list.children.length} images shown.` : `All ${list.children.length} images shown.`;
    // A short page may leave the button in view, which the observer does not report again.
    if (cursor) requestAnimationFrame(checkInView);
  }

  function checkInView() {
    const r = more.getBoundingClientRect();
    if (!more.hidden && r.top < window.innerHeight + 600) loadMore();
  }

  // The link pages without JavaScript; here the next page joins this one.
  more.addEventListener("click", (event) => {
    event.preventDefault();
    loadMore();
  });
  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), { rootMargin: "600px 0px" }) : null;
  if (observer) observer.observe(more);

  function setConfirming(item, on) {
    item.querySelector("[data-while-idle]").hidden = on;
    item.querySelector(".card-confirm").hidden = !on;
    item.toggleAttribute("data-confirming", on);
    (on ? item.querySelector("[data-confirm]") : item.querySelector("[data-delete]")).focus();
  }

  async function remove(item) {
    const id = item.dataset.imageId;
    const name = item.querySelector(".card-title").textContent;
    const cardStatus = item.querySelector(".card-status");
    item.querySelector("[data-confirm]").disabled = true;
    cardStatus.textContent = "Deleting…";
    let res;
    try {
      res = await api(`${base}/api/v1/images/${id}`, { method: "DELETE" });
    } catch {
      res = { status: 0, ok: false, error: null };
    }
    if (res.status === 204 || (res.error && res.error.code === "IMAGE_NOT_FOUND")) {
      // Focus moves to the next image (or the previous, or the heading), never into nothing.
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      window.chitramAnnounce(`${name} deleted`);
      if (next) next.querySelector(".card-title").focus();
      else {
        empty.hidden = cursor !== null;
        document.querySelector("h1").setAttribute("tabindex", "-1");
        document.querySelector("h1").focus();
      }
      return;
    }
    item.querySelector("[data-confirm]").disabled = false;
    cardStatus.textContent = describe(res.status, res.error);
  }

  list.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button") : null;
    const item = target && target.closest(".card");
    if (!item) return;
    if (target.matches("[data-delete]")) setConfirming(item, true);
    else if (target.matches("[data-cancel]")) setConfirming(item, false);
    else if (target.matches("[data-confirm]")) remove(item);
  });
  list.addEventListener("keydown", (event) => {
    const item = event.target instanceof Element ? event.target.closest(".card[data-confirming]") : null;
    if (item && event.key === "Escape") setConfirming(item, false);
  });
})();
