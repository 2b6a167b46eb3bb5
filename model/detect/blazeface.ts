/**
 * BlazeFace's output decoding, for any runtime: the anchors of each model variant, the raw
 * outputs put into one `[anchors, 17]` layout, box and keypoint decoding and MediaPipe's
 * weighted non-maximum suppression. Pure functions over plain arrays, so the same code decodes
 * what tfjs or onnxruntime computed.
 *
 * The networks regress, per anchor: a face logit, the box centre as an offset (in input pixels)
 * from the anchor centre, the box width and height in input pixels, and six keypoints as offsets
 * from the anchor centre. Anchors are cell centres of one or two feature maps, all of a fixed
 * size (MediaPipe's `fixed_anchor_size`), so the anchor contributes only its centre.
 * @module
 */
import { type Box, iou, type Point } from "../face_geometry.ts";
import { BLAZEFACE_FEATURE_MAPS, BLAZEFACE_INPUT_SIZE } from "../specs.ts";

/** The BlazeFace variants we know how to decode. */
export type BlazeFaceVariant = "back" | "front" | "short" | "full";

/** How one variant's anchors are laid out on its square input. */
export interface BlazeFaceSpec {
  /** Square input side in pixels. */
  readonly inputSize: number;
  /** Feature-map strides in input pixels, in output order. */
  readonly strides: readonly number[];
  /** Anchors per feature-map cell, one entry per stride. */
  readonly anchorsPerCell: readonly number[];
}

/**
 * The variants: `back` (256, the TF.js/MediaPipe back-camera model shipped by
 * `@vladmandic/human`), `front` (128; MediaPipe's short-range model is the same network),
 * `short` (MediaPipe short-range, 128) and `full` (MediaPipe full-range, 192, one anchor per
 * stride-4 cell).
 */
export const BLAZEFACE_SPECS: Readonly<Record<BlazeFaceVariant, BlazeFaceSpec>> = {
  // The one the project builds and runs: its geometry is the built model's contract.
  back: {
    inputSize: BLAZEFACE_INPUT_SIZE,
    strides: BLAZEFACE_FEATURE_MAPS.map((m) => m.stride),
    anchorsPerCell: BLAZEFACE_FEATURE_MAPS.map((m) => m.anchorsPerCell),
  },
  front: { inputSize: 128, strides: [8, 16], anchorsPerCell: [2, 6] },
  short: { inputSize: 128, strides: [8, 16], anchorsPerCell: [2, 6] },
  full: { inputSize: 192, strides: [4], anchorsPerCell: [1] },
};

/** Values per anchor in the unified layout: logit, cx, cy, w, h, then 6 keypoints (x, y). */
export const BLAZEFACE_ROW = 17;

/** The six keypoints, in output order (the subject's right eye is on the image's left). */
export const BLAZEFACE_KEYPOINTS = [
  "rightEye",
  "leftEye",
  "noseTip",
  "mouthCenter",
  "rightEarTragion",
  "leftEarTragion",
] as const;

/** MediaPipe clips the logits to ±100 before the sigmoid. */
const LOGIT_CLIP = 100;

/**
 * Anchor centres in input pixels, `[x0, y0, x1, y1, …]`, in the networks' output order:
 * feature map by feature map, row by row, column by column, then the cell's anchors.
 *
 * @param spec the variant's layout
 * @returns 2 values per anchor
 * @throws {RangeError} when strides and anchors-per-cell differ in length or a stride is not a
 *   positive integer
 *
 * @example
 * ```ts
 * blazeFaceAnchors(BLAZEFACE_SPECS.back).length / 2; // 896 = 16²·2 + 8²·6
 * ```
 */
export function blazeFaceAnchors(spec: BlazeFaceSpec): Float32Array {
  const { inputSize, strides, anchorsPerCell } = spec;
  if (strides.length !== anchorsPerCell.length) {
    throw new RangeError(
      `BlazeFace spec has ${strides.length} strides but ${anchorsPerCell.length} anchor counts`,
    );
  }
  let count = 0;
  for (let i = 0; i < strides.length; i++) {
    if (!Number.isInteger(strides[i]) || strides[i] < 1) {
      throw new RangeError(`BlazeFace stride must be a positive integer, got ${strides[i]}`);
    }
    count += Math.ceil(inputSize / strides[i]) ** 2 * anchorsPerCell[i];
  }
  const anchors = new Float32Array(2 * count);
  let k = 0;
  for (let i = 0; i < strides.length; i++) {
    const stride = strides[i];
    const cells = Math.ceil(inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let a = 0; a < anchorsPerCell[i]; a++) {
          anchors[k++] = (x + 0.5) * stride;
          anchors[k++] = (y + 0.5) * stride;
        }
      }
    }
  }
  return anchors;
}

/** One output tensor as a runtime hands it back. */
export interface RawTensor {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
}

/**
 * Puts a model's outputs into one `[anchors, 17]` array (logit first), whatever form the graph
 * gives: one `[1, N, 17]` tensor (MediaPipe's converted detectors, logit first; the full-range
 * graph has two such outputs and the first is its detection head), or BlazeFace's four
 * `[1, n, 1]` scores and `[1, n, 16]` regressors, two per feature map, the larger map first.
 *
 * @param outputs the outputs in the graph's order
 * @param anchorCount anchors of the variant
 * @returns `anchorCount × 17` values
 * @throws {RangeError} when the outputs fit neither form or do not cover `anchorCount` anchors
 */
export function unifyBlazeFaceOutputs(
  outputs: readonly RawTensor[],
  anchorCount: number,
): Float32Array {
  const rows = (t: RawTensor) => t.data.length / t.dims[t.dims.length - 1];
  const width = (t: RawTensor) => t.dims[t.dims.length - 1];
  const joined = outputs.find((t) => width(t) === BLAZEFACE_ROW && rows(t) === anchorCount);
  if (joined) return Float32Array.from(joined.data);
  const scores = outputs.filter((t) => width(t) === 1).sort((a, b) => rows(b) - rows(a));
  const boxes = outputs.filter((t) => width(t) === 16).sort((a, b) => rows(b) - rows(a));
  const total = scores.reduce((n, t) => n + rows(t), 0);
  if (
    scores.length === 0 || scores.length !== boxes.length || total !== anchorCount ||
    scores.some((t, i) => rows(t) !== rows(boxes[i]))
  ) {
    const shapes = outputs.map((t) => `[${t.dims.join(",")}]`).join(" ");
    throw new RangeError(`BlazeFace outputs ${shapes} do not hold ${anchorCount} anchors`);
  }
  const out = new Float32Array(anchorCount * BLAZEFACE_ROW);
  let row = 0;
  for (let m = 0; m < scores.length; m++) {
    const n = rows(scores[m]);
    for (let i = 0; i < n; i++, row++) {
      out[row * BLAZEFACE_ROW] = scores[m].data[i];
      for (let j = 0; j < 16; j++) out[row * BLAZEFACE_ROW + 1 + j] = boxes[m].data[i * 16 + j];
    }
  }
  return out;
}

/** A face found by BlazeFace, in the pixels of whatever the coordinates were mapped to. */
export interface BlazeFaceDetection {
  readonly box: Box;
  /** Sigmoid of the logit, in (0, 1). */
  readonly score: number;
  /** The six keypoints of {@linkcode BLAZEFACE_KEYPOINTS}, in order. */
  readonly keypoints: readonly Point[];
}

/**
 * Decodes every anchor scoring at least `scoreMin` into a box and keypoints in input pixels.
 *
 * @param raw `anchors × 17` values from {@linkcode unifyBlazeFaceOutputs}
 * @param anchors anchor centres from {@linkcode blazeFaceAnchors}
 * @param scoreMin lowest kept score, in [0, 1]
 * @returns the kept detections, in anchor order
 * @throws {RangeError} when `raw` and `anchors` disagree on the anchor count or `scoreMin` is not
 *   in [0, 1]
 *
 * @example
 * ```ts
 * const anchors = blazeFaceAnchors(BLAZEFACE_SPECS.back);
 * const faces = decodeBlazeFace(unifyBlazeFaceOutputs(outputs, anchors.length / 2), anchors, 0.5);
 * ```
 */
export function decodeBlazeFace(
  raw: ArrayLike<number>,
  anchors: ArrayLike<number>,
  scoreMin: number,
): BlazeFaceDetection[] {
  const count = anchors.length / 2;
  if (raw.length !== count * BLAZEFACE_ROW) {
    throw new RangeError(
      `BlazeFace decode needs ${
        count * BLAZEFACE_ROW
      } values for ${count} anchors, got ${raw.length}`,
    );
  }
  if (!(scoreMin >= 0 && scoreMin <= 1)) {
    throw new RangeError(`BlazeFace scoreMin must be in [0, 1], got ${scoreMin}`);
  }
  // sigmoid(l) >= s  ⇔  l >= logit(s): compare logits and take the sigmoid of the few kept.
  const logitMin = scoreMin <= 0
    ? -Infinity
    : scoreMin >= 1
    ? Infinity
    : Math.log(scoreMin / (1 - scoreMin));
  const found: BlazeFaceDetection[] = [];
  for (let i = 0; i < count; i++) {
    const r = i * BLAZEFACE_ROW;
    const logit = Math.max(-LOGIT_CLIP, Math.min(LOGIT_CLIP, raw[r]));
    if (!(logit >= logitMin)) continue;
    const ax = anchors[2 * i], ay = anchors[2 * i + 1];
    const cx = ax + raw[r + 1], cy = ay + raw[r + 2];
    const width = raw[r + 3], height = raw[r + 4];
    if (!(width > 0 && height > 0)) continue;
    const keypoints: Point[] = [];
    for (let k = 0; k < BLAZEFACE_KEYPOINTS.length; k++) {
      keypoints.push({ x: ax + raw[r + 5 + 2 * k], y: ay + raw[r + 6 + 2 * k] });
    }
    found.push({
      box: { x: cx - width / 2, y: cy - height / 2, width, height },
      score: 1 / (1 + Math.exp(-logit)),
      keypoints,
    });
  }
  return found;
}

/**
 * MediaPipe's weighted non-maximum suppression (`WEIGHTED` in its `NonMaxSuppressionCalculator`):
 * take the best remaining detection, gather every remaining one overlapping it by more than
 * `iouMin`, and replace the cluster by its score-weighted mean box and keypoints, keeping the
 * best score. Averaging the many anchors that fire on one face steadies the box.
 *
 * @param detections candidates, any order
 * @param iouMin overlap above which a candidate joins the cluster, in [0, 1]
 * @returns one detection per cluster, best first
 * @throws {RangeError} when `iouMin` is not in [0, 1]
 *
 * @example
 * ```ts
 * const faces = weightedNms(decodeBlazeFace(raw, anchors, 0.5), 0.3);
 * ```
 */
export function weightedNms(
  detections: readonly BlazeFaceDetection[],
  iouMin: number,
): BlazeFaceDetection[] {
  if (!(iouMin >= 0 && iouMin <= 1)) {
    throw new RangeError(`weightedNms iouMin must be in [0, 1], got ${iouMin}`);
  }
  let remaining = [...detections].sort((a, b) => b.score - a.score);
  const kept: BlazeFaceDetection[] = [];
  while (remaining.length > 0) {
    const best = remaining[0];
    const cluster: BlazeFaceDetection[] = [];
    const rest: BlazeFaceDetection[] = [];
    for (const d of remaining) {
      (iou(best.box, d.box) > iouMin || d === best ? cluster : rest).push(d);
    }
    remaining = rest;
    let total = 0, x = 0, y = 0, w = 0, h = 0;
    const points = best.keypoints.map(() => ({ x: 0, y: 0 }));
    for (const d of cluster) {
      total += d.score;
      x += d.score * d.box.x;
      y += d.score * d.box.y;
      w += d.score * (d.box.x + d.box.width);
      h += d.score * (d.box.y + d.box.height);
      d.keypoints.forEach((p, k) => {
        if (points[k]) {
          points[k].x += d.score * p.x;
          points[k].y += d.score * p.y;
        }
      });
    }
    kept.push({
      box: { x: x / total, y: y / total, width: (w - x) / total, height: (h - y) / total },
      score: best.score,
      keypoints: points.map((p) => ({ x: p.x / total, y: p.y / total })),
    });
  }
  return kept;
}

/** How a BlazeFace box sits on the SSD box of the same face (medians over faces both find). */
export interface BoxRelation {
  /** BlazeFace width over SSD width. */
  readonly widthRatio: number;
  /** BlazeFace height over SSD height. */
  readonly heightRatio: number;
  /** BlazeFace centre minus SSD centre, in SSD widths (x) and heights (y). */
  readonly dx: number;
  readonly dy: number;
}

/**
 * BlazeFace `back` (through `detectFacesBlaze`'s default views) against our
 * face-api-exact SSD, medians over the 148 faces both find in LFW 100, the course images,
 * face-api's samples and faces-public (`bench/detector_recall.ts`): the BlazeFace box is square,
 * about as wide as SSD's, 15 % shorter (SSD's reaches the chin and forehead) and centred 8 % of
 * the height lower.
 */
export const BLAZEFACE_BACK_TO_SSD: BoxRelation = {
  widthRatio: 1.052,
  heightRatio: 0.852,
  dx: 0.016,
  dy: 0.080,
};

/**
 * The SSD-like box of a BlazeFace box, for what was tuned on SSD's boxes (the 68-point landmark
 * net's crop): undoes the median size and centre offset of `relation`.
 *
 * @param box a BlazeFace box
 * @param relation the measured relation
 * @returns the box SSD would most likely give the same face
 *
 * @example
 * ```ts
 * toSsdLikeBox({ x: 0, y: 0, width: 105.2, height: 85.2 }); // ≈ 100 × 100, shifted up 8 px
 * ```
 */
export function toSsdLikeBox(box: Box, relation: BoxRelation = BLAZEFACE_BACK_TO_SSD): Box {
  const width = box.width / relation.widthRatio;
  const height = box.height / relation.heightRatio;
  const cx = box.x + box.width / 2 - relation.dx * width;
  const cy = box.y + box.height / 2 - relation.dy * height;
  return { x: cx - width / 2, y: cy - height / 2, width, height };
}
