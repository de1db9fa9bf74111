import type { FC } from "hono/jsx";
import type { ImageLinks } from "./links.ts";

const UNITS = ["bytes", "KiB", "MiB", "GiB"];

/** 48213 → "47.1 KiB". */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} bytes` : `${value.toFixed(value < 10 ? 1 : 0).replace(/\.0$/, "")} ${UNITS[unit]}`;
}

/** "2026-11-28 22:05 UTC": the same for every reader, whatever their locale. */
export const formatDate = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

export const TYPE_NAMES: Record<string, string> = { "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WebP" };

/** A read-only link with a Copy button (common.client.js copies the input's value). */
export const LinkField: FC<{ id: string; label: string; value: string; hint?: string }> = ({ id, label, value, hint }) => (
  <div class="link-field">
    <label for={id}>{label}</label>
    <div class="copy-row">
      <input id={id} type="text" readonly value={value} spellcheck={false} autocomplete="off" data-link={id} aria-describedby={hint ? `${id}-hint` : undefined} />
      <button type="button" class="button copy" data-copy={id} aria-label={`Copy ${label}`}>Copy</button>
    </div>
    {hint ? <p class="hint" id={`${id}-hint`}>{hint}</p> : null}
  </div>
);

export const LINK_LABELS: Array<[keyof ImageLinks, string]> = [
  ["page", "Page"],
  ["file", "Direct link"],
  ["thumbnail", "Thumbnail"],
  ["markdown", "Markdown"],
  ["html", "HTML"],
];

/** Every way to share one image; `prefix` keeps ids unique when several images are on a page. */
export const ShareLinks: FC<{ links: ImageLinks; prefix: string }> = ({ links, prefix }) => (
  <div class="share-links">
    {LINK_LABELS.map(([key, label]) => (
      <LinkField id={`${prefix}-${key}`} label={label} value={links[key]} />
    ))}
  </div>
);

/**
 * Deletes an image from the page: delete.client.js sends `DELETE` with the token from the
 * field (or the URL fragment, or this browser's memory of its own uploads). `mode: "owner"`
 * (account pages) sends the session's CSRF token instead of a delete token.
 */
export const DeleteForm: FC<{ apiUrl: string; id: string; afterHref: string; afterLabel: string; mode: "token" | "owner"; filename: string }> = (p) => (
  <form class="delete-form" data-delete-form data-image-id={p.id} data-api={p.apiUrl} data-after={p.afterHref} data-after-label={p.afterLabel} data-mode={p.mode} novalidate>
    {p.mode === "token" ? (
      <div class="field token-field">
        <label for="delete-token">Delete token or delete link</label>
        <input id="delete-token" name="token" type="text" autocomplete="off" spellcheck={false} required aria-describedby="delete-token-hint" />
        <p class="hint" id="delete-token-hint">Given once, when the image was uploaded: the link ends in #token.</p>
      </div>
    ) : null}
    <p class="delete-warning">This removes {p.filename}, its thumbnail and every link to it, for good.</p>
    <div class="actions">
      <button type="submit" class="button danger">Delete image</button>
    </div>
    <p class="delete-result" role="status" aria-live="polite" tabindex={-1}></p>
  </form>
);
