/**
 * The two non-maximum suppressions face-api runs, reproduced with their quirks, because which
 * boxes survive depends on them: the SSD detector's (a hard-threshold variant of TF's
 * soft-NMS loop, `ssdMobilenetv1/nonMaxSuppression.ts`) and the Tiny YOLO one
 * (`ops/nonMaxSuppression.ts`).
 * @module
 */
import type { Box } from "../face_geometry.ts";

/** Options for {@linkcode nmsSsd}. */
export interface NmsSsdOptions {
  /** Keep at most this many boxes. */
  readonly maxOutputSize: number;
  /** A candidate overlapping a kept box by more than this is dropped. */
  readonly iouThreshold: number;
  /** Only candidates scoring strictly above this are considered. */
  readonly scoreThreshold: number;
}

/**
 * IoU of two boxes stored as (ymin, xmin, ymax, xmax) rows of `corners`, as face-api's SSD `IOU`
 * (corners may come in either order; an empty box overlaps nothing).
 */
export function iouCorners(corners: ArrayLike<number>, i: number, j: number): number {
  const yminI = Math.min(corners[i * 4], corners[i * 4 + 2]);
  const xminI = Math.min(corners[i * 4 + 1], corners[i * 4 + 3]);
  const ymaxI = Math.max(corners[i * 4], corners[i * 4 + 2]);
  const xmaxI = Math.max(corners[i * 4 + 1], corners[i * 4 + 3]);
  const yminJ = Math.min(corners[j * 4], corners[j * 4 + 2]);
  const xminJ = Math.min(corners[j * 4 + 1], corners[j * 4 + 3]);
  const ymaxJ = Math.max(corners[j * 4], corners[j * 4 + 2]);
  const xmaxJ = Math.max(corners[j * 4 + 1], corners[j * 4 + 3]);
  const areaI = (ymaxI - yminI) * (xmaxI - xminI);
  const areaJ = (ymaxJ - yminJ) * (xmaxJ - xminJ);
  if (areaI <= 0 || areaJ <= 0) return 0.0;
  const intersection = Math.max(Math.min(ymaxI, ymaxJ) - Math.max(yminI, yminJ), 0.0) *
    Math.max(Math.min(xmaxI, xmaxJ) - Math.max(xminI, xminJ), 0.0);
  return intersection / (areaI + areaJ - intersection);
}

/**
 * face-api's SSD suppression: candidates above `scoreThreshold`, best first (ties keep index
 * order), each kept unless it overlaps an already kept box by more than `iouThreshold`.
 *
 * @param corners n × (ymin, xmin, ymax, xmax)
 * @param scores n scores
 * @param options output cap and thresholds
 * @returns indices of the kept boxes, best first
 * @throws {RangeError} when `corners` does not hold 4 values per score
 *
 * @example
 * ```ts
 * const corners = [0, 0, 1, 1, 0, 0, 1, 0.9, 2, 2, 3, 3];
 * nmsSsd(corners, [0.9, 0.8, 0.7], { maxOutputSize: 10, iouThreshold: 0.5, scoreThreshold: 0.5 });
 * // [0, 2]: box 1 overlaps box 0 by 0.9
 * ```
 */
export function nmsSsd(
  corners: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: NmsSsdOptions,
): number[] {
  if (corners.length !== scores.length * 4) {
    throw new RangeError(
      `nmsSsd needs 4 corner values per score: ${corners.length} values for ${scores.length} scores`,
    );
  }
  const { iouThreshold, scoreThreshold } = options;
  const outputSize = Math.min(options.maxOutputSize, scores.length);
  const candidates: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > scoreThreshold) candidates.push(i);
  // Array.prototype.sort is stable, as face-api relies on for equal scores.
  candidates.sort((a, b) => scores[b] - scores[a]);
  const selected: number[] = [];
  for (const candidate of candidates) {
    if (selected.length >= outputSize) break;
    let suppressed = false;
    for (let j = selected.length - 1; j >= 0; --j) {
      const iou = iouCorners(corners, candidate, selected[j]);
      if (iou === 0.0) continue;
      // face-api multiplies the score by (iou <= threshold ? 1 : 0) and keeps the box only if
      // the score is unchanged: with a positive score, any such overlap (or NaN) drops it.
      if (!(iou <= iouThreshold)) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) selected.push(candidate);
  }
  return selected;
}

/**
 * IoU of two boxes as face-api's `iou(box1, box2, isIOU=true)` on its `Box` class, whose right
 * edge is `x + width` and whose area is `width * height`.
 */
export function iouBoxes(a: Box, b: Box): number {
  const width = Math.max(0.0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const height = Math.max(0.0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const intersection = width * height;
  return intersection / (a.width * a.height + b.width * b.height - intersection);
}

/**
 * face-api's greedy suppression for the Tiny YOLO detectors: repeatedly keep the best remaining
 * box (among equal scores, the one with the highest index) and drop every box overlapping it
 * by more than `iouThreshold` (a NaN overlap, from two empty boxes, drops too).
 *
 * @param boxes candidate boxes
 * @param scores one score per box
 * @param iouThreshold overlap above which a box is dropped
 * @returns indices of the kept boxes, best first
 * @throws {RangeError} when the lengths differ
 *
 * @example
 * ```ts
 * const a = { x: 0, y: 0, width: 10, height: 10 };
 * const b = { x: 1, y: 0, width: 10, height: 10 };
 * nmsTiny([a, b], [0.6, 0.9], 0.4); // [1]
 * ```
 */
export function nmsTiny(
  boxes: readonly Box[],
  scores: readonly number[],
  iouThreshold: number,
): number[] {
  if (boxes.length !== scores.length) {
    throw new RangeError(`nmsTiny got ${boxes.length} boxes but ${scores.length} scores`);
  }
  // Ascending, stable; face-api pops from the end, so ties go to the later index.
  let remaining = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const pick: number[] = [];
  while (remaining.length > 0) {
    const current = remaining.pop()!;
    pick.push(current);
    remaining = remaining.filter((i) => iouBoxes(boxes[current], boxes[i]) <= iouThreshold);
  }
  return pick;
}
