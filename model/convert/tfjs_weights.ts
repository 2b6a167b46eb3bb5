/**
 * Reads tfjs "weights manifest + .bin" models, as shipped in `@vladmandic/face-api/model/` (and
 * inside the `weightsManifest` of a tfjs graph model's `model.json`), into float32 arrays.
 * Quantised weights are stored as uint8 or uint16 with value = q * scale + min, or as float16.
 * @module
 */

/** One weight tensor, dequantised to float32 (or int32 when stored as int32). */
export interface Weight {
  readonly name: string;
  /** tfjs shape; conv filters are HWIO, depthwise filters HWC1. */
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** One weight as a tfjs weights manifest describes it. */
export interface ManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32";
  readonly quantization?:
    | { readonly dtype: "uint8" | "uint16"; readonly scale: number; readonly min: number }
    | { readonly dtype: "float16" };
}

/** One group of a tfjs weights manifest: its .bin files, concatenated, hold its weights in order. */
export interface ManifestGroup {
  readonly paths: readonly string[];
  readonly weights: readonly ManifestEntry[];
}

/** The folder inside the project's node_modules where face-api ships its pretrained weights. */
export const FACE_API_MODEL_DIR = new URL(
  "../../node_modules/@vladmandic/face-api/model/",
  import.meta.url,
);

const BYTES_PER_ELEMENT = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 } as const;

/**
 * Loads all weights of one face-api model, by manifest base name.
 *
 * @param modelName e.g. `"face_recognition_model"` (reads `<name>-weights_manifest.json`)
 * @param dir folder holding the manifest and .bin files
 * @returns weights by name, in manifest order
 * @throws {Deno.errors.NotFound} when the package is not installed (run `deno install`)
 * @throws {RangeError} when the .bin files are shorter or longer than the manifest says
 */
export async function loadTfjsWeights(
  modelName: string,
  dir: URL = FACE_API_MODEL_DIR,
): Promise<Map<string, Weight>> {
  const manifestUrl = new URL(`${modelName}-weights_manifest.json`, dir);
  let manifestText: string;
  try {
    manifestText = await Deno.readTextFile(manifestUrl);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Weights manifest ${manifestUrl.pathname} not found: is @vladmandic/face-api installed? ` +
          `Run "deno install".`,
      );
    }
    throw error;
  }
  return await decodeWeightGroups(modelName, JSON.parse(manifestText) as ManifestGroup[], dir);
}

/**
 * Reads and decodes the weights of a tfjs weights manifest.
 *
 * @param label names the model in error messages
 * @param groups the manifest's groups
 * @param dir folder the groups' `paths` are relative to
 * @returns weights by name, in manifest order
 * @throws {RangeError} when the .bin files are shorter or longer than the manifest says, or a
 *   weight has a storage type we do not read
 */
export async function decodeWeightGroups(
  label: string,
  groups: readonly ManifestGroup[],
  dir: URL,
): Promise<Map<string, Weight>> {
  const weights = new Map<string, Weight>();
  for (const group of groups) {
    const parts = await Promise.all(group.paths.map((p) => Deno.readFile(new URL(p, dir))));
    const bytes = concat(parts);
    let offset = 0;
    for (const entry of group.weights) {
      const count = entry.shape.reduce((a, b) => a * b, 1);
      const stored = entry.quantization?.dtype ?? entry.dtype;
      if (!(stored in BYTES_PER_ELEMENT)) {
        throw new RangeError(
          `${label}: weight "${entry.name}" is stored as ${stored}, unsupported`,
        );
      }
      const byteLength = count * BYTES_PER_ELEMENT[stored];
      if (offset + byteLength > bytes.length) {
        throw new RangeError(
          `${label}: weight "${entry.name}" needs bytes ${offset}..${offset + byteLength} ` +
            `but the .bin files hold ${bytes.length}`,
        );
      }
      const slice = bytes.slice(offset, offset + byteLength);
      offset += byteLength;
      weights.set(entry.name, {
        name: entry.name,
        shape: [...entry.shape],
        data: decode(entry, slice),
      });
    }
    if (offset !== bytes.length) {
      throw new RangeError(
        `${label}: manifest accounts for ${offset} bytes but the .bin files hold ${bytes.length}`,
      );
    }
  }
  return weights;
}

function decode(entry: ManifestEntry, slice: Uint8Array): Float32Array | Int32Array {
  const q = entry.quantization;
  if (q?.dtype === "float16") {
    const half = new Uint16Array(slice.buffer);
    const out = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) out[i] = float16ToFloat32(half[i]);
    return entry.dtype === "int32" ? Int32Array.from(out, Math.round) : out;
  }
  if (q) {
    const stored = q.dtype === "uint16" ? new Uint16Array(slice.buffer) : slice;
    const out = new Float32Array(stored.length);
    // Same arithmetic as tfjs's io.decodeWeights: float32(q * scale + min).
    for (let i = 0; i < stored.length; i++) out[i] = stored[i] * q.scale + q.min;
    return entry.dtype === "int32" ? Int32Array.from(out, Math.round) : out;
  }
  return entry.dtype === "int32" ? new Int32Array(slice.buffer) : new Float32Array(slice.buffer);
}

/** IEEE 754 half → single precision; exact (every float16 is a float32). */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Returns a weight by name or throws naming the missing weight (a converter bug, not user error).
 * @throws {RangeError} when the weight is absent
 */
export function requireWeight(weights: Map<string, Weight>, name: string): Weight {
  const w = weights.get(name);
  if (!w) throw new RangeError(`Weight "${name}" is not in the model`);
  return w;
}

/** Reorders a TF conv filter HWIO into ONNX's OIHW. */
export function hwioToOihw(w: Weight): { data: Float32Array; dims: number[] } {
  const [h, wd, i, o] = w.shape;
  const src = w.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < wd; x++) {
      for (let c = 0; c < i; c++) {
        for (let k = 0; k < o; k++) {
          out[((k * i + c) * h + y) * wd + x] = src[((y * wd + x) * i + c) * o + k];
        }
      }
    }
  }
  return { data: out, dims: [o, i, h, wd] };
}

/** Reorders a TF depthwise filter HW C 1 into ONNX's grouped-conv layout C 1 H W. */
export function depthwiseToOihw(w: Weight): { data: Float32Array; dims: number[] } {
  const [h, wd, c, m] = w.shape;
  if (m !== 1) throw new RangeError(`Depthwise filter "${w.name}" has multiplier ${m}, expected 1`);
  const src = w.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < wd; x++) {
      for (let k = 0; k < c; k++) out[(k * h + y) * wd + x] = src[(y * wd + x) * c + k];
    }
  }
  return { data: out, dims: [c, 1, h, wd] };
}
