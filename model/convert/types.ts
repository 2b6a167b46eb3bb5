/**
 * What every weight converter produces: an ONNX model plus the facts a caller needs to feed it.
 * @module
 */

/** The networks we convert. */
export type ModelId =
  | "ssd_mobilenetv1"
  | "tiny_face_detector"
  | "face_landmark_68"
  | "face_recognition";

/**
 * How to turn RGB pixels in [0, 255] into the model's input: `(pixel - mean[c]) / std[c]`,
 * laid out NCHW.
 */
export interface InputSpec {
  readonly name: string;
  /** [1, 3, height, width]. */
  readonly dims: readonly [1, 3, number, number];
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** A graph output's name and dims (strings are symbolic). */
export interface OutputSpec {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

/** A converted network. */
export interface ConvertedModel {
  readonly id: ModelId;
  readonly onnx: Uint8Array;
  readonly input: InputSpec;
  readonly outputs: readonly OutputSpec[];
  /** Where the weights came from, e.g. `@vladmandic/face-api@1.7.15 model/face_recognition_model`. */
  readonly source: string;
  /** Model-specific facts the TypeScript side needs (anchors, variances, ...), JSON-serialisable. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A converter: reads npm-shipped weights, returns the ONNX model. */
export interface Converter {
  readonly id: ModelId;
  /** Bump when the converter's output changes, so cached builds are redone. */
  readonly version: number;
  /** tfjs manifest base name inside face-api's `model/` folder. */
  readonly weights: string;
  convert(): Promise<ConvertedModel>;
}
