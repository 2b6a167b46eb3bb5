/**
 * Test-only: deterministic noise images (a small LCG, so no Math.random and the same bytes on
 * every run).
 * @module
 */
import type { RgbImage } from "../model/image/rgb_image.ts";

/** A `width`×`height` RGB image of seeded pseudo-random pixels. */
export function noiseImage(width: number, height: number, seed: number): RgbImage {
  let state = seed >>> 0;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state >>> 24;
  }
  return { width, height, data };
}
