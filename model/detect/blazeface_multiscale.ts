/**
 * Finding every face with BlazeFace whatever its size in the photo. The network sees a square of
 * a fixed side (256 for `back`) and finds faces between about a tenth and a half of it, so one
 * view never covers a 40-px face in a 2048-px group photo and a face crop that fills the frame
 * at once. The photo is therefore looked at through a few square windows (image pixels,
 * possibly reaching past the photo, where the pixels are black), each resampled to the
 * network's input:
 *
 * - `whole`: the centred square around the photo, the one pass every photo gets (faces kept at
 *   `scoreMin`, 0.6);
 * - `zoomOut`: the same centred on a square `1 / zoomOutFraction` times larger, so a face that
 *   fills the photo fills only part of the network's view (tight crops, 64×64 course images);
 *   only faces at least 0.3 of the photo are kept, at `zoomOutScoreMin` (0.4); by default run
 *   only when the whole view found nothing or a face at least half the photo;
 * - a fallback `zoomOut` at `fallbackZoomOutFraction` when those two find nothing (a face crop
 *   cut inside its outline needs more room around it);
 * - `tile` (opt-in): for photos larger than `tileImageSideMin`, squares of half the photo's side
 *   with half-side overlap (3 × 3 for a square photo, 3 × 2 for 3:2), so a face a tenth of the
 *   tile is found. Off by default: on face-api's samples and faces-public they found no face SSD
 *   finds that the two views miss, and added false alarms.
 *
 * Measured (`bench/detector_recall.ts`, `docs/blazeface_evaluation.md`): at most 2 passes (1.07 a
 * photo on LFW) find 100/100 LFW photos, the 10 course images, all 22 + 18 faces SSD finds on face-api's samples and
 * faces-public, and tight crops at every side from 32 to 6000 px.
 *
 * Detections come back in image pixels and are merged across windows by weighted NMS; a tile's
 * detection touching the tile's inner edge is a face cut in two and is left to the window that
 * holds it whole.
 *
 * The network is a callback (`run`), so tfjs, onnxruntime-web or onnxruntime-node plug in.
 * @module
 */
import type { Box } from "../face_geometry.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import { assertRgbImage } from "../image/rgb_image.ts";
import {
  BLAZEFACE_SPECS,
  blazeFaceAnchors,
  type BlazeFaceDetection,
  type BlazeFaceSpec,
  type BlazeFaceVariant,
  decodeBlazeFace,
  type RawTensor,
  unifyBlazeFaceOutputs,
  weightedNms,
} from "./blazeface.ts";
import type { Session } from "../runtime/session.ts";
import { BLAZEFACE_NAMES, BLAZEFACE_OUTPUTS } from "../specs.ts";

/** One square view of the photo, in image pixels (it may reach past the photo's edges). */
export interface BlazeWindow {
  readonly x: number;
  readonly y: number;
  readonly side: number;
  readonly kind: "whole" | "zoomOut" | "tile";
}

/**
 * Runs the network on one input: `size × size × 3` floats in [-1, 1], laid out as
 * {@linkcode BlazeMultiscaleOptions.layout} says, and returns its outputs in graph order.
 */
export type BlazeFaceRun = (input: Float32Array, size: number) => Promise<readonly RawTensor[]>;

/**
 * The runner for the built `blazeface` ONNX model (NCHW input, so pass `layout: "nchw"` to
 * {@linkcode detectFacesBlaze}): the outputs in the graph's order, as the decoder wants them.
 *
 * @param session a session of the `blazeface` model
 * @returns the runner
 * @example
 * ```ts
 * const session = await createSession((await loadModel("blazeface")).onnx);
 * const faces = await detectFacesBlaze(photo, onnxBlazeFaceRun(session), { layout: "nchw" });
 * ```
 */
export function onnxBlazeFaceRun(session: Session): BlazeFaceRun {
  return async (input, size) => {
    const out = await session.run({
      [BLAZEFACE_NAMES.input]: { data: input, dims: [1, 3, size, size] },
    });
    return BLAZEFACE_OUTPUTS.map((o) => out[o.name]);
  };
}

/** Options for {@linkcode planBlazeWindows} and {@linkcode detectFacesBlaze}. */
export interface BlazeMultiscaleOptions {
  /** Which BlazeFace the runner holds. @default {"back"} */
  readonly variant?: BlazeFaceVariant;
  /**
   * Lowest score kept from the `whole` window and tiles, in [0, 1]. Measured with
   * `bench/detector_recall.ts` (back 256): 0.6 keeps every face SSD finds on LFW, the course,
   * face-api's samples and faces-public, and cuts false alarms on 41 face-free patches of those
   * photos from 14 (at 0.4) to 3. @default {0.6}
   */
  readonly scoreMin?: number;
  /**
   * Lowest score kept from the zoomed-out windows (which keep only faces at least
   * {@linkcode ZOOM_OUT_FACE_FRACTION_MIN} of the photo), in [0, 1]. Lower than `scoreMin`: a face
   * crop cut inside its outline scores 0.4–0.6 there, and tight crops from 32 to 6000 px are
   * found 10/10 at 0.4, 9/10 at 0.5 (measured). @default {0.4}
   */
  readonly zoomOutScoreMin?: number;
  /** Overlap above which detections merge, in [0, 1]. @default {0.3} */
  readonly iouMin?: number;
  /**
   * Side of the photo over the side of the zoomed-out window, in (0, 1); 1 or more skips that
   * window. @default {0.5}
   */
  readonly zoomOutFraction?: number;
  /**
   * When the planned windows find no face, one more zoomed-out window at this fraction; 1 or
   * more skips it. A face crop cut inside its outline (a 33-px BlazeFace box of a 64-px course
   * image, upscaled) scores 0.34–0.41 at 0.5 and 0.53–0.58 at 0.33 (measured). @default {0.33}
   */
  readonly fallbackZoomOutFraction?: number;
  /**
   * Photos whose longer side is at least this many pixels also get tiles. Off by default:
   * measured on face-api's samples and faces-public, tiles found no face that SSD finds and the
   * two views miss, and added false alarms. @default {Infinity}
   */
  readonly tileImageSideMin?: number;
  /**
   * `whenNeeded` runs the zoomed-out view only when the whole view found no face or a face at
   * least {@linkcode ZOOM_OUT_NEEDED_FACE_FRACTION} of the photo (see {@linkcode zoomOutNeeded});
   * `always` runs it on every photo. @default {"whenNeeded"}
   */
  readonly zoomOut?: "always" | "whenNeeded";
  /** Input layout the runner expects. @default {"nhwc"} */
  readonly layout?: "nhwc" | "nchw";
  /** Most faces returned, best first. @default {100} */
  readonly facesMax?: number;
}

const DEFAULTS = {
  variant: "back",
  scoreMin: 0.6,
  zoomOutScoreMin: 0.4,
  iouMin: 0.3,
  zoomOutFraction: 0.5,
  fallbackZoomOutFraction: 0.33,
  tileImageSideMin: Infinity,
  zoomOut: "whenNeeded",
  layout: "nhwc",
  facesMax: 100,
} as const;

/** Supersampling per axis when a window is shrunk a lot (limits aliasing; caps the cost). */
const SUPERSAMPLES_MAX = 4;
/** A tile detection this close to an inner tile edge (fraction of the tile) is a cut face. */
const TILE_EDGE_FRACTION = 0.02;
/**
 * A zoomed-out window keeps only faces at least this fraction of the photo's longer side: smaller
 * ones are seen sharper by the `whole` window, and the zoomed-out view's small finds are mostly
 * texture.
 */
export const ZOOM_OUT_FACE_FRACTION_MIN = 0.3;
/**
 * A face the whole view finds at least this fraction of the photo's longer side may be one it
 * sees too close (cut, or scored low), so the zoomed-out view runs.
 */
export const ZOOM_OUT_NEEDED_FACE_FRACTION = 0.5;
/** A tile's detection lying this much (fraction of its area) inside a larger face is a part of it. */
const TILE_INSIDE_FRACTION_MAX = 0.5;
/** Windows per photo at most (whole + zoomOut + 3 × 3 tiles today). */
export const BLAZE_WINDOWS_MAX = 16;

function resolve(options: BlazeMultiscaleOptions) {
  const o = { ...DEFAULTS, ...options };
  if (!(o.variant in BLAZEFACE_SPECS)) {
    throw new RangeError(`Unknown BlazeFace variant ${JSON.stringify(o.variant)}`);
  }
  if (!(o.zoomOutFraction > 0)) {
    throw new RangeError(`zoomOutFraction must be positive, got ${o.zoomOutFraction}`);
  }
  if (!(o.fallbackZoomOutFraction > 0)) {
    throw new RangeError(
      `fallbackZoomOutFraction must be positive, got ${o.fallbackZoomOutFraction}`,
    );
  }
  if (!(o.tileImageSideMin >= 1)) {
    throw new RangeError(`tileImageSideMin must be at least 1, got ${o.tileImageSideMin}`);
  }
  if (!Number.isInteger(o.facesMax) || o.facesMax < 1) {
    throw new RangeError(`facesMax must be a positive integer, got ${o.facesMax}`);
  }
  return o;
}

/**
 * The photo centred on a square `1 / fraction` times its longer side.
 *
 * @param width photo width in pixels
 * @param height photo height in pixels
 * @param fraction the photo's longer side over the window's side, in (0, 1)
 * @returns the window
 */
export function zoomOutWindow(width: number, height: number, fraction: number): BlazeWindow {
  const outer = Math.max(width, height) / fraction;
  return { x: width / 2 - outer / 2, y: height / 2 - outer / 2, side: outer, kind: "zoomOut" };
}

/**
 * The windows a photo of this size is looked at through (see the module doc).
 *
 * @param width photo width in pixels
 * @param height photo height in pixels
 * @param options zoom-out fraction and tiling threshold
 * @returns the windows, `whole` first
 * @throws {RangeError} for a non-positive size or a bad option
 *
 * @example
 * ```ts
 * planBlazeWindows(250, 250).map((w) => w.kind); // ["whole", "zoomOut"]
 * planBlazeWindows(2048, 1365, { tileImageSideMin: 512 }).length; // 2 + 3 × 2 tiles
 * ```
 */
export function planBlazeWindows(
  width: number,
  height: number,
  options: BlazeMultiscaleOptions = {},
): BlazeWindow[] {
  if (!(width >= 1 && height >= 1)) {
    throw new RangeError(`Photo size must be positive, got ${width}×${height}`);
  }
  const o = resolve(options);
  const side = Math.max(width, height);
  const cx = width / 2, cy = height / 2;
  const windows: BlazeWindow[] = [{ x: cx - side / 2, y: cy - side / 2, side, kind: "whole" }];
  if (o.zoomOutFraction < 1) windows.push(zoomOutWindow(width, height, o.zoomOutFraction));
  if (side >= o.tileImageSideMin) {
    const tile = side / 2;
    const starts = (length: number) => {
      if (length <= tile) return [(length - tile) / 2];
      const n = Math.ceil((length - tile) / (tile / 2)) + 1;
      return Array.from({ length: n }, (_, i) => (i * (length - tile)) / (n - 1));
    };
    for (const y of starts(height)) {
      for (const x of starts(width)) windows.push({ x, y, side: tile, kind: "tile" });
    }
  }
  if (windows.length > BLAZE_WINDOWS_MAX) {
    throw new Error(`planned ${windows.length} windows, more than ${BLAZE_WINDOWS_MAX}`);
  }
  return windows;
}

/**
 * Resamples one window of the photo to the network's square input, `x / 127.5 - 1`, black
 * (-1) past the photo's edges: bilinear, averaged over up to 4 × 4 samples per input pixel when
 * the window is shrunk, so large photos do not alias.
 *
 * @param image the photo
 * @param window the view, in image pixels
 * @param size the network's input side
 * @param layout `nhwc` (tfjs graph models) or `nchw`
 * @returns `size * size * 3` floats
 */
export function sampleBlazeWindow(
  image: RgbImage,
  window: BlazeWindow,
  size: number,
  layout: "nhwc" | "nchw" = "nhwc",
): Float32Array {
  const { width, height, data } = image;
  const scale = window.side / size;
  const k = Math.max(1, Math.min(SUPERSAMPLES_MAX, Math.ceil(scale)));
  const out = new Float32Array(size * size * 3);
  // Per axis: for each output index and subsample, the two taps (-1 past the edge) and weight.
  const taps = (origin: number, length: number) => {
    const lo = new Int32Array(size * k), hi = new Int32Array(size * k);
    const w = new Float32Array(size * k);
    for (let i = 0; i < size; i++) {
      for (let s = 0; s < k; s++) {
        const at = origin + (i + (s + 0.5) / k) * scale - 0.5;
        const f = Math.floor(at);
        const j = i * k + s;
        lo[j] = f >= 0 && f < length ? f : -1;
        hi[j] = f + 1 >= 0 && f + 1 < length ? f + 1 : -1;
        w[j] = at - f;
      }
    }
    return { lo, hi, w };
  };
  const cols = taps(window.x, width), rows = taps(window.y, height);
  // Separable: each source row is filtered across once (its k subsamples averaged per output
  // column), then pairs of filtered rows are blended down.
  const zero = new Float32Array(3 * size);
  const across = new Map<number, Float32Array>();
  const filtered = (y: number): Float32Array => {
    if (y < 0) return zero;
    let row = across.get(y);
    if (row) return row;
    row = new Float32Array(3 * size);
    const base = y * width * 3;
    for (let ox = 0; ox < size; ox++) {
      let r = 0, g = 0, b = 0;
      for (let j = ox * k; j < ox * k + k; j++) {
        const x0 = cols.lo[j], x1 = cols.hi[j], wx = cols.w[j];
        if (x0 >= 0) {
          const at = base + 3 * x0, w = 1 - wx;
          r += w * data[at];
          g += w * data[at + 1];
          b += w * data[at + 2];
        }
        if (x1 >= 0) {
          const at = base + 3 * x1;
          r += wx * data[at];
          g += wx * data[at + 1];
          b += wx * data[at + 2];
        }
      }
      row[3 * ox] = r / k;
      row[3 * ox + 1] = g / k;
      row[3 * ox + 2] = b / k;
    }
    across.set(y, row);
    return row;
  };
  const plane = size * size;
  const down = new Float32Array(3 * size);
  for (let oy = 0; oy < size; oy++) {
    down.fill(0);
    for (let j = oy * k; j < oy * k + k; j++) {
      const top = filtered(rows.lo[j]), bottom = filtered(rows.hi[j]), wy = rows.w[j];
      for (let i = 0; i < 3 * size; i++) down[i] += (1 - wy) * top[i] + wy * bottom[i];
    }
    for (let ox = 0; ox < size; ox++) {
      const p = oy * size + ox;
      const vr = down[3 * ox] / (k * 127.5) - 1;
      const vg = down[3 * ox + 1] / (k * 127.5) - 1;
      const vb = down[3 * ox + 2] / (k * 127.5) - 1;
      if (layout === "nhwc") {
        out[3 * p] = vr;
        out[3 * p + 1] = vg;
        out[3 * p + 2] = vb;
      } else {
        out[p] = vr;
        out[plane + p] = vg;
        out[2 * plane + p] = vb;
      }
    }
  }
  return out;
}

/** Maps a detection from the network's input pixels to image pixels. */
function toImage(d: BlazeFaceDetection, window: BlazeWindow, size: number): BlazeFaceDetection {
  const s = window.side / size;
  return {
    box: {
      x: window.x + d.box.x * s,
      y: window.y + d.box.y * s,
      width: d.box.width * s,
      height: d.box.height * s,
    },
    score: d.score,
    keypoints: d.keypoints.map((p) => ({ x: window.x + p.x * s, y: window.y + p.y * s })),
  };
}

/** Whether a tile's detection touches an edge of the tile that is not the photo's edge. */
function cutByTile(d: BlazeFaceDetection, w: BlazeWindow, width: number, height: number): boolean {
  const m = TILE_EDGE_FRACTION * w.side;
  const { x, y } = d.box, r = x + d.box.width, b = y + d.box.height;
  return (x < w.x + m && w.x > 0) || (y < w.y + m && w.y > 0) ||
    (r > w.x + w.side - m && w.x + w.side < width) ||
    (b > w.y + w.side - m && w.y + w.side < height);
}

/** The per-window decode, exposed for evaluation: detections in image pixels before merging. */
export async function detectBlazeWindow(
  image: RgbImage,
  window: BlazeWindow,
  run: BlazeFaceRun,
  spec: BlazeFaceSpec,
  anchors: Float32Array,
  options: { scoreMin: number; zoomOutScoreMin?: number; layout: "nhwc" | "nchw" },
): Promise<BlazeFaceDetection[]> {
  const input = sampleBlazeWindow(image, window, spec.inputSize, options.layout);
  const raw = unifyBlazeFaceOutputs(await run(input, spec.inputSize), anchors.length / 2);
  const scoreMin = window.kind === "zoomOut"
    ? options.zoomOutScoreMin ?? options.scoreMin
    : options.scoreMin;
  const found = decodeBlazeFace(raw, anchors, scoreMin)
    .map((d) => toImage(d, window, spec.inputSize));
  const side = Math.max(image.width, image.height);
  if (window.kind === "tile") {
    return found.filter((d) => !cutByTile(d, window, image.width, image.height));
  }
  if (window.kind === "zoomOut") {
    return found.filter((d) =>
      Math.max(d.box.width, d.box.height) >= ZOOM_OUT_FACE_FRACTION_MIN * side
    );
  }
  return found;
}

function insideFraction(inner: Box, outer: Box): number {
  const w = Math.min(inner.x + inner.width, outer.x + outer.width) - Math.max(inner.x, outer.x);
  const h = Math.min(inner.y + inner.height, outer.y + outer.height) - Math.max(inner.y, outer.y);
  return w <= 0 || h <= 0 ? 0 : (w * h) / (inner.width * inner.height);
}

/**
 * Merges the detections of several windows (from {@linkcode detectBlazeWindow}) into one face
 * each: a tile's detection lying mostly inside a larger face found by a `whole` or `zoomOut`
 * window is a part of that face (a tile sees an eye and a mouth as a face) and is dropped, then
 * weighted NMS.
 *
 * @param perWindow each window with its detections in image pixels
 * @param iouMin overlap above which detections merge
 * @returns faces, best first
 */
export function mergeBlazeWindows(
  perWindow: readonly { window: BlazeWindow; detections: readonly BlazeFaceDetection[] }[],
  iouMin: number,
): BlazeFaceDetection[] {
  const coarse = perWindow.filter((w) => w.window.kind !== "tile").flatMap((w) => w.detections);
  const all = [...coarse];
  for (const { window, detections } of perWindow) {
    if (window.kind !== "tile") continue;
    for (const d of detections) {
      const part = coarse.some((c) =>
        c.box.width * c.box.height > d.box.width * d.box.height &&
        insideFraction(d.box, c.box) > TILE_INSIDE_FRACTION_MAX
      );
      if (!part) all.push(d);
    }
  }
  return weightedNms(all, iouMin);
}

/**
 * Whether the zoomed-out view is worth a pass, from what the whole view found: nothing, or a
 * face so large it may fill the photo. A 250×250 LFW photo (faces about 0.4 of it, scores ≥ 0.6)
 * then costs one pass.
 *
 * @param whole the whole view's detections, in image pixels
 * @param width photo width
 * @param height photo height
 * @returns true when the zoomed-out view should run
 */
export function zoomOutNeeded(
  whole: readonly BlazeFaceDetection[],
  width: number,
  height: number,
): boolean {
  const side = Math.max(width, height);
  return whole.length === 0 ||
    whole.some((d) => Math.max(d.box.width, d.box.height) >= ZOOM_OUT_NEEDED_FACE_FRACTION * side);
}

/**
 * Finds every face in a photo with BlazeFace through the windows of
 * {@linkcode planBlazeWindows}, merged by weighted NMS.
 *
 * @param image the photo
 * @param run the network (see {@linkcode BlazeFaceRun})
 * @param options variant, thresholds, windows, input layout
 * @returns faces in image pixels (boxes may reach past the photo's edges), best first
 * @throws {RangeError} for a bad option, or outputs that do not fit the variant
 *
 * @example
 * ```ts
 * const faces = await detectFacesBlaze(photo, (input, size) => runner(input, size));
 * // [{ box: { x, y, width, height }, score, keypoints: [rightEye, leftEye, …] }]
 * ```
 */
export async function detectFacesBlaze(
  image: RgbImage,
  run: BlazeFaceRun,
  options: BlazeMultiscaleOptions = {},
): Promise<BlazeFaceDetection[]> {
  assertRgbImage(image);
  const o = resolve(options);
  const spec = BLAZEFACE_SPECS[o.variant];
  const anchors = blazeFaceAnchors(spec);
  const perWindow: { window: BlazeWindow; detections: BlazeFaceDetection[] }[] = [];
  for (const window of planBlazeWindows(image.width, image.height, o)) {
    if (window.kind === "zoomOut" && o.zoomOut === "whenNeeded") {
      const whole = perWindow.find((w) => w.window.kind === "whole")?.detections ?? [];
      if (!zoomOutNeeded(whole, image.width, image.height)) continue;
    }
    perWindow.push({
      window,
      detections: await detectBlazeWindow(image, window, run, spec, anchors, o),
    });
  }
  let faces = mergeBlazeWindows(perWindow, o.iouMin);
  if (faces.length === 0 && o.fallbackZoomOutFraction < 1) {
    const window = zoomOutWindow(image.width, image.height, o.fallbackZoomOutFraction);
    faces = weightedNms(await detectBlazeWindow(image, window, run, spec, anchors, o), o.iouMin);
  }
  return faces.slice(0, o.facesMax);
}
