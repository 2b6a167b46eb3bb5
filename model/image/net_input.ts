/**
 * face-api's input preparation (`NetInput.toBatchTensor`) in one pass over the pixels:
 * zero-pad to a square (`padToSquare`), bilinear resize to the net's side
 * (`tf.image.resizeBilinear(x, [size, size], alignCorners=false, halfPixelCenters=false)`), then
 * `(pixel - mean) / std`, written straight into an NCHW Float32Array.
 *
 * The resize reproduces the kernel the reference actually runs: tfjs-backend-wasm hands
 * ResizeBilinear to XNNPACK in "TensorFlow legacy" mode, which computes every coordinate, weight
 * and interpolation step in float32. Each step below is rounded with `Math.fround` in the same
 * order, so our tensor equals the reference's bit for bit (the CPU backend's float64 arithmetic
 * would differ in the last bit of some values). The padded square is never materialised: samples
 * that fall on the padding read 0, as the zeros `padToSquare` concatenates would.
 * @module
 */
import { assertRgbImage, type RgbImage } from "./rgb_image.ts";

/** Largest net input side we prepare (XNNPACK asserts sizes below 2^24; nets use ≤ 608). */
export const NET_INPUT_SIZE_MAX = 4096;

/** Options for {@linkcode toNetInput}. */
export interface NetInputOptions {
  /** The net's square input side in pixels (e.g. 150 for recognition, 112 for landmarks). */
  readonly size: number;
  /**
   * Pad the short side on both ends (`true`, as the landmark and recognition nets do) or only
   * at the end (`false`, as the detectors do).
   * @default {true}
   */
  readonly centered?: boolean;
  /** Per-channel value subtracted from each RGB pixel in [0, 255]. @default {[0, 0, 0]} */
  readonly mean?: readonly [number, number, number];
  /** Per-channel divisor applied after the mean. @default {[1, 1, 1]} */
  readonly std?: readonly [number, number, number];
  /**
   * A buffer of `3 * size * size` floats to write into instead of allocating one, for callers
   * that prepare many inputs of one size.
   */
  readonly out?: Float32Array;
}

/** A prepared input and where the source image landed inside it. */
export interface NetInput {
  /** NCHW float32, `dims` = [1, 3, size, size]. */
  readonly data: Float32Array;
  readonly dims: readonly [1, 3, number, number];
  /** Source image size. */
  readonly width: number;
  readonly height: number;
  /** Side of the zero-padded square, in source pixels: `max(width, height)`. */
  readonly paddedSize: number;
  /** Zero columns/rows put before the image (left/top), in source pixels. */
  readonly padLeft: number;
  readonly padTop: number;
  /** Net pixels per source pixel: `size / paddedSize`. */
  readonly scale: number;
}

/** One axis of the resize: for each output index, the two source taps and the weight. */
interface AxisTaps {
  /** Source index of the low tap, or -1 when it falls on padding. */
  readonly lo: Int32Array;
  /** Source index of the high tap, or -1 when it falls on padding. */
  readonly hi: Int32Array;
  /** float32 interpolation weight of the high tap. */
  readonly alpha: Float32Array;
}

// Taps depend only on (source length, padding, output size); a service sees the same few crop
// sizes again and again, so a small cache spares recomputing them.
const TAPS_CACHE_ENTRIES_MAX = 256;
const tapsCache = new Map<string, AxisTaps>();

/**
 * XNNPACK's legacy-mode coordinate math for one axis of a padded square of side `padded`, where
 * the image occupies [pad, pad + length).
 */
function axisTaps(length: number, pad: number, padded: number, size: number): AxisTaps {
  const key = `${length},${pad},${padded},${size}`;
  const cached = tapsCache.get(key);
  if (cached) return cached;
  const lo = new Int32Array(size);
  const hi = new Int32Array(size);
  const alpha = new Float32Array(size);
  const scale = Math.fround(padded / size);
  const max = padded - 1;
  for (let i = 0; i < size; i++) {
    const at = Math.fround(i * scale);
    const top = Math.trunc(at);
    const bottom = Math.min(top + 1, max);
    alpha[i] = Math.fround(at - top);
    lo[i] = top >= pad && top < pad + length ? top - pad : -1;
    hi[i] = bottom >= pad && bottom < pad + length ? bottom - pad : -1;
  }
  const taps = { lo, hi, alpha };
  if (tapsCache.size >= TAPS_CACHE_ENTRIES_MAX) tapsCache.clear();
  tapsCache.set(key, taps);
  return taps;
}

/**
 * The kernel's horizontal step for one source row (or a padding row, -1): for each output column
 * and channel, `left + (right - left) * alpha` in float32 (the Float32Array store rounds the sum;
 * `right - left` of two bytes is exact).
 */
function horizontal(image: RgbImage, row: number, cols: AxisTaps, out: Float32Array): void {
  if (row < 0) {
    out.fill(0);
    return;
  }
  const src = image.data;
  const base = row * image.width * 3;
  const size = cols.alpha.length;
  for (let x = 0, i = 0; x < size; x++, i += 3) {
    const lo = cols.lo[x], hi = cols.hi[x], ax = cols.alpha[x];
    const l = base + lo * 3, r = base + hi * 3;
    for (let c = 0; c < 3; c++) {
      const left = lo < 0 ? 0 : src[l + c];
      const right = hi < 0 ? 0 : src[r + c];
      out[i + c] = left + Math.fround((right - left) * ax);
    }
  }
}

function checkOptions(options: NetInputOptions): void {
  const { size } = options;
  if (!Number.isInteger(size) || size < 1 || size > NET_INPUT_SIZE_MAX) {
    throw new RangeError(
      `Net input size must be an integer in 1..${NET_INPUT_SIZE_MAX}, got ${size}`,
    );
  }
  for (const [name, v] of [["mean", options.mean], ["std", options.std]] as const) {
    if (v !== undefined && (v.length !== 3 || !v.every(Number.isFinite))) {
      throw new RangeError(`Net input ${name} must be 3 finite numbers, got ${JSON.stringify(v)}`);
    }
  }
  if (options.std?.some((s) => s === 0)) {
    throw new RangeError(`Net input std must not contain 0, got ${JSON.stringify(options.std)}`);
  }
  if (options.out && options.out.length !== 3 * size * size) {
    throw new RangeError(
      `Net input buffer holds ${options.out.length} floats; size ${size} needs ${3 * size * size}`,
    );
  }
}

/**
 * Prepares an RGB image as face-api's `toBatchTensor(size, centered)` followed by the net's
 * normalisation would.
 *
 * @param image source pixels
 * @param options net side, padding mode and normalisation
 * @returns the NCHW tensor and the padding/scale that map net pixels back to source pixels
 * @throws {RangeError} for a bad size, mean, std or buffer, or an image whose buffer does not
 *   match its dimensions
 *
 * @example
 * ```ts
 * const crop = { width: 90, height: 120, data: new Uint8Array(90 * 120 * 3) };
 * const input = toNetInput(crop, { size: 150, mean: [122.782, 117.001, 104.298], std: [255, 255, 255] });
 * // input.dims = [1, 3, 150, 150]; input.padLeft = 15 (30 columns of padding, split 15 + 15)
 * ```
 */
export function toNetInput(image: RgbImage, options: NetInputOptions): NetInput {
  assertRgbImage(image);
  checkOptions(options);
  const { width, height } = image;
  const size = options.size;
  const centered = options.centered ?? true;
  const paddedSize = Math.max(width, height);
  const diff = paddedSize - Math.min(width, height);
  // padToSquare appends round(diff / 2) (centered) or diff, and prepends what is left.
  const before = centered ? diff - Math.round(diff * 0.5) : 0;
  const padLeft = width < height ? before : 0;
  const padTop = height < width ? before : 0;
  const cols = axisTaps(width, padLeft, paddedSize, size);
  const rows = axisTaps(height, padTop, paddedSize, size);

  const plane = size * size;
  const data = options.out ?? new Float32Array(3 * plane);
  const mean = options.mean ?? [0, 0, 0];
  const std = options.std ?? [1, 1, 1];
  // tfjs fills the mean as a float32 tensor and divides by a float32 scalar.
  const m0 = Math.fround(mean[0]), m1 = Math.fround(mean[1]), m2 = Math.fround(mean[2]);
  const s0 = Math.fround(std[0]), s1 = Math.fround(std[1]), s2 = Math.fround(std[2]);
  // The kernel's horizontal step depends only on (source row, output column), so each source row
  // is interpolated across once and kept while consecutive output rows share it.
  let top = new Float32Array(3 * size), bottom = new Float32Array(3 * size);
  let topRow = -2, bottomRow = -2;
  for (let y = 0; y < size; y++) {
    const rowLo = rows.lo[y], rowHi = rows.hi[y], ay = rows.alpha[y];
    if (rowLo !== topRow) {
      if (rowLo === bottomRow) [top, bottom, bottomRow] = [bottom, top, -2];
      else horizontal(image, rowLo, cols, top);
      topRow = rowLo;
    }
    if (rowHi !== bottomRow) {
      if (rowHi === topRow) bottom.set(top);
      else horizontal(image, rowHi, cols, bottom);
      bottomRow = rowHi;
    }
    const at = y * size;
    for (let x = 0, i = 0; x < size; x++, i += 3) {
      // XNNPACK's f32 ibilinear micro-kernel, vertical step, one rounding per operation.
      const t0 = top[i], t1 = top[i + 1], t2 = top[i + 2];
      const v0 = Math.fround(t0 + Math.fround(Math.fround(bottom[i] - t0) * ay));
      const v1 = Math.fround(t1 + Math.fround(Math.fround(bottom[i + 1] - t1) * ay));
      const v2 = Math.fround(t2 + Math.fround(Math.fround(bottom[i + 2] - t2) * ay));
      data[at + x] = Math.fround(v0 - m0) / s0;
      data[plane + at + x] = Math.fround(v1 - m1) / s1;
      data[2 * plane + at + x] = Math.fround(v2 - m2) / s2;
    }
  }
  return {
    data,
    dims: [1, 3, size, size],
    width,
    height,
    paddedSize,
    padLeft,
    padTop,
    scale: size / paddedSize,
  };
}
