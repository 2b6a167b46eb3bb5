/**
 * The networks' contracts, shared by the build-time converters (`convert/`) and the run-time code
 * (`detect/`, landmarks, embeddings, the model store): which networks exist, how each is fed,
 * and the detectors' graph names, anchors and thresholds, all as face-api 1.7.15 has them. Kept
 * free of imports so neither side depends on the other.
 * @module
 */

/** The networks we convert. */
export type ModelId =
  | "ssd_mobilenetv1"
  | "tiny_face_detector"
  | "face_landmark_68"
  | "face_recognition"
  | "blazeface";

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

// SSD MobileNetV1 (face-api's ssdMobilenetv1/).

/** face-api resizes every image (padded to a square) to this many pixels a side. */
export const SSD_INPUT_SIZE = 512;
/** Anchors over all six feature maps: 32²·3 + 16²·6 + 8²·6 + 4²·6 + 2²·6 + 1²·6. */
export const SSD_ANCHOR_COUNT = 5118;
/** Divisors of the box encoding (ty, tx, th, tw), as in face-api's `decodeBoxesLayer`. */
export const SSD_BOX_VARIANCES = [10, 10, 5, 5] as const;
/** face-api's input normalisation `x / 127.5 - 1`, as mean and std. */
export const SSD_INPUT_MEAN = [127.5, 127.5, 127.5] as const;
/** See {@linkcode SSD_INPUT_MEAN}. */
export const SSD_INPUT_STD = [127.5, 127.5, 127.5] as const;
/** Index of "face" in the class logits (0 is background). */
export const SSD_FACE_CLASS = 1;
/** face-api's fixed NMS overlap threshold for this detector. */
export const SSD_IOU_THRESHOLD = 0.5;
/** The graph's input and output names. */
export const SSD_NAMES = {
  input: "input",
  /** [1, 5118, 4]: raw encodings (ty, tx, th, tw) per anchor. */
  boxEncodings: "box_encodings",
  /** [1, 5118, 3]: raw class logits per anchor. */
  classLogits: "class_logits",
  /** [5118, 4]: anchors (ymin, xmin, ymax, xmax) relative to the square input; a constant. */
  anchors: "anchors",
} as const;

// Tiny Face Detector (face-api's tinyFaceDetector/ and tinyYolov2/).

/** face-api's default `TinyFaceDetectorOptions.inputSize`. */
export const TINY_INPUT_SIZE_DEFAULT = 416;
/** face-api refuses input sizes that are not a multiple of this (the net's total stride). */
export const TINY_INPUT_SIZE_MULTIPLE = 32;
/** Largest input side we accept; face-api's documentation stops at 608. */
export const TINY_INPUT_SIZE_MAX = 1024;
/** `BOX_ANCHORS` of face-api's tinyFaceDetector/const.ts: (width, height) in grid cells. */
export const TINY_ANCHORS: readonly { readonly x: number; readonly y: number }[] = [
  { x: 1.603231, y: 2.094468 },
  { x: 6.041143, y: 7.080126 },
  { x: 2.882459, y: 3.518061 },
  { x: 4.266906, y: 5.178857 },
  { x: 9.041765, y: 10.66308 },
];
/** `MEAN_RGB` of face-api's tinyFaceDetector/const.ts; face-api computes `(x - mean) / 255`. */
export const TINY_INPUT_MEAN = [117.001, 114.697, 97.404] as const;
/** See {@linkcode TINY_INPUT_MEAN}. */
export const TINY_INPUT_STD = [255, 255, 255] as const;
/** face-api's NMS overlap threshold for this detector (`IOU_THRESHOLD`). */
export const TINY_IOU_THRESHOLD = 0.4;
/** Values per anchor in the grid: tx, ty, tw, th, objectness (one class, so no class scores). */
export const TINY_BOX_ENCODING_SIZE = 5;
/** The graph's input and output names; the output is [1, 25, cells, cells]. */
export const TINY_NAMES = { input: "input", grid: "grid" } as const;

// BlazeFace: MediaPipe's back-camera face detector as @vladmandic/human@3.3.6 ships it
// (models/blazeface.json + .bin, a tfjs graph model), converted by convert/tfjs_graph.ts.

/** The graph's fixed input side: 256×256 RGB. */
export const BLAZEFACE_INPUT_SIZE = 256;
/** human's normalisation `x / 127.5 - 1` of RGB in [0, 255] (so [-1, 1]), as mean and std. */
export const BLAZEFACE_INPUT_MEAN = [127.5, 127.5, 127.5] as const;
/** See {@linkcode BLAZEFACE_INPUT_MEAN}. */
export const BLAZEFACE_INPUT_STD = [127.5, 127.5, 127.5] as const;
/**
 * The two feature maps, in anchor order (human's concat: stride 16 first): stride in input
 * pixels and anchors per cell. 256 / 16 = 16 → 16·16·2 = 512 anchors; 256 / 32 = 8 → 8·8·6 = 384.
 * Within a map, anchors run row by row, cell by cell, then anchor within the cell (the NHWC
 * reshape of the conv heads).
 */
export const BLAZEFACE_FEATURE_MAPS = [
  { stride: 16, anchorsPerCell: 2, anchors: 512 },
  { stride: 32, anchorsPerCell: 6, anchors: 384 },
] as const;
/**
 * Values per anchor in a regressor output, in input pixels relative to the anchor centre: box
 * centre offset (x, y), box size (w, h), then 6 keypoints (x, y). Scores are one logit per anchor.
 */
export const BLAZEFACE_REGRESSOR_SIZE = 16;
/** The graph's input and output names. */
export const BLAZEFACE_NAMES = {
  /** [1, 3, 256, 256], NCHW, normalised by {@linkcode BLAZEFACE_INPUT_MEAN}/`STD`. */
  input: "input",
  /** [1, 384, 16]: regressors of the stride-32 map (tfjs output `Identity_3`). */
  regressors32: "regressors_32",
  /** [1, 512, 1]: score logits of the stride-16 map (tfjs output `Identity`). */
  scores16: "scores_16",
  /** [1, 384, 1]: score logits of the stride-32 map (tfjs output `Identity_1`). */
  scores32: "scores_32",
  /** [1, 512, 16]: regressors of the stride-16 map (tfjs output `Identity_2`). */
  regressors16: "regressors_16",
} as const;
/** The graph's outputs in tfjs's order (`GraphModel.outputNodes` of human's model.json). */
export const BLAZEFACE_OUTPUTS: readonly OutputSpec[] = [
  { name: BLAZEFACE_NAMES.regressors32, dims: [1, 384, BLAZEFACE_REGRESSOR_SIZE] },
  { name: BLAZEFACE_NAMES.scores16, dims: [1, 512, 1] },
  { name: BLAZEFACE_NAMES.scores32, dims: [1, 384, 1] },
  { name: BLAZEFACE_NAMES.regressors16, dims: [1, 512, BLAZEFACE_REGRESSOR_SIZE] },
];

/** Detection strategies; what each does is documented on the Recognizer's (model/recognizer.ts). */
export type DetectorStrategy = "ssd" | "tiny" | "auto" | "blaze";

/** The strategy a recognizer uses when none is given. */
export const DETECTOR_DEFAULT: DetectorStrategy = "auto";

/** What each strategy runs, in a few words (for status pages and `--help`). */
export const DETECTOR_SUMMARIES: Readonly<Record<DetectorStrategy, string>> = {
  auto: "BlazeFace; images up to 160 px: tiny detector, then BlazeFace",
  ssd: "face-api's SSD MobileNetV1 (face-api parity)",
  tiny: "face-api's tiny detector",
  blaze: "BlazeFace on every image",
};

/** The strategies, for validating user input. */
export const DETECTOR_STRATEGIES: readonly DetectorStrategy[] = ["auto", "ssd", "tiny", "blaze"];
