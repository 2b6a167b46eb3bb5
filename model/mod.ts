/**
 * The face model: `Recognizer` (decode → detect → landmarks → aligned crop → descriptor → the
 * nearest gallery person), the model store and its first-use build, and the gallery's match
 * threshold. Subfolders have their own faces: `image/` (decoding), `detect/`, `gallery/`.
 * `convert/` is build-time only and is not re-exported.
 * @module
 */
export {
  type Analysis,
  DETECTOR_STRATEGIES,
  type DetectorStrategy,
  EMBEDDER_MODEL,
  NO_FACE_LABEL,
  type Recognition,
  type RecognizedFace,
  Recognizer,
  type RecognizerOptions,
} from "./recognizer.ts";
export { buildModels, ensureModels, type EnsureModelsOptions } from "./build.ts";
export { loadModel, MODEL_IDS, modelDir, readManifest } from "./model_store.ts";
export * from "./specs.ts";
export { parseThreshold, type Threshold } from "./gallery/match.ts";
