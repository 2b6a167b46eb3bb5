/**
 * 68 facial landmarks for a face crop, as face-api's `FaceLandmark68Net.detectLandmarks` returns
 * them: the net sees the crop padded to a centred square and resized to 112×112; its output is
 * mapped back to crop pixels by `FaceLandmark68NetBase.postProcess` and `FaceLandmarks`.
 * @module
 */
import type { InputSpec } from "./specs.ts";
import { LANDMARK_COUNT, type Point } from "./face_geometry.ts";
import { toNetInput } from "./image/net_input.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import type { Session } from "./runtime/session.ts";

/** Checks a spec describes a square net input and the session can take it. */
export function squareInputSide(session: Session, spec: InputSpec): number {
  const [, , height, width] = spec.dims;
  if (height !== width) {
    throw new RangeError(`Input "${spec.name}" is ${width}x${height}; face-api nets take squares`);
  }
  if (!session.inputNames.includes(spec.name)) {
    throw new RangeError(
      `Session has inputs [${session.inputNames.join(", ")}], not "${spec.name}": ` +
        `is this the model the InputSpec came from?`,
    );
  }
  return width;
}

/**
 * Maps the net's raw output (x0, y0, x1, y1, ... relative to the padded square) to crop pixels,
 * with face-api's arithmetic: tfjs does `out * size - pad` and `/ scaledSide` on float32 tensors,
 * then `FaceLandmarks` multiplies by the crop size in float64. The pad is face-api's
 * `|w - h| / 2` of the scaled crop even when the real padding split is uneven (odd difference),
 * a half-pixel quirk we keep.
 *
 * @param raw 136 values from the landmark net
 * @param crop the crop's size in pixels
 * @param size the net's input side (112)
 * @returns 68 points in crop pixels
 * @throws {RangeError} when `raw` does not hold 136 values
 */
export function landmarksFromNetOutput(
  raw: Float32Array,
  crop: { readonly width: number; readonly height: number },
  size: number,
): Point[] {
  if (raw.length !== 2 * LANDMARK_COUNT) {
    throw new RangeError(`Landmark net gave ${raw.length} values, expected ${2 * LANDMARK_COUNT}`);
  }
  const { width, height } = crop;
  const scale = size / Math.max(width, height);
  const scaledWidth = width * scale;
  const scaledHeight = height * scale;
  const padX = Math.fround(
    scaledWidth < scaledHeight ? Math.abs(scaledWidth - scaledHeight) / 2 : 0,
  );
  const padY = Math.fround(
    scaledHeight < scaledWidth ? Math.abs(scaledWidth - scaledHeight) / 2 : 0,
  );
  const size32 = Math.fround(size);
  const width32 = Math.fround(scaledWidth);
  const height32 = Math.fround(scaledHeight);
  const points: Point[] = new Array(LANDMARK_COUNT);
  for (let i = 0; i < LANDMARK_COUNT; i++) {
    const relX = Math.fround(Math.fround(Math.fround(raw[2 * i] * size32) - padX) / width32);
    const relY = Math.fround(Math.fround(Math.fround(raw[2 * i + 1] * size32) - padY) / height32);
    points[i] = { x: relX * width, y: relY * height };
  }
  return points;
}

/**
 * Runs the landmark net on a face crop.
 *
 * @param session a session of the `face_landmark_68` model
 * @param spec that model's InputSpec (from the model manifest or the converter)
 * @param crop the face crop (any size; padded to a centred square as face-api does)
 * @returns 68 points in the crop's pixel coordinates, face-api's order (jaw 0-16, brows 17-26,
 *   nose 27-35, eyes 36-47, mouth 48-67)
 * @throws {RangeError} when the spec does not fit the session or the net's output is malformed
 *
 * @example
 * ```ts
 * const { entry, onnx } = await loadModel("face_landmark_68");
 * const session = await createSession(onnx);
 * const points = await detectLandmarks(session, entry.input, crop);
 * ```
 */
export async function detectLandmarks(
  session: Session,
  spec: InputSpec,
  crop: RgbImage,
): Promise<Point[]> {
  const size = squareInputSide(session, spec);
  const input = toNetInput(crop, { size, centered: true, mean: spec.mean, std: spec.std });
  const outputs = await session.run({ [spec.name]: { data: input.data, dims: input.dims } });
  const raw = outputs[session.outputNames[0]];
  return landmarksFromNetOutput(raw.data, crop, size);
}
