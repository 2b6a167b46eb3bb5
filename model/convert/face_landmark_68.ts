/**
 * Converts face-api's `FaceLandmark68Net` (112×112 RGB → 136 values: 68 (x, y) pairs relative to
 * the padded square) to ONNX. The graph reproduces `faceFeatureExtractor/FaceFeatureExtractor.ts`,
 * `denseBlock.ts`, `common/depthwiseSeparableConv.ts` and `faceProcessor/FaceProcessor.ts` of
 * @vladmandic/face-api 1.7.15:
 *
 * - four dense blocks (32, 64, 128, 256 channels), each halving the side: 112 → 56 → 28 → 14 → 7.
 *   A block is out1 = relu(conv0(x)) at stride 2, then three depthwise separable convs whose
 *   inputs are relu of the running sums, and relu(out1 + (out2 + (out3 + out4))); the sums keep
 *   tfjs's association order since float addition is not associative.
 * - dense0's conv0 is a plain 3×3 conv + bias; the others are separable (depthwise 3×3, then
 *   pointwise 1×1 + bias), as `tf.separableConv2d` computes them.
 * - every conv is TF "same"; at stride 2 on an even side TF pads only bottom/right (0, 1), which
 *   the explicit `pads` below reproduce.
 * - head: 7×7/2 valid average pool (a global mean here), flatten, `matMul(fc/weights) + fc/bias`.
 *
 * The net's raw output stays in the graph's output; face-api's post-processing (scale by 112,
 * remove the centring pad, divide by the scaled crop size) is in `model/landmarks.ts`.
 * Normalisation is in the InputSpec: mean RGB [122.782, 117.001, 104.298], divide by 255.
 * @module
 */
import { GraphBuilder } from "../onnx/graph_builder.ts";
import {
  depthwiseToOihw,
  FACE_API_MODEL_DIR,
  hwioToOihw,
  loadTfjsWeights,
  requireWeight,
  type Weight,
} from "./tfjs_weights.ts";
import type { ConvertedModel, Converter } from "./types.ts";
import type { InputSpec } from "../specs.ts";

const SOURCE = "@vladmandic/face-api@1.7.15 model/face_landmark_68_model";
/** face-api's `FaceFeatureExtractor.forwardInput` feeds 112×112 crops. */
export const FACE_LANDMARK_68_INPUT_SIZE = 112;
/** 68 points, x and y interleaved. */
export const LANDMARK_VALUES = 136;

/** What the landmark net expects: face-api's mean RGB, then divide by 255. */
export const FACE_LANDMARK_68_INPUT: InputSpec = {
  name: "input",
  dims: [1, 3, FACE_LANDMARK_68_INPUT_SIZE, FACE_LANDMARK_68_INPUT_SIZE],
  mean: [122.782, 117.001, 104.298],
  std: [255, 255, 255],
};

/**
 * TensorFlow's "SAME" padding for one axis: output `ceil(length / stride)`, the total padding
 * needed for it, the smaller half before and the rest after.
 * @returns [before, after, outputLength]
 */
export function tfSamePadding(
  length: number,
  kernel: number,
  stride: number,
): [number, number, number] {
  const out = Math.ceil(length / stride);
  const total = Math.max((out - 1) * stride + kernel - length, 0);
  const before = Math.floor(total / 2);
  return [before, total - before, out];
}

interface Flow {
  readonly name: string;
  readonly channels: number;
  /** The net is square throughout. */
  readonly side: number;
}

class LandmarkGraph {
  readonly g = new GraphBuilder("face_landmark_68");
  constructor(readonly weights: Map<string, Weight>) {}

  #conv(
    x: Flow,
    w: { data: Float32Array; dims: number[] },
    name: string,
    stride: number,
    group: number,
    bias?: Float32Array,
  ): Flow {
    const [cout, , kh, kw] = w.dims;
    const [before, after, side] = tfSamePadding(x.side, kh, stride);
    const inputs = [x.name, this.g.constant(`${name}/W`, w.data, w.dims)];
    if (bias) inputs.push(this.g.constant(`${name}/B`, bias, [cout]));
    const out = this.g.op("Conv", inputs, {
      kernel_shape: [kh, kw],
      strides: [stride, stride],
      pads: [before, before, after, after],
      group,
    });
    return { name: out, channels: cout, side };
  }

  #weight(name: string): Weight {
    return requireWeight(this.weights, name);
  }

  /** conv2d(x, filters, stride, "same") + bias. */
  conv(x: Flow, prefix: string, stride: number): Flow {
    const w = hwioToOihw(this.#weight(`${prefix}/filters`));
    return this.#conv(x, w, prefix, stride, 1, this.#weight(`${prefix}/bias`).data as Float32Array);
  }

  /** separableConv2d(x, depthwise, pointwise, stride, "same") + bias. */
  separable(x: Flow, prefix: string, stride: number): Flow {
    const dw = depthwiseToOihw(this.#weight(`${prefix}/depthwise_filter`));
    if (dw.dims[0] !== x.channels) {
      throw new RangeError(
        `${prefix}: depthwise filter has ${dw.dims[0]} channels, input ${x.channels}`,
      );
    }
    const depthwise = this.#conv(x, dw, `${prefix}/depthwise`, stride, x.channels);
    const pw = hwioToOihw(this.#weight(`${prefix}/pointwise_filter`));
    const bias = this.#weight(`${prefix}/bias`).data as Float32Array;
    return this.#conv(depthwise, pw, `${prefix}/pointwise`, 1, 1, bias);
  }

  #relu(x: Flow): Flow {
    return { ...x, name: this.g.op("Relu", [x.name]) };
  }

  #add(a: Flow, b: Flow): Flow {
    return { ...a, name: this.g.op("Add", [a.name, b.name]) };
  }

  /** face-api's denseBlock4 with isScaleDown = true. */
  denseBlock4(x: Flow, prefix: string, isFirstLayer: boolean): Flow {
    const out1 = this.#relu(
      isFirstLayer ? this.conv(x, `${prefix}/conv0`, 2) : this.separable(x, `${prefix}/conv0`, 2),
    );
    const out2 = this.separable(out1, `${prefix}/conv1`, 1);
    const in3 = this.#relu(this.#add(out1, out2));
    const out3 = this.separable(in3, `${prefix}/conv2`, 1);
    const in4 = this.#relu(this.#add(out1, this.#add(out2, out3)));
    const out4 = this.separable(in4, `${prefix}/conv3`, 1);
    return this.#relu(this.#add(out1, this.#add(out2, this.#add(out3, out4))));
  }
}

/**
 * Builds the 68-point landmark net's ONNX model from face-api's tfjs weights.
 *
 * @param dir folder with `face_landmark_68_model-weights_manifest.json` and its .bin
 * @returns the model; input `input` [N, 3, 112, 112], output `landmarks` [N, 136] (raw net
 *   output: x0, y0, x1, y1, ... relative to the padded square)
 * @throws {Deno.errors.NotFound} when the weights are not installed
 * @throws {RangeError} when a weight is missing or shaped unlike face-api's net
 *
 * @example
 * ```ts
 * const model = await convertFaceLandmark68();
 * await Deno.writeFile("face_landmark_68.onnx", model.onnx);
 * ```
 */
export async function convertFaceLandmark68(
  dir: URL = FACE_API_MODEL_DIR,
): Promise<ConvertedModel> {
  const weights = await loadTfjsWeights(faceLandmark68Converter.weights, dir);
  const net = new LandmarkGraph(weights);
  const { g } = net;
  const size = FACE_LANDMARK_68_INPUT_SIZE;
  let x: Flow = {
    name: g.input(FACE_LANDMARK_68_INPUT.name, ["N", 3, size, size]),
    channels: 3,
    side: size,
  };
  x = net.denseBlock4(x, "dense0", true);
  x = net.denseBlock4(x, "dense1", false);
  x = net.denseBlock4(x, "dense2", false);
  x = net.denseBlock4(x, "dense3", false);
  // tf.avgPool(out, [7, 7], [2, 2], "valid") on the 7×7 map: one window, the mean.
  if (x.side !== 7) throw new RangeError(`Landmark features are ${x.side}x${x.side}, expected 7x7`);
  const pooled = g.op("AveragePool", [x.name], { kernel_shape: [7, 7], strides: [2, 2] });
  const flat = g.op("Flatten", [pooled], { axis: 1 });

  const fcW = requireWeight(weights, "fc/weights");
  const fcB = requireWeight(weights, "fc/bias");
  if (fcW.shape[0] !== x.channels || fcW.shape[1] !== LANDMARK_VALUES) {
    throw new RangeError(
      `fc/weights is [${fcW.shape}], expected [${x.channels}, ${LANDMARK_VALUES}]`,
    );
  }
  const product = g.op("MatMul", [flat, g.constant("fc/W", fcW.data as Float32Array, fcW.shape)]);
  const raw = g.op("Add", [product, g.constant("fc/B", fcB.data as Float32Array, fcB.shape)]);
  const outputs = [{ name: "landmarks", dims: ["N", LANDMARK_VALUES] }] as const;
  g.output(raw, outputs[0].name, outputs[0].dims);

  return {
    id: "face_landmark_68",
    onnx: g.toBytes({
      source: SOURCE,
      converter: `face_landmark_68 v${faceLandmark68Converter.version}`,
    }),
    input: FACE_LANDMARK_68_INPUT,
    outputs,
    source: SOURCE,
    extra: { padToSquare: "centered" },
  };
}

/** The converter `deno task model:build` runs for the landmark net. */
export const faceLandmark68Converter: Converter = {
  id: "face_landmark_68",
  version: 1,
  weights: "face_landmark_68_model",
  convert: () => convertFaceLandmark68(),
};
