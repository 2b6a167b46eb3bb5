/**
 * Turns pixels as stored into pixels as the camera meant them to be seen (EXIF Orientation).
 * @module
 */
import type { RgbImage } from "./rgb_image.ts";

/** True for orientations that swap width and height (the 90°/270° family). */
export function swapsAxes(orientation: number): boolean {
  return orientation >= 5 && orientation <= 8;
}

/**
 * For each display pixel (x, y) of a `width`×`height` display, the stored pixel index it takes,
 * given the stored size `storedWidth`×`storedHeight`. Orientation numbers follow EXIF 2.3
 * ("row 0 is the visual top/right/bottom/left...").
 */
function sourceIndex(
  orientation: number,
  x: number,
  y: number,
  storedWidth: number,
  storedHeight: number,
): number {
  const right = storedWidth - 1;
  const bottom = storedHeight - 1;
  switch (orientation) {
    case 2:
      return y * storedWidth + (right - x);
    case 3:
      return (bottom - y) * storedWidth + (right - x);
    case 4:
      return (bottom - y) * storedWidth + x;
    case 5:
      return x * storedWidth + y;
    case 6:
      return (bottom - x) * storedWidth + y;
    case 7:
      return (bottom - x) * storedWidth + (right - y);
    case 8:
      return x * storedWidth + (right - y);
    default:
      return y * storedWidth + x;
  }
}

/**
 * Applies EXIF `orientation` (1–8; anything else is treated as 1) to `image`.
 * @returns `image` itself for orientation 1, otherwise a new image
 */
export function applyOrientation(image: RgbImage, orientation: number): RgbImage {
  if (orientation < 2 || orientation > 8) return image;
  const { width: storedWidth, height: storedHeight, data: source } = image;
  const width = swapsAxes(orientation) ? storedHeight : storedWidth;
  const height = swapsAxes(orientation) ? storedWidth : storedHeight;
  const data = new Uint8Array(source.length);
  let out = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = sourceIndex(orientation, x, y, storedWidth, storedHeight) * 3;
      data[out++] = source[from];
      data[out++] = source[from + 1];
      data[out++] = source[from + 2];
    }
  }
  return { width, height, data };
}
