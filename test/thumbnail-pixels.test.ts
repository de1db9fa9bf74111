// The EXIF orientation, all eight values, against the definition written another way: each value
// as the array operations a viewer applies to the stored rows to show the picture upright
// (the photographed case, 6, is also checked end to end in thumbnails.happy.test.ts).
import { describe, expect, test } from "bun:test";
import { applyOrientation, fitWithin, type Rgba } from "../src/thumbnails/pixels.ts";

type Grid = number[][]; // rows of pixel labels

const mirror = (g: Grid) => g.map((row) => [...row].reverse());
const flip = (g: Grid) => [...g].reverse();
const transpose = (g: Grid) => g[0]!.map((_, c) => g.map((row) => row[c]!));
const clockwise = (g: Grid) => mirror(transpose(g));
const anticlockwise = (g: Grid) => flip(transpose(g));

// EXIF 2.32, Orientation: where the stored 0th row and 0th column are shown.
const DISPLAYED: Record<number, (g: Grid) => Grid> = {
  1: (g) => g, // top, left
  2: mirror, // top, right
  3: (g) => flip(mirror(g)), // bottom, right
  4: flip, // bottom, left
  5: transpose, // left, top
  6: clockwise, // right, top
  7: (g) => flip(mirror(transpose(g))), // right, bottom
  8: anticlockwise, // left, bottom
};

/** A stored image whose every pixel carries its own label in its red channel. */
function labelled(width: number, height: number): { rgba: Rgba; grid: Grid } {
  const data = new Uint8Array(width * height * 4);
  const grid: Grid = [];
  for (let y = 0; y < height; y++) {
    grid.push([]);
    for (let x = 0; x < width; x++) {
      const label = y * width + x + 1;
      data.set([label, 0, 0, 255], (y * width + x) * 4);
      grid[y]!.push(label);
    }
  }
  return { rgba: { width, height, data }, grid };
}

const gridOf = (img: Rgba): Grid =>
  Array.from({ length: img.height }, (_, y) => Array.from({ length: img.width }, (_, x) => img.data[(y * img.width + x) * 4]!));

describe("EXIF orientation", () => {
  for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`orientation ${orientation}: the picture as a viewer shows it`, () => {
      const { rgba, grid } = labelled(3, 2);
      const shown = applyOrientation(rgba, orientation);
      const expected = DISPLAYED[orientation]!(grid);
      expect({ width: shown.width, height: shown.height }).toEqual({ width: expected[0]!.length, height: expected.length });
      expect(gridOf(shown)).toEqual(expected);
    });
  }

  test("values outside 1–8 leave the picture as stored", () => {
    const { rgba } = labelled(3, 2);
    for (const o of [0, 9, -1]) expect(applyOrientation(rgba, o)).toBe(rgba);
  });
});

describe("fit within the thumbnail box", () => {
  test("aspect kept, never upscaled, never below one pixel", () => {
    expect(fitWithin(4000, 3000, 300)).toEqual({ width: 300, height: 225 });
    expect(fitWithin(3000, 4000, 300)).toEqual({ width: 225, height: 300 });
    expect(fitWithin(120, 80, 300)).toEqual({ width: 120, height: 80 });
    expect(fitWithin(10_000, 1, 300)).toEqual({ width: 300, height: 1 });
  });
});
