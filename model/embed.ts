/**
 * The 128-float face descriptor of a face crop, as face-api's
 * `FaceRecognitionNet.computeFaceDescriptor` computes it: the crop padded to a centred square,
 * resized to 150×150, normalised, through the recognition net.
 * @module
 */
import type { InputSpec } from "./specs.ts";
import { toNetInput } from "./image/net_input.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { squareInputSide } from "./landmarks.ts";
import type { Session } from "./runtime/session.ts";

/** Length of a face descriptor. */
export const DESCRIPTOR_LENGTH = 128;

/**
 * Computes the descriptor of a face crop (ideally the dlib-aligned crop from
 * `alignmentBox`, as face-api's `withFaceDescriptors` does).
 *
 * @param session a session of the `face_recognition` model
 * @param spec that model's InputSpec
 * @param crop the face crop (any size)
 * @returns 128 floats; face-api compares them by Euclidean distance (same person below ~0.6)
 * @throws {RangeError} when the spec does not fit the session or the net's output is malformed
 *
 * @example
 * ```ts
 * const { entry, onnx } = await loadModel("face_recognition");
 * const session = await createSession(onnx);
 * const descriptor = await computeDescriptor(session, entry.input, crop);
 * ```
 */
export async function computeDescriptor(
  session: Session,
  spec: InputSpec,
  crop: RgbImage,
): Promise<Float32Array> {
  const size = squareInputSide(session, spec);
  const input = toNetInput(crop, { size, centered: true, mean: spec.mean, std: spec.std });
  const outputs = await session.run({ [spec.name]: { data: input.data, dims: input.dims } });
  const descriptor = outputs[session.outputNames[0]].data;
  if (descriptor.length !== DESCRIPTOR_LENGTH) {
    throw new RangeError(
      `Recognition net gave ${descriptor.length} values, expected ${DESCRIPTOR_LENGTH}: ` +
        `is the session running the face_recognition model?`,
    );
  }
  return descriptor;
}

/**
 * Euclidean distance between two descriptors, summed in float64 in index order as face-api's
 * `euclideanDistance` does.
 * @throws {RangeError} when the lengths differ
 */
export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new RangeError(`Descriptors differ in length: ${a.length} vs ${b.length}`);
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = a[i] - b[i];
    sum += diff * diff;
  }
  return Math.sqrt(sum);
}
