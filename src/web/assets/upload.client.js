// The upload page: files from the picker, drag and drop or the clipboard, uploaded a few at a time
// with a progress bar each (XHR, for upload progress), then their links and, once the server has
// made it, their thumbnail. Each item is a clone of the page's <template>; only text and values
// are filled in here.
"use strict";
(() => {
  const form = document.getElementById("upload-form");
  if (!form) return; // uploads are not open to this visitor
  const input = document.getElementById("file-input");
  const list = document.getElementById("upload-list");
  const results = document.getElementById("results");
  const template = document.getElementById("upload-item");
  const base = document.body.dataset.base;
  const publicBase = document.body.dataset.publicBase;
  const api = form.dataset.api;
  const maxBytes = Number(form.dataset.maxBytes);
  const typeNames = form.dataset.typeNames;
  const { csrfToken } = window.chitram;
  const PARALLEL = 3;
  const THUMBNAIL_WAIT_MS = 120_000;

  let counter = 0;
  let active = 0;
  const queue = [];

  const { formatBytes } = window.chitram;

  // The same links as the image page's (src/web/links.ts).
  function links(meta) {
    const page = `${publicBase}/images/${meta.id}`;
    const file = `${publicBase}/api/v1/images/${meta.id}/file`;
    const escapeAttribute = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const size = meta.width && meta.height ? ` width="${meta.width}" height="${meta.height}"` : "";
    return {
      page,
      file,
      thumbnail: `${publicBase}/api/v1/images/${meta.id}/thumbnail`,
      markdown: `![${meta.filename.replace(/[\\[\]]/g, "\\$&")}](${file})`,
      html: `<img src="${file}" alt="${escapeAttribute(meta.filename)}"${size}>`,
      delete: meta.delete_token ? `${publicBase}/images/${meta.id}/delete#${meta.delete_token}` : null,
    };
  }

  /** The API's error, in words a person can act on. */
  function describeError(status, body) {
    const error = body && body.error;
    const code = error && error.code;
    if (code === "INVALID_FILE_FORMAT") {
      // Name what it is only when that says something to a person (image/bmp, image/svg+xml).
      const detected = error.details && error.details.detected_type;
      const shown = typeof detected === "string" && detected.startsWith("image/") ? ` (it is ${detected.slice(6).toUpperCase()})` : "";
      return `This is not a ${typeNames} image${shown}.`;
    }
    if (code === "FILE_TOO_LARGE") return `This file is larger than the ${formatBytes(maxBytes)} limit.`;
    if (code === "RATE_LIMIT_EXCEEDED") {
      const wait = error.details && error.details.retry_after;
      return `Too many uploads for now. Try again in ${wait || "a few"} seconds.`;
    }
    if (code === "SERVICE_UNAVAILABLE") return "The server is busy or briefly unavailable. Try again in a moment.";
    if (code === "REQUEST_TIMEOUT") return "The upload took too long. Try again, perhaps on a faster connection.";
    if (code === "UNAUTHORIZED") {
      return csrfToken ? "You are signed out (or your sign-in has expired). Sign in again, then upload." : "This server takes uploads from signed-in users only.";
    }
    if (code === "USER_INACTIVE") return "This account has been deactivated by the server's admin.";
    if (error && error.message) return `${error.message}.`.replace(/\.\.$/, ".");
    return `The upload failed (the server answered ${status}).`;
  }

  function rememberToken(id, token) {
    try {
      localStorage.setItem(`chitram:delete:${id}`, token);
    } catch {
      // Storage off or full: the delete link on the page is what counts.
    }
  }

  function createItem(file) {
    const n = ++counter;
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector(".upload-name").textContent = file.name;
    node.querySelector(".upload-size").textContent = formatBytes(file.size);
    node.querySelector(".upload-progress").setAttribute("aria-label", `Uploading ${file.name}`);
    for (const field of node.querySelectorAll("[data-field]")) {
      const id = `upload-${n}-${field.dataset.field}`;
      field.querySelector("input").id = id;
      field.querySelector("label").htmlFor = id;
    }
    const thumb = node.querySelector(".upload-thumb");
    if (file.type.startsWith("image/")) {
      thumb.src = URL.createObjectURL(file);
      thumb.dataset.preview = "local";
    }
    results.hidden = false;
    list.prepend(node);
    return node;
  }

  function setStatus(item, text) {
    item.querySelector(".upload-status").textContent = text;
  }

  function fail(item, text) {
    item.dataset.state = "failed";
    setStatus(item, text);
    window.chitramAnnounce(`${item.querySelector(".upload-name").textContent}: ${text}`);
  }

  function done(item, meta) {
    item.dataset.state = "done";
    item.dataset.imageId = meta.id;
    const l = links(meta);
    const facts = [meta.width && meta.height ? `${meta.width} × ${meta.height}` : null, meta.metadata_removed ? "location and camera data removed" : null];
    setStatus(item, ["Uploaded", ...facts.filter(Boolean)].join(" · "));
    for (const field of item.querySelectorAll("[data-field]")) {
      const value = l[field.dataset.field];
      if (value) field.querySelector("input").value = value;
      else field.hidden = true;
    }
    item.querySelector(".upload-done").hidden = false;
    const media = item.querySelector(".upload-media");
    media.href = `${base}/images/${meta.id}`;
    media.setAttribute("aria-label", `Open ${meta.filename}`);
    media.removeAttribute("tabindex");
    if (meta.delete_token) rememberToken(meta.id, meta.delete_token);
    window.chitramAnnounce(`${meta.filename} uploaded`);
    waitForThumbnail(item, meta.id);
  }

  /** Polls the metadata until the background job has made the thumbnail (or given up on it). */
  async function waitForThumbnail(item, id) {
    const until = Date.now() + THUMBNAIL_WAIT_MS;
    let delay = 500;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 1.5, 5000);
      let meta;
      try {
        const res = await fetch(`${base}/api/v1/images/${id}`, { headers: { Accept: "application/json" } });
        if (res.status === 404) return;
        if (!res.ok) continue;
        meta = await res.json();
      } catch {
        continue;
      }
      if (meta.thumbnail_status === "ready") {
        const thumb = item.querySelector(".upload-thumb");
        const local = thumb.dataset.preview === "local" ? thumb.src : null;
        thumb.onload = () => {
          item.dataset.thumbnail = "ready";
          if (local) URL.revokeObjectURL(local);
        };
        thumb.src = `${base}/api/v1/images/${id}/thumbnail`;
        thumb.alt = meta.filename;
        delete thumb.dataset.preview;
        return;
      }
      if (meta.thumbnail_status === "failed") {
        item.dataset.thumbnail = "failed";
        return;
      }
    }
  }

  function send(item, file) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const progress = item.querySelector(".upload-progress");
      xhr.open("POST", api);
      xhr.responseType = "json";
      xhr.setRequestHeader("Accept", "application/json");
      if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const percent = Math.round((e.loaded / e.total) * 100);
        progress.value = percent;
        setStatus(item, percent < 100 ? `Uploading… ${percent}%` : "Checking the image…");
      };
      xhr.onload = () => {
        if (xhr.status === 201 && xhr.response && xhr.response.id) done(item, xhr.response);
        else fail(item, describeError(xhr.status, xhr.response));
        resolve();
      };
      xhr.onerror = () => {
        fail(item, "Could not reach the server. Check the connection and try again.");
        resolve();
      };
      const data = new FormData();
      data.append("file", file, file.name);
      setStatus(item, "Uploading…");
      xhr.send(data);
    });
  }

  function pump() {
    while (active < PARALLEL && queue.length > 0) {
      const { item, file } = queue.shift();
      active++;
      send(item, file).then(() => {
        active--;
        pump();
      });
    }
  }

  function addFiles(files) {
    for (const file of files) {
      const item = createItem(file);
      if (file.size === 0) fail(item, "This file is empty.");
      else if (file.size > maxBytes) fail(item, `This file is larger than the ${formatBytes(maxBytes)} limit.`);
      else {
        setStatus(item, "Waiting…");
        queue.push({ item, file });
      }
    }
    pump();
  }

  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });

  // Dropping anywhere on the page works; the drop zone shows that it will.
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    depth++;
    form.setAttribute("data-dragging", "");
  });
  document.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    if (--depth <= 0) {
      depth = 0;
      form.removeAttribute("data-dragging");
    }
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    form.removeAttribute("data-dragging");
    addFiles([...e.dataTransfer.files]);
  });

  document.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length === 0) return;
    e.preventDefault();
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
    // Clipboard images are all called image.png; give them a name worth keeping.
    addFiles(files.map((f, i) => new File([f], `pasted-${stamp}${files.length > 1 ? `-${i + 1}` : ""}.${(f.type.split("/")[1] || "png").replace("jpeg", "jpg")}`, { type: f.type })));
  });
})();
