/**
 * The geometry between face-api's networks: clipping a box to the image, cropping it, and the
 * dlib-style alignment box computed from 68 landmarks. Reproduces face-api 1.7.15's
 * `Box.clipAtImageBorders`, `extractFaceTensors` and `FaceLandmarks.alignDlib` exactly, including
 * their rounding, because descriptor fidelity depends on cropping the very same pixels.
 * @module
 */
import type { RgbImage } from "./image/rgb_image.ts";

/** An axis-aligned box in image pixels. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A point in image pixels. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/**
 * Clips a box to the image and floors it, as face-api's `Box.clipAtImageBorders`.
 * The result may have zero or negative size when the box lies outside the image.
 */
export function clipBox(box: Box, imageWidth: number, imageHeight: number): Box {
  const x = Math.max(box.x, 0);
  const y = Math.max(box.y, 0);
  const width = Math.min(box.x + box.width - x, imageWidth - x);
  const height = Math.min(box.y + box.height - y, imageHeight - y);
  return {
    x: Math.floor(x),
    y: Math.floor(y),
    width: Math.floor(width),
    height: Math.floor(height),
  };
}

/**
 * Copies the pixels of an integer box (already clipped) into a new image.
 * @throws {RangeError} when the box is empty or not inside the image
 */
export function cropImage(image: RgbImage, box: Box): RgbImage {
  const { x, y, width, height } = box;
  if (
    width < 1 || height < 1 || x < 0 || y < 0 || x + width > image.width ||
    y + height > image.height || !Number.isInteger(x + y + width + height)
  ) {
    throw new RangeError(
      `Crop ${JSON.stringify(box)} is not an integer box inside ${image.width}x${image.height}`,
    );
  }
  const data = new Uint8Array(width * height * 3);
  const rowBytes = width * 3;
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * image.width + x) * 3;
    data.set(image.data.subarray(from, from + rowBytes), row * rowBytes);
  }
  return { width, height, data };
}

/** The mean of some points (a landmark group's centre). */
export function centroid(points: readonly Point[]): Point {
  let x = 0, y = 0;
  for (const p of points) {
    x += p.x;
    y += p.y;
  }
  return { x: x / points.length, y: y / points.length };
}

// face-api's alignment constants (FaceLandmarks.ts): where the eyes/mouth centroid sits in the box.
const ALIGN_REL_X = 0.5;
const ALIGN_REL_Y = 0.43;
const ALIGN_REL_SCALE = 0.45;

/** Number of points the 68-landmark model produces. */
export const LANDMARK_COUNT = 68;

/**
 * The box face-api crops for the recognition net (`landmarks.align(null, {useDlibAlignment:
 * true})`): sized from the eye-to-mouth distance, placed around the eyes/mouth centroid.
 *
 * @param landmarks 68 points in image pixels
 * @param faceCrop the size of the crop the landmarks were detected on; face-api caps the box
 *   size with it (`min(size, cropWidth + x)`), a quirk we keep for fidelity
 */
export function alignmentBox(
  landmarks: readonly Point[],
  faceCrop: { width: number; height: number },
): Box {
  if (landmarks.length !== LANDMARK_COUNT) {
    throw new RangeError(`alignmentBox needs ${LANDMARK_COUNT} landmarks, got ${landmarks.length}`);
  }
  const leftEye = centroid(landmarks.slice(36, 42));
  const rightEye = centroid(landmarks.slice(42, 48));
  const mouth = centroid(landmarks.slice(48, 68));
  const dist = (p: Point) => Math.hypot(mouth.x - p.x, mouth.y - p.y);
  const eyeToMouth = (dist(leftEye) + dist(rightEye)) / 2;
  const size = Math.floor(eyeToMouth / ALIGN_REL_SCALE);
  const ref = centroid([leftEye, rightEye, mouth]);
  const x = Math.floor(Math.max(0, ref.x - ALIGN_REL_X * size));
  const y = Math.floor(Math.max(0, ref.y - ALIGN_REL_Y * size));
  return {
    x,
    y,
    width: Math.min(size, faceCrop.width + x),
    height: Math.min(size, faceCrop.height + y),
  };
}

/** Intersection over union of two boxes (0 when they do not overlap). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}
