/**
 * The converters `deno task model:build` runs, in build order.
 * @module
 */
import { blazefaceConverter } from "./blazeface.ts";
import { faceLandmark68Converter } from "./face_landmark_68.ts";
import { faceRecognitionConverter } from "./face_recognition.ts";
import { ssdMobilenetv1Converter } from "./ssd_mobilenetv1.ts";
import { tinyFaceDetectorConverter } from "./tiny_face_detector.ts";
import type { Converter } from "./types.ts";

/** All converters. */
export const CONVERTERS: readonly Converter[] = [
  ssdMobilenetv1Converter,
  tinyFaceDetectorConverter,
  faceLandmark68Converter,
  faceRecognitionConverter,
  blazefaceConverter,
];
