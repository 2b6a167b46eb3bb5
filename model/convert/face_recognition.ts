/**
 * Converts face-api's `FaceRecognitionNet` (dlib's ResNet-34-style face descriptor net, 150×150
 * RGB → 128 floats) to ONNX. The graph reproduces `faceRecognitionNet/FaceRecognitionNet.ts`,
 * `residualLayer.ts`, `convLayer.ts` and `scaleLayer.ts` of @vladmandic/face-api 1.7.15:
 *
 * - conv layer = conv2d + bias, then the scale layer `x * weights + biases`, then (mostly) ReLU.
 *   Bias and scale are per output channel and affine, so they are folded into the filter and bias
 *   here (in float64, rounded once); onnxruntime would fuse Conv+Mul+Add the same way.
 * - residual = relu(convNoRelu(conv(x)) + x), with TF "same" 3×3 convs (1 pixel each side).
 * - residualDown = the first conv at stride 2 with "valid" padding; the shortcut is a 2×2/2
 *   average pool, zero-padded in channels when the conv widens them, and the conv branch is
 *   zero-padded by a bottom row and right column when the pool comes out larger (8 → 3 vs 4).
 * - stem: 7×7/2 valid conv, 3×3/2 valid max pool; head: spatial mean, then `matMul(fc)`.
 *
 * Normalisation stays outside the graph, in the InputSpec: face-api subtracts the mean RGB
 * [122.782, 117.001, 104.298] and divides by 255 (not 256), which `toNetInput` reproduces bit for
 * bit in float32.
 * @module
 */
import { GraphBuilder } from "../onnx/graph_builder.ts";
import {
  FACE_API_MODEL_DIR,
  hwioToOihw,
  loadTfjsWeights,
  requireWeight,
  type Weight,
} from "./tfjs_weights.ts";
import type { ConvertedModel, Converter } from "./types.ts";
import type { InputSpec } from "../specs.ts";

/** The npm package the weights come from, for `ConvertedModel.source`. */
const SOURCE = "@vladmandic/face-api@1.7.15 model/face_recognition_model";
/** face-api's `FaceRecognitionNet.forwardInput` feeds 150×150 crops. */
export const FACE_RECOGNITION_INPUT_SIZE = 150;
/** Length of a face descriptor. */
const DESCRIPTOR_LENGTH = 128;

/** What the recognition net expects: face-api's mean RGB, then divide by 255. */
export const FACE_RECOGNITION_INPUT: InputSpec = {
  name: "input",
  dims: [1, 3, FACE_RECOGNITION_INPUT_SIZE, FACE_RECOGNITION_INPUT_SIZE],
  mean: [122.782, 117.001, 104.298],
  std: [255, 255, 255],
};

/** A tensor flowing through the graph, with the NCHW shape we need to decide paddings. */
interface Flow {
  readonly name: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Convolution output length for explicit padding. */
function convOut(length: number, kernel: number, stride: number, padTotal: number): number {
  return Math.floor((length + padTotal - kernel) / stride) + 1;
}

class RecognitionGraph {
  readonly g = new GraphBuilder("face_recognition");
  constructor(readonly weights: Map<string, Weight>) {}

  /** conv2d + bias + scale layer folded into one Conv, optionally followed by ReLU. */
  convLayer(
    x: Flow,
    prefix: string,
    stride: 1 | 2,
    relu: boolean,
    padding: "same" | "valid",
  ): Flow {
    const filters = requireWeight(this.weights, `${prefix}/conv/filters`);
    const bias = requireWeight(this.weights, `${prefix}/conv/bias`).data;
    const scaleW = requireWeight(this.weights, `${prefix}/scale/weights`).data;
    const scaleB = requireWeight(this.weights, `${prefix}/scale/biases`).data;
    const [kh, kw, cin, cout] = filters.shape;
    if (cin !== x.channels) {
      throw new RangeError(`${prefix}: filter takes ${cin} channels, input has ${x.channels}`);
    }
    const oihw = hwioToOihw(filters);
    const perOut = cin * kh * kw;
    const w = new Float32Array(oihw.data.length);
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      // (conv + bias) * s + beta = conv(w * s) + (bias * s + beta)
      const s = scaleW[o];
      for (let i = o * perOut; i < (o + 1) * perOut; i++) w[i] = oihw.data[i] * s;
      b[o] = bias[o] * s + scaleB[o];
    }
    const wName = this.g.constant(`${prefix}/W`, w, oihw.dims);
    const bName = this.g.constant(`${prefix}/B`, b, [cout]);
    // TF "same" at stride 1 with an odd kernel pads (k - 1) / 2 on every side.
    const pad = padding === "same" ? (kh - 1) / 2 : 0;
    if (padding === "same" && stride !== 1) {
      throw new RangeError(`${prefix}: "same" padding is only used at stride 1 in this net`);
    }
    let out = this.g.op("Conv", [x.name, wName, bName], {
      kernel_shape: [kh, kw],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
    if (relu) out = this.g.op("Relu", [out]);
    return {
      name: out,
      channels: cout,
      height: convOut(x.height, kh, stride, 2 * pad),
      width: convOut(x.width, kw, stride, 2 * pad),
    };
  }

  residual(x: Flow, prefix: string): Flow {
    const a = this.convLayer(x, `${prefix}/conv1`, 1, true, "same");
    const b = this.convLayer(a, `${prefix}/conv2`, 1, false, "same");
    const sum = this.g.op("Add", [b.name, x.name]);
    return { ...b, name: this.g.op("Relu", [sum]) };
  }

  residualDown(x: Flow, prefix: string): Flow {
    const a = this.convLayer(x, `${prefix}/conv1`, 2, true, "valid");
    let out = this.convLayer(a, `${prefix}/conv2`, 1, false, "same");
    let pooled: Flow = {
      name: this.g.op("AveragePool", [x.name], { kernel_shape: [2, 2], strides: [2, 2] }),
      channels: x.channels,
      height: Math.floor(x.height / 2),
      width: Math.floor(x.width / 2),
    };
    const padH = pooled.height - out.height;
    const padW = pooled.width - out.width;
    if (padH !== 0 || padW !== 0) {
      // face-api concatenates ONE zero row and ONE zero column; any other gap would fail there.
      if (padH !== 1 || padW !== 1) {
        throw new RangeError(
          `${prefix}: conv branch is ${out.height}x${out.width} but the shortcut pool is ` +
            `${pooled.height}x${pooled.width}; face-api only pads a gap of one row and column`,
        );
      }
      const pads = this.g.int64s(`${prefix}/pad_hw`, [0, 0, 0, 0, 0, 0, 1, 1]);
      out = {
        ...out,
        name: this.g.op("Pad", [out.name, pads]),
        height: pooled.height,
        width: pooled.width,
      };
    }
    if (pooled.channels !== out.channels) {
      // face-api concatenates zeros shaped like the pooled tensor: this doubles the channels.
      if (out.channels !== 2 * pooled.channels) {
        throw new RangeError(
          `${prefix}: conv gives ${out.channels} channels, pool ${pooled.channels}`,
        );
      }
      const pads = this.g.int64s(`${prefix}/pad_c`, [0, 0, 0, 0, 0, pooled.channels, 0, 0]);
      pooled = { ...pooled, name: this.g.op("Pad", [pooled.name, pads]), channels: out.channels };
    }
    const sum = this.g.op("Add", [pooled.name, out.name]);
    return { ...out, name: this.g.op("Relu", [sum]) };
  }
}

/**
 * Builds the recognition net's ONNX model from face-api's tfjs weights.
 *
 * @param dir folder with `face_recognition_model-weights_manifest.json` and its .bin
 * @returns the model; input `input` [N, 3, 150, 150], output `descriptor` [N, 128]
 * @throws {Deno.errors.NotFound} when the weights are not installed
 * @throws {RangeError} when a weight is missing or shaped unlike face-api's net
 *
 * @example
 * ```ts
 * const model = await convertFaceRecognition();
 * await Deno.writeFile("face_recognition.onnx", model.onnx);
 * ```
 */
export async function convertFaceRecognition(
  dir: URL = FACE_API_MODEL_DIR,
): Promise<ConvertedModel> {
  const weights = await loadTfjsWeights(faceRecognitionConverter.weights, dir);
  const net = new RecognitionGraph(weights);
  const { g } = net;
  const size = FACE_RECOGNITION_INPUT_SIZE;
  const input = g.input(FACE_RECOGNITION_INPUT.name, ["N", 3, size, size]);
  let x: Flow = { name: input, channels: 3, height: size, width: size };

  x = net.convLayer(x, "conv32_down", 2, true, "valid");
  x = {
    ...x,
    name: g.op("MaxPool", [x.name], { kernel_shape: [3, 3], strides: [2, 2] }),
    height: convOut(x.height, 3, 2, 0),
    width: convOut(x.width, 3, 2, 0),
  };
  for (const block of ["conv32_1", "conv32_2", "conv32_3"]) x = net.residual(x, block);
  x = net.residualDown(x, "conv64_down");
  for (const block of ["conv64_1", "conv64_2", "conv64_3"]) x = net.residual(x, block);
  x = net.residualDown(x, "conv128_down");
  for (const block of ["conv128_1", "conv128_2"]) x = net.residual(x, block);
  x = net.residualDown(x, "conv256_down");
  for (const block of ["conv256_1", "conv256_2"]) x = net.residual(x, block);
  // face-api runs its last block through residualDown although it is named like a plain one.
  x = net.residualDown(x, "conv256_down_out");

  const mean = g.op("GlobalAveragePool", [x.name]);
  const flat = g.op("Flatten", [mean], { axis: 1 });
  const fc = requireWeight(weights, "fc");
  if (fc.shape[0] !== x.channels || fc.shape[1] !== DESCRIPTOR_LENGTH) {
    throw new RangeError(`fc is [${fc.shape}], expected [${x.channels}, ${DESCRIPTOR_LENGTH}]`);
  }
  const fcName = g.constant("fc", fc.data as Float32Array, fc.shape);
  const descriptor = g.op("MatMul", [flat, fcName]);
  const outputs = [{ name: "descriptor", dims: ["N", DESCRIPTOR_LENGTH] }] as const;
  g.output(descriptor, outputs[0].name, outputs[0].dims);

  return {
    id: "face_recognition",
    onnx: g.toBytes({
      source: SOURCE,
      converter: `face_recognition v${faceRecognitionConverter.version}`,
    }),
    input: FACE_RECOGNITION_INPUT,
    outputs,
    source: SOURCE,
    extra: { padToSquare: "centered" },
  };
}

/** The converter `deno task model:build` runs for the recognition net. */
export const faceRecognitionConverter: Converter = {
  id: "face_recognition",
  version: 1,
  weights: "face_recognition_model",
  convert: () => convertFaceRecognition(),
};
