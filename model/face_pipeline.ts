/**
 * The per-image pipeline, independent of how each stage runs: detect every face, find 68
 * landmarks on each detection's crop, crop the dlib-aligned box, embed it. The composition
 * follows face-api's `detectAllFaces().withFaceLandmarks().withFaceDescriptors()` step by step.
 * @module
 */
import { alignmentBox, type Box, clipBox, cropImage, type Point } from "./face_geometry.ts";
import type { RgbImage } from "./image/rgb_image.ts";

/** A detector's answer: a box in image pixels and a confidence in [0, 1]. */
export interface DetectedFace {
  readonly box: Box;
  readonly score: number;
}

/** The three networks, each behind a function (so tests and benchmarks can swap one). */
export interface FaceStages {
  detect(image: RgbImage): Promise<readonly DetectedFace[]>;
  /** 68 points in the face crop's pixel coordinates. */
  landmarks(face: RgbImage): Promise<readonly Point[]>;
  embed(face: RgbImage): Promise<Float32Array>;
}

/** Everything the pipeline knows about one face. */
export interface AnalyzedFace {
  readonly box: Box;
  readonly score: number;
  /** 68 points in image pixels. */
  readonly landmarks: readonly Point[];
  /** The crop the embedding was computed from. */
  readonly alignedBox: Box;
  readonly embedding: Float32Array;
}

/** Milliseconds spent per stage on one image (summed over its faces). */
export interface StageTimingsMs {
  detect: number;
  landmarks: number;
  embed: number;
}

/** Options for {@linkcode analyzeFaces}. */
export interface AnalyzeOptions {
  /** Monotonic clock for stage timings; injected so the pipeline itself reads no clock. */
  nowMs?: () => number;
  /**
   * Faces beyond this many (largest kept) are not embedded: each costs a landmark and an
   * embedding run, and a crowd photo must not turn one request into minutes of work.
   * @default {FACES_PER_IMAGE_MAX}
   */
  facesMax?: number;
}

/** Default cap on faces embedded per image. */
export const FACES_PER_IMAGE_MAX = 32;

/**
 * Runs detection → landmarks → alignment → embedding on one image.
 *
 * @param image decoded RGB image
 * @param stages the networks
 * @returns faces, largest first, and the time each stage took
 */
export async function analyzeFaces(
  image: RgbImage,
  stages: FaceStages,
  options: AnalyzeOptions = {},
): Promise<{ faces: AnalyzedFace[]; timingsMs: StageTimingsMs }> {
  const now = options.nowMs ?? (() => 0);
  const facesMax = options.facesMax ?? FACES_PER_IMAGE_MAX;
  const timingsMs: StageTimingsMs = { detect: 0, landmarks: 0, embed: 0 };

  let t = now();
  const detections = [...await stages.detect(image)]
    .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)
    .slice(0, facesMax);
  timingsMs.detect += now() - t;

  const faces: AnalyzedFace[] = [];
  for (const detection of detections) {
    const cropBox = clipBox(detection.box, image.width, image.height);
    if (cropBox.width < 1 || cropBox.height < 1) continue;
    const crop = cropImage(image, cropBox);

    t = now();
    const local = await stages.landmarks(crop);
    timingsMs.landmarks += now() - t;
    // face-api shifts the crop-relative points by the unfloored detection box, not the crop.
    const landmarks = local.map((p) => ({ x: p.x + detection.box.x, y: p.y + detection.box.y }));

    const alignedBox = clipBox(alignmentBox(landmarks, crop), image.width, image.height);
    if (alignedBox.width < 1 || alignedBox.height < 1) continue;
    t = now();
    const embedding = await stages.embed(cropImage(image, alignedBox));
    timingsMs.embed += now() - t;

    faces.push({ box: detection.box, score: detection.score, landmarks, alignedBox, embedding });
  }
  return { faces, timingsMs };
}
