// Pixel work for thumbnails, on RGBA buffers: fit within a box (area-average downscale, alpha
// composited onto white on the way), and the EXIF orientation. Runs inside the thumbnail Worker.
//
// Hand-written rather than a resize library: the one WebAssembly resizer of the same family as the
// codecs would be a fifth embedded module for what is two separable loops here, and an area average
// (each output pixel is the mean of the source pixels it covers) is the right filter for the large
// reductions a thumbnail makes.

export type Rgba = { width: number; height: number; data: Uint8Array | Uint8ClampedArray };

/** The size `width`×`height` takes to fit within `box`×`box`, aspect kept, never upscaled. */
export function fitWithin(width: number, height: number, box: number): { width: number; height: number } {
  const scale = Math.min(1, box / width, box / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Per output index: the first source index it covers and the weight of each covered source index. */
function coverage(srcSize: number, dstSize: number): { first: Int32Array; weights: Float32Array[] } {
  const ratio = srcSize / dstSize;
  const first = new Int32Array(dstSize);
  const weights: Float32Array[] = [];
  for (let i = 0; i < dstSize; i++) {
    const from = i * ratio;
    const to = Math.min(srcSize, (i + 1) * ratio);
    const start = Math.floor(from);
    const end = Math.ceil(to);
    const w = new Float32Array(end - start);
    for (let s = start; s < end; s++) w[s - start] = (Math.min(to, s + 1) - Math.max(from, s)) / ratio;
    first[i] = start;
    weights.push(w);
  }
  return { first, weights };
}

/**
 * Opaque RGBA of `dst` size: the area average of `src`, each source pixel first composited onto
 * white by its alpha (so transparent areas become white and edges do not darken).
 */
export function resizeOntoWhite(src: Rgba, dstWidth: number, dstHeight: number): Rgba {
  const { width: sw, height: sh, data } = src;
  const h = coverage(sw, dstWidth);
  const v = coverage(sh, dstHeight);
  // Horizontal pass: every source row → dstWidth RGB floats.
  const rows = new Float32Array(sh * dstWidth * 3);
  for (let y = 0; y < sh; y++) {
    const rowIn = y * sw * 4;
    const rowOut = y * dstWidth * 3;
    for (let x = 0; x < dstWidth; x++) {
      const w = h.weights[x]!;
      let p = rowIn + h.first[x]! * 4;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < w.length; k++, p += 4) {
        const a = data[p + 3]! / 255;
        const white = 255 * (1 - a);
        const wk = w[k]!;
        r += (data[p]! * a + white) * wk;
        g += (data[p + 1]! * a + white) * wk;
        b += (data[p + 2]! * a + white) * wk;
      }
      const o = rowOut + x * 3;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  // Vertical pass.
  const out = new Uint8Array(dstWidth * dstHeight * 4);
  for (let y = 0; y < dstHeight; y++) {
    const w = v.weights[y]!;
    const start = v.first[y]!;
    for (let x = 0; x < dstWidth; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < w.length; k++) {
        const i = ((start + k) * dstWidth + x) * 3;
        const wk = w[k]!;
        r += rows[i]! * wk;
        g += rows[i + 1]! * wk;
        b += rows[i + 2]! * wk;
      }
      const o = (y * dstWidth + x) * 4;
      out[o] = Math.round(r);
      out[o + 1] = Math.round(g);
      out[o + 2] = Math.round(b);
      out[o + 3] = 255;
    }
  }
  return { width: dstWidth, height: dstHeight, data: out };
}

/**
 * The image as a viewer shows it for EXIF `orientation` (1–8): for each displayed pixel, which
 * stored pixel it is. 2/4 mirror, 3 turns half, 6 turns clockwise, 8 anticlockwise, 5/7 transpose.
 */
export function applyOrientation(src: Rgba, orientation: number): Rgba {
  if (orientation <= 1 || orientation > 8) return src;
  const { width: w, height: h, data } = src;
  const swap = orientation >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(ow * oh * 4);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break; // 8
      }
      const i = (sy * w + sx) * 4;
      const o = (y * ow + x) * 4;
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
      out[o + 3] = data[i + 3]!;
    }
  }
  return { width: ow, height: oh, data: out };
}
