// Ready-made uploader settings: a ShareX custom uploader (.sxcu) and a POSIX shell script for curl
// and Flameshot. Today they upload anonymously and keep the delete link from `delete_token`; with
// an upload-scoped API key (the account pages create one) they send it as a bearer token, and
// the deletion URL is the image's delete page, where its owner deletes through their session.

export type ToolOptions = {
  /** Absolute URL people reach chitram at, without a trailing slash (PUBLIC_URL, or the page's origin). */
  base: string;
  /** True when the server's responses carry absolute URLs (PUBLIC_URL is set); else `url` is a path to prefix. */
  absoluteResponses: boolean;
  apiKey?: string;
};

export const SHAREX_FILENAME = "chitram.sxcu";
export const SCRIPT_FILENAME = "chitram-upload.sh";

/** ShareX's custom uploader format (ShareX 13.7+ `{json:…}` syntax); imported by double-clicking the file. */
export function sharexConfig(o: ToolOptions): Record<string, unknown> {
  const host = new URL(o.base).host;
  return {
    Version: "17.0.0",
    Name: `chitram (${host})`,
    DestinationType: "ImageUploader",
    RequestMethod: "POST",
    RequestURL: `${o.base}/api/v1/images/upload`,
    ...(o.apiKey ? { Headers: { Authorization: `Bearer ${o.apiKey}` } } : {}),
    Body: "MultipartFormData",
    FileFormName: "file",
    URL: o.absoluteResponses ? "{json:url}" : `${o.base}{json:url}`,
    ThumbnailURL: `${o.base}/api/v1/images/{json:id}/thumbnail`,
    DeletionURL: o.apiKey ? `${o.base}/images/{json:id}/delete` : `${o.base}/images/{json:id}/delete#{json:delete_token}`,
    ErrorMessage: "{json:error.message}",
  };
}

/** A single-quoted shell word. */
const shellWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `chitram-upload.sh FILE…` or `flameshot gui --raw | chitram-upload.sh`: uploads with curl,
 * prints each direct link (and copies the last to the clipboard when a clipboard tool exists),
 * and the delete link on standard error. Parses only this server's own compact JSON.
 */
export function uploadScript(o: ToolOptions): string {
  return `#!/bin/sh
# Uploads images to chitram at ${o.base} (made by its "ShareX & scripts" page).
#   ${SCRIPT_FILENAME} FILE...                    upload files; prints each direct link
#   flameshot gui --raw | ${SCRIPT_FILENAME}      upload a screenshot from standard input
# The last link is also copied to the clipboard (wl-copy, xclip, xsel or pbcopy, when there).
# Delete links go to standard error: keep them, they are the only way to delete an upload.
set -eu

CHITRAM_URL=${shellWord(o.base)}
CHITRAM_API_KEY="\${CHITRAM_API_KEY:-${o.apiKey ? o.apiKey.replace(/[^A-Za-z0-9_.~-]/g, "") : ""}}"

field() { printf '%s' "$2" | sed -n "s/.*\\"$1\\":\\"\\([^\\"]*\\)\\".*/\\1/p"; }

upload() {
  spec="file=@\\"$1\\"\${2:+;filename=$2}"
  if [ -n "$CHITRAM_API_KEY" ]; then
    response=$(curl -sS -H "Authorization: Bearer $CHITRAM_API_KEY" -F "$spec" "$CHITRAM_URL/api/v1/images/upload") || return 1
  else
    response=$(curl -sS -F "$spec" "$CHITRAM_URL/api/v1/images/upload") || return 1
  fi
  url=$(field url "$response")
  if [ -z "$url" ]; then
    echo "chitram: $1: $(field message "$response")" >&2
    return 1
  fi
  case $url in /*) url="$CHITRAM_URL$url" ;; esac
  echo "$url"
  token=$(field delete_token "$response")
  if [ -n "$token" ]; then echo "delete link for $1: $CHITRAM_URL/images/$(field id "$response")/delete#$token" >&2; fi
  last=$url
}

copy() {
  for tool in "wl-copy" "xclip -selection clipboard" "xsel --clipboard --input" "pbcopy"; do
    if command -v "\${tool%% *}" >/dev/null 2>&1; then printf '%s' "$1" | $tool && return 0; fi
  done
  return 0
}

last=""
status=0
if [ "$#" -eq 0 ]; then
  if [ -t 0 ]; then
    sed -n '2,6s/^# \\{0,1\\}//p' "$0" >&2
    exit 2
  fi
  tmp=$(mktemp "\${TMPDIR:-/tmp}/chitram-XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cat > "$tmp"
  upload "$tmp" screenshot.png || status=1
else
  for f in "$@"; do upload "$f" || status=1; done
fi
if [ -n "$last" ]; then copy "$last"; fi
exit $status
`;
}
