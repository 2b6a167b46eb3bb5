/**
 * face-api's SSD MobileNetV1 face detector as ONNX: MobileNetV1 (depthwise batch norm folded,
 * ReLU6), the extra feature layers and six box predictors, up to the raw per-anchor outputs.
 * Box decoding, sigmoid and NMS are done in TypeScript by `model/detect/ssd.ts`.
 *
 * Mirrors `src/ssdMobilenetv1/{mobileNetV1,predictionLayer,boxPredictionLayer}.ts` of
 * @vladmandic/face-api 1.7.15. The int32 weights in the manifest (`stack_1/1`, `Postprocessor/*`,
 * `Preprocessor/*`, ...) are leftovers of the original TF graph that face-api never reads.
 * @module
 */
import { GraphBuilder } from "../onnx/graph_builder.ts";
import {
  depthwiseToOihw,
  hwioToOihw,
  loadTfjsWeights,
  requireWeight,
  type Weight,
} from "./tfjs_weights.ts";
import type { ConvertedModel, Converter } from "./types.ts";
import {
  SSD_ANCHOR_COUNT,
  SSD_BOX_VARIANCES,
  SSD_FACE_CLASS,
  SSD_INPUT_MEAN,
  SSD_INPUT_SIZE,
  SSD_INPUT_STD,
  SSD_IOU_THRESHOLD,
  SSD_NAMES,
} from "../specs.ts";

const WEIGHTS = "ssd_mobilenetv1_model";
/** tf.batchNorm's epsilon in face-api's mobileNetV1 (float32 of 1e-3). */
const BATCH_NORM_EPSILON = 0.0010000000474974513;
/** MobileNetV1 layers whose depthwise conv has stride 2 (`getStridesForLayerIdx`). */
const STRIDE2_LAYERS = new Set([2, 4, 6, 12]);

/** TF "SAME" padding for one spatial axis: the odd pixel goes after (bottom/right). */
export function tfSamePads(
  inSize: number,
  kernel: number,
  stride: number,
): { before: number; after: number; out: number } {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kernel - inSize, 0);
  const before = Math.floor(total / 2);
  return { before, after: total - before, out };
}

class SsdGraph {
  readonly g = new GraphBuilder("ssd_mobilenetv1");
  #lo: string;
  #hi: string;

  constructor(readonly weights: Map<string, Weight>) {
    this.#lo = this.g.constant("relu6_lo", new Float32Array([0]), []);
    this.#hi = this.g.constant("relu6_hi", new Float32Array([6]), []);
  }

  /** Conv with TF "SAME" padding, bias, optional ReLU6; returns the output and its size. */
  conv(
    x: string,
    size: number,
    filter: { data: Float32Array; dims: number[] },
    bias: Float32Array,
    stride: number,
    name: string,
    options: { group?: number; relu6: boolean },
  ): { out: string; size: number } {
    const k = filter.dims[2];
    const p = tfSamePads(size, k, stride);
    const w = this.g.constant(`${name}/W`, filter.data, filter.dims);
    const b = this.g.constant(`${name}/B`, bias, [bias.length]);
    let out = this.g.op("Conv", [x, w, b], {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [p.before, p.before, p.after, p.after],
      group: options.group ?? 1,
    });
    if (options.relu6) out = this.g.op("Clip", [out, this.#lo, this.#hi]);
    return { out, size: p.out };
  }

  /** `pointwiseConvLayer`: conv "same" + offset + ReLU6 (its batch norm is pre-folded). */
  pointwise(x: string, size: number, prefix: string, stride: number) {
    const w = requireWeight(this.weights, `${prefix}/weights`);
    const b = requireWeight(this.weights, `${prefix}/convolution_bn_offset`);
    return this.conv(x, size, hwioToOihw(w), b.data as Float32Array, stride, prefix, {
      relu6: true,
    });
  }

  /** `depthwiseConvLayer`: depthwise conv "same", batch norm folded into it, ReLU6. */
  depthwise(x: string, size: number, prefix: string, stride: number) {
    const filter = depthwiseToOihw(requireWeight(this.weights, `${prefix}/depthwise_weights`));
    const f = (n: string) => requireWeight(this.weights, `${prefix}/BatchNorm/${n}`).data;
    const [gamma, beta, mean, variance] = [
      f("gamma"),
      f("beta"),
      f("moving_mean"),
      f("moving_variance"),
    ];
    const channels = gamma.length;
    const perChannel = filter.data.length / channels;
    const folded = new Float32Array(filter.data.length);
    const bias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      // tf.batchNorm: (x - mean) * gamma / sqrt(var + eps) + beta, folded in float64.
      const scale = gamma[c] / Math.sqrt(variance[c] + BATCH_NORM_EPSILON);
      for (let i = 0; i < perChannel; i++) {
        folded[c * perChannel + i] = filter.data[c * perChannel + i] * scale;
      }
      bias[c] = beta[c] - mean[c] * scale;
    }
    return this.conv(x, size, { data: folded, dims: filter.dims }, bias, stride, prefix, {
      group: channels,
      relu6: true,
    });
  }

  /** `boxPredictionLayer`: 1×1 convs, reshaped NHWC-wise to [1, anchors, 4] and [1, anchors, 3]. */
  boxPredictor(x: string, size: number, index: number): { boxes: string; classes: string } {
    const head = (kind: string, width: number) => {
      const prefix = `Prediction/BoxPredictor_${index}/${kind}`;
      const w = requireWeight(this.weights, `${prefix}/weights`);
      const b = requireWeight(this.weights, `${prefix}/biases`);
      const { out } = this.conv(x, size, hwioToOihw(w), b.data as Float32Array, 1, prefix, {
        relu6: false,
      });
      // tfjs flattens NHWC: anchor order is (row, col, anchor-in-cell).
      const nhwc = this.g.op("Transpose", [out], { perm: [0, 2, 3, 1] });
      return this.g.op("Reshape", [nhwc, this.g.int64s(`${prefix}/shape`, [1, -1, width])]);
    };
    return { boxes: head("BoxEncodingPredictor", 4), classes: head("ClassPredictor", 3) };
  }
}

/**
 * Builds the ONNX graph from loaded weights (separate from {@linkcode ssdMobilenetv1Converter} so
 * tests can feed their own weights).
 * @param weights the `ssd_mobilenetv1_model` weights
 * @returns the model bytes and its node count
 * @throws {RangeError} when a weight is missing or the anchors have an unexpected shape
 */
export function buildSsdMobilenetv1(weights: Map<string, Weight>): {
  onnx: Uint8Array;
  nodeCount: number;
} {
  const s = new SsdGraph(weights);
  const g = s.g;
  const x = g.input(SSD_NAMES.input, [1, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE]);

  let cur = s.pointwise(x, SSD_INPUT_SIZE, "MobilenetV1/Conv2d_0_pointwise", 2);
  let conv11 = cur;
  for (let layer = 1; layer <= 13; layer++) {
    const stride = STRIDE2_LAYERS.has(layer) ? 2 : 1;
    cur = s.depthwise(cur.out, cur.size, `MobilenetV1/Conv2d_${layer}_depthwise`, stride);
    cur = s.pointwise(cur.out, cur.size, `MobilenetV1/Conv2d_${layer}_pointwise`, 1);
    if (layer === 11) conv11 = cur;
  }
  const features = cur;
  // predictionLayer: conv_0..conv_7, odd ones with stride 2 feed box predictors 2..5.
  const extra = [];
  let p = features;
  for (let i = 0; i < 8; i++) {
    p = s.pointwise(p.out, p.size, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
    if (i % 2 === 1) extra.push(p);
  }
  const sources = [conv11, features, ...extra];
  const heads = sources.map((src, i) => s.boxPredictor(src.out, src.size, i));
  const boxes = g.op("Concat", heads.map((h) => h.boxes), { axis: 1 });
  const classes = g.op("Concat", heads.map((h) => h.classes), { axis: 1 });
  g.output(boxes, SSD_NAMES.boxEncodings, [1, SSD_ANCHOR_COUNT, 4]);
  g.output(classes, SSD_NAMES.classLogits, [1, SSD_ANCHOR_COUNT, 3]);

  const anchors = requireWeight(weights, "Output/extra_dim");
  if (anchors.shape.join(",") !== `1,${SSD_ANCHOR_COUNT},4`) {
    throw new RangeError(
      `Output/extra_dim has shape [${anchors.shape}], expected [1, ${SSD_ANCHOR_COUNT}, 4]`,
    );
  }
  // The anchors ride along as a constant output, so a session alone is enough to decode.
  const anchorsConst = g.constant("anchors_const", anchors.data, [SSD_ANCHOR_COUNT, 4]);
  g.output(anchorsConst, SSD_NAMES.anchors, [SSD_ANCHOR_COUNT, 4]);
  return {
    onnx: g.toBytes({ source: `@vladmandic/face-api@1.7.15 model/${WEIGHTS}` }),
    nodeCount: g.nodeCount,
  };
}

/** Converts face-api's `ssd_mobilenetv1_model` to ONNX. */
export const ssdMobilenetv1Converter: Converter = {
  id: "ssd_mobilenetv1",
  version: 1,
  weights: WEIGHTS,
  async convert(): Promise<ConvertedModel> {
    const { onnx, nodeCount } = buildSsdMobilenetv1(await loadTfjsWeights(WEIGHTS));
    return {
      id: "ssd_mobilenetv1",
      onnx,
      // face-api: x / 127.5 - 1 on the padded, resized image.
      input: {
        name: SSD_NAMES.input,
        dims: [1, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE],
        mean: [...SSD_INPUT_MEAN],
        std: [...SSD_INPUT_STD],
      },
      outputs: [
        { name: SSD_NAMES.boxEncodings, dims: [1, SSD_ANCHOR_COUNT, 4] },
        { name: SSD_NAMES.classLogits, dims: [1, SSD_ANCHOR_COUNT, 3] },
        { name: SSD_NAMES.anchors, dims: [SSD_ANCHOR_COUNT, 4] },
      ],
      source: `@vladmandic/face-api@1.7.15 model/${WEIGHTS}`,
      extra: {
        nodeCount,
        anchorCount: SSD_ANCHOR_COUNT,
        anchorLayout: "ymin,xmin,ymax,xmax (relative to the square input)",
        anchorsOutput: SSD_NAMES.anchors,
        boxEncodingLayout: "ty,tx,th,tw",
        boxVariances: [...SSD_BOX_VARIANCES],
        faceClassIndex: SSD_FACE_CLASS,
        padToSquare: "bottom-right",
        iouThreshold: SSD_IOU_THRESHOLD,
      },
    };
  },
};
