/**
 * Face detection: face-api's SSD MobileNetV1 and Tiny Face Detector, run as converted ONNX
 * models, with face-api's exact post-processing (anchors, decoding, NMS, mapping to pixels).
 *
 * @example
 * ```ts
 * import { detectFacesSsd } from "./model/detect/mod.ts";
 * const { onnx } = await loadModel("ssd_mobilenetv1");
 * const faces = await detectFacesSsd(await createSession(onnx), image);
 * // [{ box: { x, y, width, height }, score }], best first, in image pixels
 * ```
 * @module
 */
export {
  decodeSsd,
  detectFacesSsd,
  type FaceDetection,
  type SsdOptions,
  type SsdOutputs,
} from "./ssd.ts";
export { decodeTiny, detectFacesTiny, type TinyOptions } from "./tiny.ts";
export { iouBoxes, iouCorners, nmsSsd, type NmsSsdOptions, nmsTiny } from "./nms.ts";
export { CANVAS_SIZE_MAX, padToCanvas } from "./pad_to_canvas.ts";
export * from "../specs.ts";
export {
  BLAZEFACE_BACK_TO_SSD,
  BLAZEFACE_KEYPOINTS,
  BLAZEFACE_SPECS,
  blazeFaceAnchors,
  type BlazeFaceDetection,
  type BlazeFaceSpec,
  type BlazeFaceVariant,
  type BoxRelation,
  decodeBlazeFace,
  type RawTensor,
  toSsdLikeBox,
  unifyBlazeFaceOutputs,
  weightedNms,
} from "./blazeface.ts";
export {
  BLAZE_WINDOWS_MAX,
  type BlazeFaceRun,
  type BlazeMultiscaleOptions,
  type BlazeWindow,
  detectBlazeWindow,
  detectFacesBlaze,
  mergeBlazeWindows,
  planBlazeWindows,
  sampleBlazeWindow,
  zoomOutWindow,
} from "./blazeface_multiscale.ts";
