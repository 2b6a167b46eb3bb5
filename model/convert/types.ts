/**
 * What every weight converter produces: an ONNX model plus the facts a caller needs to feed it.
 * Build-time only; the run-time side of the contract (ids, input and output specs) is
 * `../specs.ts`.
 * @module
 */
import type { InputSpec, ModelId, OutputSpec } from "../specs.ts";

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
  /** tfjs manifest base name inside face-api's `model/` folder (or the source model's name). */
  readonly weights: string;
  /**
   * The files whose bytes are the source, hashed to notice a changed npm package. Unset: face-api's
   * `<weights>-weights_manifest.json` and `<weights>.bin`.
   */
  readonly sourceFiles?: readonly URL[];
  convert(): Promise<ConvertedModel>;
}
