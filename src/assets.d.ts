// Text and file imports that Bun bundles (`with { type: "text" | "file" }`).
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "@electric-sql/pglite/pglite.wasm" {
  const path: string;
  export default path;
}
declare module "@electric-sql/pglite/initdb.wasm" {
  const path: string;
  export default path;
}
declare module "@electric-sql/pglite/pglite.data" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
// The thumbnail codecs' WebAssembly, embedded the same way (src/thumbnails/codecs.ts).
declare module "@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm" {
  const path: string;
  export default path;
}
declare module "@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm" {
  const path: string;
  export default path;
}
declare module "@jsquash/png/codec/pkg/squoosh_png_bg.wasm" {
  const path: string;
  export default path;
}
declare module "@jsquash/webp/codec/dec/webp_dec.wasm" {
  const path: string;
  export default path;
}
// omggif 1.0.10 ships no types; only what codecs.ts uses.
declare module "omggif" {
  export class GifReader {
    constructor(bytes: Uint8Array);
    readonly width: number;
    readonly height: number;
    numFrames(): number;
    frameInfo(frame: number): { x: number; y: number; width: number; height: number; has_local_palette: boolean; transparent_index: number | null; disposal: number; delay: number };
    decodeAndBlitFrameRGBA(frame: number, pixels: Uint8Array | Uint8ClampedArray): void;
  }
}
// The web pages' own assets (src/web/assets.ts): embedded files, served as they are.
declare module "*.client.js" {
  const path: string;
  export default path;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*.svg" {
  const path: string;
  export default path;
}
