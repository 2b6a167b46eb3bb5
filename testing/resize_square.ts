/**
 * Resizes a face crop to a square of any side for the size sweeps of issue 11 (32 to 6000 px):
 * the project's own resampler (`toNetInput`, face-api's bilinear) up to its 4096-px cap, plain
 * bilinear (half-pixel centres) past it.
 * @module
 */
import { NET_INPUT_SIZE_MAX, toNetInput } from "../model/image/net_input.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";

/**
 * Pads `image` to a square (centred) and resizes it to `side` × `side`.
 * @param image the crop
 * @param side output side in pixels
 */
export function resizeSquare(image: RgbImage, side: number): RgbImage {
  const data = new Uint8Array(side * side * 3);
  if (side <= NET_INPUT_SIZE_MAX) {
    const input = toNetInput(image, { size: side, centered: true });
    const plane = side * side;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) data[3 * p + c] = Math.round(input.data[c * plane + p]);
    }
    return { width: side, height: side, data };
  }
  if (image.width !== image.height) {
    return resizeSquare(resizeSquare(image, NET_INPUT_SIZE_MAX), side);
  }
  const s = image.width / side;
  const last = image.width - 1;
  const taps = Array.from({ length: side }, (_, i) => {
    const f = Math.min(last, Math.max(0, (i + 0.5) * s - 0.5));
    const lo = Math.floor(f);
    return { lo, hi: Math.min(lo + 1, last), w: f - lo };
  });
  const src = image.data, width = image.width;
  for (let y = 0; y < side; y++) {
    const ty = taps[y];
    for (let x = 0; x < side; x++) {
      const tx = taps[x];
      for (let c = 0; c < 3; c++) {
        const a = src[(ty.lo * width + tx.lo) * 3 + c], b = src[(ty.lo * width + tx.hi) * 3 + c];
        const d = src[(ty.hi * width + tx.lo) * 3 + c], e = src[(ty.hi * width + tx.hi) * 3 + c];
        data[(y * side + x) * 3 + c] = Math.round(
          (1 - ty.w) * ((1 - tx.w) * a + tx.w * b) + ty.w * ((1 - tx.w) * d + tx.w * e),
        );
      }
    }
  }
  return { width: side, height: side, data };
}
