/**
 * Small images fail both detectors: face-api upsamples a 64×64 face crop 8× to SSD's 512 input
 * and finds nothing. Placing the image at the top-left of a larger black canvas keeps the face
 * at a scale the detectors were trained for, and, because the image stays at (0, 0), the boxes
 * found on the canvas are already in the image's pixel coordinates.
 *
 * Measured on the course's ten distinct 64×64 images with the converted networks: SSD finds a
 * face in 0/10 as is and in 10/10 on a 224, 256 or 320 canvas (6/10 at 128, 6/10 at 384).
 * @module
 */
import { assertRgbImage, type RgbImage } from "../image/rgb_image.ts";

/** Largest canvas side we build: more only costs memory, the detectors resize to ≤ 1024 anyway. */
export const CANVAS_SIZE_MAX = 4096;

/**
 * Places `image` at the top-left of a black square canvas of side `sizeMin` when the image is
 * smaller than that on both sides; returns the image itself otherwise.
 *
 * @param image the picture
 * @param sizeMin the canvas side in pixels (e.g. 256 for a 64×64 face crop and SSD)
 * @returns the canvas, or `image` when it is already at least `sizeMin` wide or high
 * @throws {RangeError} when `sizeMin` is not an integer in 1..{@linkcode CANVAS_SIZE_MAX} or the
 *   image's buffer does not match its size
 *
 * @example
 * ```ts
 * const faces = await detectFacesSsd(session, padToCanvas(crop64, 256));
 * // boxes are in crop64's pixels; clip them to 64×64 before cropping
 * ```
 */
export function padToCanvas(image: RgbImage, sizeMin: number): RgbImage {
  assertRgbImage(image);
  if (!Number.isInteger(sizeMin) || sizeMin < 1 || sizeMin > CANVAS_SIZE_MAX) {
    throw new RangeError(`Canvas size must be an integer in 1..${CANVAS_SIZE_MAX}, got ${sizeMin}`);
  }
  if (image.width >= sizeMin || image.height >= sizeMin) return image;
  const data = new Uint8Array(sizeMin * sizeMin * 3);
  const rowBytes = image.width * 3;
  for (let y = 0; y < image.height; y++) {
    data.set(image.data.subarray(y * rowBytes, (y + 1) * rowBytes), y * sizeMin * 3);
  }
  return { width: sizeMin, height: sizeMin, data };
}
