/**
 * face-api's Tiny Face Detector (a separable-conv Tiny YOLOv2) as ONNX, up to the raw output grid:
 * 5 anchors × (tx, ty, tw, th, objectness) per cell. Sigmoid/exp decoding and NMS are done in
 * TypeScript by `model/detect/tiny.ts`.
 *
 * Mirrors `TinyYolov2Base.runMobilenet` with face-api's TinyFaceDetector config
 * (`isFirstLayerConv2d`, 7 filter sizes, so no conv6/conv7) of @vladmandic/face-api 1.7.15.
 * The spatial input dims are symbolic: face-api accepts any input size divisible by 32.
 * @module
 */
import { float, GraphBuilder } from "../onnx/graph_builder.ts";
import {
  depthwiseToOihw,
  hwioToOihw,
  loadTfjsWeights,
  requireWeight,
  type Weight,
} from "./tfjs_weights.ts";
import type { ConvertedModel, Converter } from "./types.ts";
import {
  TINY_ANCHORS,
  TINY_BOX_ENCODING_SIZE,
  TINY_INPUT_MEAN,
  TINY_INPUT_SIZE_DEFAULT,
  TINY_INPUT_SIZE_MULTIPLE,
  TINY_INPUT_STD,
  TINY_IOU_THRESHOLD,
  TINY_NAMES,
} from "../specs.ts";

const WEIGHTS = "tiny_face_detector_model";
/** face-api's `leaky`: relu(x - 0.1x) + 0.1x, i.e. a leaky ReLU with slope float32(0.1). */
const LEAKY_ALPHA = 0.10000000149011612;

/**
 * Builds the ONNX graph from loaded weights.
 * @param weights the `tiny_face_detector_model` weights
 * @returns the model bytes and its node count
 * @throws {RangeError} when a weight is missing
 */
export function buildTinyFaceDetector(weights: Map<string, Weight>): {
  onnx: Uint8Array;
  nodeCount: number;
} {
  const g = new GraphBuilder("tiny_face_detector");
  const w = (name: string) => requireWeight(weights, name);
  const constant = (name: string, t: { data: Float32Array; dims: number[] }) =>
    g.constant(name, t.data, t.dims);
  const bias = (name: string) => g.constant(name, w(name).data, w(name).shape);
  const leaky = (x: string) => g.op("LeakyRelu", [x], { alpha: float(LEAKY_ALPHA) });
  // tf.maxPool "same" pads the odd pixel at the bottom/right with -inf: SAME_UPPER.
  const maxPool = (x: string, stride: number) =>
    g.op("MaxPool", [x], {
      kernel_shape: [2, 2],
      strides: [stride, stride],
      auto_pad: "SAME_UPPER",
    });

  const input = g.input(TINY_NAMES.input, [1, 3, "height", "width"]);
  // conv0 is a plain 3×3 conv with "valid" padding (convLayer(x, conv0, 'valid')).
  let x = leaky(g.op("Conv", [
    input,
    constant("conv0/W", hwioToOihw(w("conv0/filters"))),
    bias("conv0/bias"),
  ], { kernel_shape: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0] }));
  x = maxPool(x, 2);
  for (let i = 1; i <= 5; i++) {
    // depthwiseSeparableConv: pad 1 all round, depthwise 3×3 valid, pointwise 1×1 + bias, leaky.
    const dw = depthwiseToOihw(w(`conv${i}/depthwise_filter`));
    x = g.op("Conv", [x, constant(`conv${i}/dw`, dw)], {
      kernel_shape: [3, 3],
      strides: [1, 1],
      pads: [1, 1, 1, 1],
      group: dw.dims[0],
    });
    x = leaky(g.op("Conv", [
      x,
      constant(`conv${i}/pw`, hwioToOihw(w(`conv${i}/pointwise_filter`))),
      bias(`conv${i}/bias`),
    ], { kernel_shape: [1, 1], strides: [1, 1] }));
    x = maxPool(x, i < 5 ? 2 : 1);
  }
  const out = g.op("Conv", [
    x,
    constant("conv8/W", hwioToOihw(w("conv8/filters"))),
    bias("conv8/bias"),
  ], {
    kernel_shape: [1, 1],
    strides: [1, 1],
  });
  const channels = TINY_ANCHORS.length * TINY_BOX_ENCODING_SIZE;
  g.output(out, TINY_NAMES.grid, [1, channels, "grid_height", "grid_width"]);
  return {
    onnx: g.toBytes({ source: `@vladmandic/face-api@1.7.15 model/${WEIGHTS}` }),
    nodeCount: g.nodeCount,
  };
}

/** Converts face-api's `tiny_face_detector_model` to ONNX. */
export const tinyFaceDetectorConverter: Converter = {
  id: "tiny_face_detector",
  version: 1,
  weights: WEIGHTS,
  async convert(): Promise<ConvertedModel> {
    const { onnx, nodeCount } = buildTinyFaceDetector(await loadTfjsWeights(WEIGHTS));
    return {
      id: "tiny_face_detector",
      onnx,
      // face-api: (x - MEAN_RGB) / 255. The graph's spatial dims are symbolic; these are the
      // default size, any multiple of 32 works.
      input: {
        name: TINY_NAMES.input,
        dims: [1, 3, TINY_INPUT_SIZE_DEFAULT, TINY_INPUT_SIZE_DEFAULT],
        mean: [...TINY_INPUT_MEAN],
        std: [...TINY_INPUT_STD],
      },
      outputs: [{
        name: TINY_NAMES.grid,
        dims: [1, TINY_ANCHORS.length * TINY_BOX_ENCODING_SIZE, "grid_height", "grid_width"],
      }],
      source: `@vladmandic/face-api@1.7.15 model/${WEIGHTS}`,
      extra: {
        nodeCount,
        dynamicInputSize: true,
        inputSizeDefault: TINY_INPUT_SIZE_DEFAULT,
        inputSizeMultiple: TINY_INPUT_SIZE_MULTIPLE,
        anchors: TINY_ANCHORS.map((a) => [a.x, a.y]),
        gridLayout: "channel = anchor * 5 + (tx, ty, tw, th, objectness)",
        padToSquare: "bottom-right",
        iouThreshold: TINY_IOU_THRESHOLD,
      },
    };
  },
};
