/**
 * Face detection with the converted SSD MobileNetV1: input preparation, box decoding, scores,
 * NMS and the mapping back to image pixels, as face-api's `SsdMobilenetv1.locateFaces`.
 *
 * face-api decodes and scores in float32 tensors (tfjs), then reads them into JS numbers; the
 * decoding here rounds each step with `Math.fround` in the same order so thresholds and NMS see
 * the same values.
 * @module
 */
import type { Box } from "../face_geometry.ts";
import { toNetInput } from "../image/net_input.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import type { Session, Tensor } from "../runtime/session.ts";
import { nmsSsd } from "./nms.ts";
import {
  SSD_ANCHOR_COUNT,
  SSD_BOX_VARIANCES,
  SSD_FACE_CLASS,
  SSD_INPUT_MEAN,
  SSD_INPUT_SIZE,
  SSD_INPUT_STD,
  SSD_IOU_THRESHOLD,
  SSD_NAMES,
} from "../specs.ts";

/** A detected face: a box in image pixels and a confidence in (0, 1]. */
export interface FaceDetection {
  readonly box: Box;
  readonly score: number;
}

/** Options for {@linkcode detectFacesSsd} and {@linkcode decodeSsd}. */
export interface SsdOptions {
  /**
   * Faces scoring at or below this are dropped; in (0, 1).
   * @default {0.5}
   */
  readonly minConfidence?: number;
  /**
   * At most this many faces, best first; 1..{@linkcode SSD_ANCHOR_COUNT}.
   * @default {100}
   */
  readonly maxResults?: number;
}

/** The SSD graph's three outputs. */
export interface SsdOutputs {
  readonly boxEncodings: Tensor;
  readonly classLogits: Tensor;
  readonly anchors: Tensor;
}

function checkOptions(options: SsdOptions): { minConfidence: number; maxResults: number } {
  const minConfidence = options.minConfidence ?? 0.5;
  const maxResults = options.maxResults ?? 100;
  if (!(minConfidence > 0 && minConfidence < 1)) {
    throw new RangeError(`SSD minConfidence must be in (0, 1), got ${minConfidence}`);
  }
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > SSD_ANCHOR_COUNT) {
    throw new RangeError(
      `SSD maxResults must be an integer in 1..${SSD_ANCHOR_COUNT}, got ${maxResults}`,
    );
  }
  return { minConfidence, maxResults };
}

function checkDims(name: string, t: Tensor, dims: readonly number[]): void {
  if (t.data.length !== dims.reduce((a, b) => a * b, 1)) {
    throw new RangeError(
      `SSD output ${name} has ${t.data.length} values, expected dims [${dims.join(", ")}]: ` +
        `is this the ssd_mobilenetv1 model? Rebuild with "deno task model:build --force"`,
    );
  }
}

/** float32 sigmoid as tfjs computes it. */
function sigmoid32(x: number): number {
  return Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-x))));
}

/**
 * face-api's `decodeBoxesLayer` for one anchor, in float32 steps: writes (ymin, xmin, ymax, xmax)
 * relative to the square input into `out` at `at`.
 */
function decodeBox(enc: Float32Array, anc: Float32Array, i: number, out: Float64Array, at: number) {
  const f = Math.fround;
  const [vy, vx, vh, vw] = SSD_BOX_VARIANCES;
  const a = i * 4;
  const height = f(anc[a + 2] - anc[a]);
  const width = f(anc[a + 3] - anc[a + 1]);
  const centerY = f(anc[a] + f(height / 2));
  const centerX = f(anc[a + 1] + f(width / 2));
  const halfH = f(f(f(Math.exp(f(enc[a + 2] / vh))) * height) / 2);
  const y = f(f(f(enc[a] / vy) * height) + centerY);
  const halfW = f(f(f(Math.exp(f(enc[a + 3] / vw))) * width) / 2);
  const x = f(f(f(enc[a + 1] / vx) * width) + centerX);
  out[at] = f(y - halfH);
  out[at + 1] = f(x - halfW);
  out[at + 2] = f(y + halfH);
  out[at + 3] = f(x + halfW);
}

/**
 * Turns the SSD graph's outputs into faces in image pixels, as face-api's `locateFaces`.
 *
 * @param outputs the graph's box encodings, class logits and anchors
 * @param image the source image's size (the net saw it zero-padded at the bottom/right to a
 *   square and resized to 512)
 * @param options confidence threshold and result cap
 * @returns faces, best score first
 * @throws {RangeError} for bad options or outputs of the wrong size
 */
export function decodeSsd(
  outputs: SsdOutputs,
  image: { readonly width: number; readonly height: number },
  options: SsdOptions = {},
): FaceDetection[] {
  const { minConfidence, maxResults } = checkOptions(options);
  checkDims("box_encodings", outputs.boxEncodings, [SSD_ANCHOR_COUNT, 4]);
  checkDims("class_logits", outputs.classLogits, [SSD_ANCHOR_COUNT, 3]);
  checkDims("anchors", outputs.anchors, [SSD_ANCHOR_COUNT, 4]);
  const logits = outputs.classLogits.data;
  const scores = new Float64Array(SSD_ANCHOR_COUNT);
  for (let i = 0; i < SSD_ANCHOR_COUNT; i++) scores[i] = sigmoid32(logits[i * 3 + SSD_FACE_CLASS]);
  // NMS reads only candidates' boxes, so only those are decoded; others stay 0 and are never read.
  const corners = new Float64Array(SSD_ANCHOR_COUNT * 4);
  for (let i = 0; i < SSD_ANCHOR_COUNT; i++) {
    if (scores[i] > minConfidence) {
      decodeBox(outputs.boxEncodings.data, outputs.anchors.data, i, corners, i * 4);
    }
  }
  const kept = nmsSsd(corners, scores, {
    maxOutputSize: maxResults,
    iouThreshold: SSD_IOU_THRESHOLD,
    scoreThreshold: minConfidence,
  });
  // face-api scales by inputSize / reshaped side, the image's side rounded to net pixels.
  const scale = SSD_INPUT_SIZE / Math.max(image.width, image.height);
  const padX = SSD_INPUT_SIZE / Math.round(image.width * scale);
  const padY = SSD_INPUT_SIZE / Math.round(image.height * scale);
  return kept.map((i) => {
    const top = Math.max(0, corners[i * 4]) * padY;
    const bottom = Math.min(1.0, corners[i * 4 + 2]) * padY;
    const left = Math.max(0, corners[i * 4 + 1]) * padX;
    const right = Math.min(1.0, corners[i * 4 + 3]) * padX;
    const box = {
      x: left * image.width,
      y: top * image.height,
      width: (right - left) * image.width,
      height: (bottom - top) * image.height,
    };
    return { box, score: scores[i] };
  });
}

/**
 * Detects faces with the converted SSD MobileNetV1, as face-api's
 * `detectAllFaces(image, new SsdMobilenetv1Options(options))`.
 *
 * @param session a session of the `ssd_mobilenetv1` model
 * @param image the picture
 * @param options confidence threshold and result cap
 * @returns faces in image pixels, best score first
 * @throws {RangeError} for bad options, an inconsistent image, or a session of another model
 *
 * @example
 * ```ts
 * const { onnx } = await loadModel("ssd_mobilenetv1");
 * const session = await createSession(onnx);
 * const faces = await detectFacesSsd(session, image, { minConfidence: 0.5 });
 * ```
 */
export async function detectFacesSsd(
  session: Session,
  image: RgbImage,
  options: SsdOptions = {},
): Promise<FaceDetection[]> {
  checkOptions(options);
  const input = toNetInput(image, {
    size: SSD_INPUT_SIZE,
    centered: false,
    mean: SSD_INPUT_MEAN,
    std: SSD_INPUT_STD,
  });
  const out = await session.run({ [SSD_NAMES.input]: { data: input.data, dims: input.dims } });
  const missing = [SSD_NAMES.boxEncodings, SSD_NAMES.classLogits, SSD_NAMES.anchors].filter((n) =>
    !(n in out)
  );
  if (missing.length > 0) {
    throw new RangeError(
      `Session lacks SSD outputs ${missing.join(", ")}: is it the ssd_mobilenetv1 model?`,
    );
  }
  return decodeSsd(
    {
      boxEncodings: out[SSD_NAMES.boxEncodings],
      classLogits: out[SSD_NAMES.classLogits],
      anchors: out[SSD_NAMES.anchors],
    },
    image,
    options,
  );
}
