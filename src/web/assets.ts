// The pages' style sheet, scripts and icon, embedded like the docs page's (src/docs/assets.ts):
// `with { type: "file" }` gives a path that works from source and inside the compiled binary.
// Pages link them as /assets/<name>?v=<content hash>: a new build changes the link, so a link with
// the current hash is cached for a year and anything else is revalidated.
import appCss from "./assets/app.css" with { type: "file" };
import commonJs from "./assets/common.client.js" with { type: "file" };
import deleteJs from "./assets/delete.client.js" with { type: "file" };
import galleryJs from "./assets/gallery.client.js" with { type: "file" };
import iconSvg from "./assets/icon.svg" with { type: "file" };
import keysJs from "./assets/keys.client.js" with { type: "file" };
import tagsJs from "./assets/tags.client.js" with { type: "file" };
import uploadJs from "./assets/upload.client.js" with { type: "file" };

const FILES = {
  "app.css": { path: appCss, type: "text/css; charset=utf-8" },
  "common.js": { path: commonJs, type: "text/javascript; charset=utf-8" },
  "upload.js": { path: uploadJs, type: "text/javascript; charset=utf-8" },
  "delete.js": { path: deleteJs, type: "text/javascript; charset=utf-8" },
  "gallery.js": { path: galleryJs, type: "text/javascript; charset=utf-8" },
  "keys.js": { path: keysJs, type: "text/javascript; charset=utf-8" },
  "tags.js": { path: tagsJs, type: "text/javascript; charset=utf-8" },
  "icon.svg": { path: iconSvg, type: "image/svg+xml" },
} as const;

export type WebAssetName = keyof typeof FILES;
export const WEB_ASSET_NAMES = Object.keys(FILES) as [WebAssetName, ...WebAssetName[]];

export type WebAsset = { bytes: Uint8Array<ArrayBuffer>; type: string; version: string };

let loaded: Promise<Record<WebAssetName, WebAsset>> | undefined;

/** Every asset read once per process (a few kilobytes), with the hash that versions its links. */
export function webAssets(): Promise<Record<WebAssetName, WebAsset>> {
  loaded ??= (async () => {
    const entries = await Promise.all(
      WEB_ASSET_NAMES.map(async (name) => {
        const bytes = await Bun.file(FILES[name].path).bytes();
        const version = new Bun.CryptoHasher("sha256").update(bytes).digest("hex").slice(0, 16);
        return [name, { bytes, type: FILES[name].type, version }] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<WebAssetName, WebAsset>;
  })();
  return loaded;
}

/** The versioned link to an asset under the pages' base path. */
export async function assetUrl(basePath: string, name: WebAssetName): Promise<string> {
  return `${basePath}/assets/${name}?v=${(await webAssets())[name].version}`;
}
