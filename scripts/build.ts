// `bun run build`: one self-contained executable, dist/chitram. Migrations (text imports),
// PGlite's wasm/data assets (file imports in src/db/pglite-assets.ts) and the thumbnail codecs'
// wasm (src/thumbnails/codecs.ts) are embedded in it. The thumbnail Worker is a second entry point:
// Bun bundles each entry point into the binary, and `new Worker(new URL("./worker.ts", …))` finds it.
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outfile = join(root, "dist", "chitram");
const args = [
  "build",
  "--compile",
  "--minify",
  "--sourcemap",
  // Bytecode halves start-up; it needs ESM output with top-level await (src/main.ts uses it).
  "--bytecode",
  "--format=esm",
  join(root, "src", "main.ts"),
  join(root, "src", "thumbnails", "worker.ts"),
  "--outfile",
  outfile,
];
const target = process.env.CHITRAM_BUILD_TARGET; // e.g. bun-linux-arm64 for cross-builds
if (target) args.push(`--target=${target}`);

const started = performance.now();
const proc = Bun.spawn([process.execPath, ...args], { cwd: root, stdout: "inherit", stderr: "inherit" });
const code = await proc.exited;
if (code !== 0) process.exit(code);
const size = Bun.file(outfile).size;
console.log(`built ${outfile} (${(size / 1024 / 1024).toFixed(1)} MiB) in ${Math.round(performance.now() - started)} ms`);
