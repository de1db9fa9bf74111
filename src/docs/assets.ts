// The interactive docs page's assets, embedded like PGlite's (see db/pglite-assets.ts): `with {
// type: "file" }` gives a path that works from node_modules and inside the compiled binary, so
// /docs needs no CDN and no network. Tied to swagger-ui-dist 5.35.0 (pinned in package.json).
import swaggerUiBundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };

// Swagger UI reads its settings from here, so the page needs no inline script (CSP script-src 'self').
// validatorUrl: null keeps it from sending the document to validator.swagger.io.
const INIT_JS = `(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
`;

export const DOCS_ASSETS = {
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", body: () => Bun.file(swaggerUiBundlePath) },
  "swagger-ui.css": { type: "text/css; charset=utf-8", body: () => Bun.file(swaggerUiCssPath) },
  "init.js": { type: "text/javascript; charset=utf-8", body: () => INIT_JS },
} as const;

export type DocsAsset = keyof typeof DOCS_ASSETS;

/** The page: every URL in it is on this server (under PUBLIC_URL when set). */
export function docsPage(base: string): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chitram API</title>
<link rel="stylesheet" href="${esc(base)}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="${esc(base)}/openapi.json"></div>
<script src="${esc(base)}/docs/swagger-ui-bundle.js"></script>
<script src="${esc(base)}/docs/init.js"></script>
</body>
</html>
`;
}

/** Only this server: the browser itself refuses any other host, so the page provably works offline. */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
