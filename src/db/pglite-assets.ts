// The one place that knows how PGlite finds its WebAssembly and data bundle.
// `with { type: "file" }` makes `bun build --compile` embed each asset in the binary and gives us
// a path that works both from source (node_modules) and inside the compiled binary's virtual
// filesystem, where PGlite's own `new URL(..., import.meta.url)` lookup fails. Passing
// `initdbWasmModule` explicitly matters: without it, creating a fresh data dir hangs.
// These paths are tied to @electric-sql/pglite 0.5.17 (pinned in package.json).
import pgliteWasmPath from "@electric-sql/pglite/pglite.wasm" with { type: "file" };
import initdbWasmPath from "@electric-sql/pglite/initdb.wasm" with { type: "file" };
import pgliteDataPath from "@electric-sql/pglite/pglite.data" with { type: "file" };

export type PgliteAssets = {
  pgliteWasmModule: WebAssembly.Module;
  initdbWasmModule: WebAssembly.Module;
  fsBundle: Blob;
};

let loaded: Promise<PgliteAssets> | undefined;

/** Compiles the embedded modules once per process. */
export function loadPgliteAssets(): Promise<PgliteAssets> {
  loaded ??= (async () => {
    const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
      WebAssembly.compile(await Bun.file(pgliteWasmPath).arrayBuffer()),
      WebAssembly.compile(await Bun.file(initdbWasmPath).arrayBuffer()),
    ]);
    return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(pgliteDataPath) };
  })();
  return loaded;
}
