/**
 * Face detection with the converted Tiny Face Detector: input preparation, grid decoding,
 * NMS and the mapping back to image pixels, as face-api's `TinyYolov2Base.detect` with the
 * TinyFaceDetector configuration. face-api decodes in JS doubles, and so does this.
 * @module
 */
import { toNetInput } from "../image/net_input.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import type { Session, Tensor } from "../runtime/session.ts";
import { nmsTiny } from "./nms.ts";
import type { FaceDetection } from "./ssd.ts";
import {
  TINY_ANCHORS,
  TINY_BOX_ENCODING_SIZE,
  TINY_INPUT_MEAN,
  TINY_INPUT_SIZE_DEFAULT,
  TINY_INPUT_SIZE_MAX,
  TINY_INPUT_SIZE_MULTIPLE,
  TINY_INPUT_STD,
  TINY_IOU_THRESHOLD,
  TINY_NAMES,
} from "../specs.ts";

/** Options for {@linkcode detectFacesTiny} and {@linkcode decodeTiny}. */
export interface TinyOptions {
  /**
   * The net's input side: a multiple of 32 up to {@linkcode TINY_INPUT_SIZE_MAX}. Smaller is
   * faster and finds large faces better; larger finds small faces.
   * @default {416}
   */
  readonly inputSize?: number;
  /**
   * Faces scoring at or below this are dropped; in (0, 1).
   * @default {0.5}
   */
  readonly scoreThreshold?: number;
}

function checkOptions(options: TinyOptions): { inputSize: number; scoreThreshold: number } {
  const inputSize = options.inputSize ?? TINY_INPUT_SIZE_DEFAULT;
  const scoreThreshold = options.scoreThreshold ?? 0.5;
  if (
    !Number.isInteger(inputSize) || inputSize < TINY_INPUT_SIZE_MULTIPLE ||
    inputSize > TINY_INPUT_SIZE_MAX || inputSize % TINY_INPUT_SIZE_MULTIPLE !== 0
  ) {
    throw new RangeError(
      `Tiny detector inputSize must be a multiple of ${TINY_INPUT_SIZE_MULTIPLE} in ` +
        `${TINY_INPUT_SIZE_MULTIPLE}..${TINY_INPUT_SIZE_MAX}, got ${inputSize}`,
    );
  }
  if (!(scoreThreshold > 0 && scoreThreshold < 1)) {
    throw new RangeError(`Tiny detector scoreThreshold must be in (0, 1), got ${scoreThreshold}`);
  }
  return { inputSize, scoreThreshold };
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** A box as face-api's `BoundingBox`: edges, with width/height derived from them. */
function edgesBox(left: number, top: number, right: number, bottom: number) {
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/**
 * Turns the Tiny Face Detector's output grid into faces in image pixels.
 *
 * @param grid the graph's output, [1, 25, cells, cells]
 * @param image the source image's size (the net saw it zero-padded at the bottom/right to a
 *   square and resized to `inputSize`)
 * @param options the input size the grid was computed at and the score threshold
 * @returns faces, best score first
 * @throws {RangeError} for bad options or a grid of the wrong shape
 */
export function decodeTiny(
  grid: Tensor,
  image: { readonly width: number; readonly height: number },
  options: TinyOptions = {},
): FaceDetection[] {
  const { inputSize, scoreThreshold } = checkOptions(options);
  const anchors = TINY_ANCHORS.length;
  const cells = inputSize / TINY_INPUT_SIZE_MULTIPLE;
  const [n, channels, rows, cols] = grid.dims;
  if (
    n !== 1 || channels !== anchors * TINY_BOX_ENCODING_SIZE || rows !== cells || cols !== cells
  ) {
    throw new RangeError(
      `Tiny grid has dims [${grid.dims.join(", ")}], expected [1, 25, ${cells}, ${cells}] ` +
        `for inputSize ${inputSize}`,
    );
  }
  // face-api's correction factors: the net side over the image's sides in net pixels (rounded).
  const scale = inputSize / Math.max(image.width, image.height);
  const reshapedW = Math.round(image.width * scale);
  const reshapedH = Math.round(image.height * scale);
  const side = Math.max(reshapedW, reshapedH);
  const correctionX = side / reshapedW;
  const correctionY = side / reshapedH;

  const g = grid.data;
  const plane = cells * cells;
  const boxes: { x: number; y: number; width: number; height: number }[] = [];
  const scores: number[] = [];
  for (let row = 0; row < cells; row++) {
    for (let col = 0; col < cells; col++) {
      for (let a = 0; a < anchors; a++) {
        const at = a * TINY_BOX_ENCODING_SIZE * plane + row * cells + col;
        const score = sigmoid(g[at + 4 * plane]);
        if (!(score > scoreThreshold)) continue;
        const centerX = ((col + sigmoid(g[at])) / cells) * correctionX;
        const centerY = ((row + sigmoid(g[at + plane])) / cells) * correctionY;
        const width = ((Math.exp(g[at + 2 * plane]) * TINY_ANCHORS[a].x) / cells) * correctionX;
        const height = ((Math.exp(g[at + 3 * plane]) * TINY_ANCHORS[a].y) / cells) * correctionY;
        const x = centerX - width / 2;
        const y = centerY - height / 2;
        boxes.push(edgesBox(x, y, x + width, y + height));
        scores.push(score);
      }
    }
  }
  // face-api suppresses on boxes rescaled to net pixels (Box.rescale).
  const scaled = boxes.map((b) => ({
    x: b.x * inputSize,
    y: b.y * inputSize,
    width: b.width * inputSize,
    height: b.height * inputSize,
  }));
  return nmsTiny(scaled, scores, TINY_IOU_THRESHOLD).map((i) => ({
    box: {
      x: boxes[i].x * image.width,
      y: boxes[i].y * image.height,
      width: boxes[i].width * image.width,
      height: boxes[i].height * image.height,
    },
    score: scores[i],
  }));
}

/**
 * Detects faces with the converted Tiny Face Detector, as face-api's
 * `detectAllFaces(image, new TinyFaceDetectorOptions(options))`.
 *
 * @param session a session of the `tiny_face_detector` model
 * @param image the picture
 * @param options input size and score threshold
 * @returns faces in image pixels, best score first
 * @throws {RangeError} for bad options, an inconsistent image, or a session of another model
 *
 * @example
 * ```ts
 * const { onnx } = await loadModel("tiny_face_detector");
 * const session = await createSession(onnx);
 * const faces = await detectFacesTiny(session, image, { inputSize: 416 });
 * ```
 */
export async function detectFacesTiny(
  session: Session,
  image: RgbImage,
  options: TinyOptions = {},
): Promise<FaceDetection[]> {
  const { inputSize } = checkOptions(options);
  const input = toNetInput(image, {
    size: inputSize,
    centered: false,
    mean: TINY_INPUT_MEAN,
    std: TINY_INPUT_STD,
  });
  const out = await session.run({ [TINY_NAMES.input]: { data: input.data, dims: input.dims } });
  const grid = out[TINY_NAMES.grid];
  if (!grid) {
    throw new RangeError(
      `Session has no "${TINY_NAMES.grid}" output: is it the tiny_face_detector model?`,
    );
  }
  return decodeTiny(grid, image, options);
}
