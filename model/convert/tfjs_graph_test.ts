import assert from "node:assert/strict";
import {
  referenceGraphFromParts,
  runReferenceGraph,
  useTfjsBackend,
} from "../../testing/tfjs_graph_reference.ts";
import { createSession } from "../runtime/session.ts";
import {
  convertTfjsGraph,
  type TfAttr,
  TfjsGraphError,
  type TfjsGraphModel,
  type TfNode,
} from "./tfjs_graph.ts";
import type { Weight } from "./tfjs_weights.ts";

// Tiny graphs, so float32 accumulation order moves results by a few ULPs at most.
const DIFF_MAX = 1e-5;

const str = (s: string): TfAttr => ({ s: btoa(s) });
const ints = (xs: readonly number[]): TfAttr => ({ list: { i: xs.map(String) } });
const strs = (xs: readonly string[]): TfAttr => ({ list: { s: xs.map((s) => btoa(s)) } });
const bool = (b: boolean): TfAttr => ({ b });

/** A seeded uniform source in [-1, 1) (Park–Miller), so failures replay. */
function uniform(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647 * 2 - 1;
}

/** A graph under construction: nodes plus the weights its Const nodes name. */
class TestGraph {
  readonly nodes: TfNode[] = [];
  readonly weights = new Map<string, Weight>();
  readonly #random = uniform(7);

  constructor(readonly inputShape: readonly number[]) {
    this.nodes.push({
      name: "input",
      op: "Placeholder",
      attr: {
        dtype: { type: "DT_FLOAT" },
        shape: { shape: { dim: inputShape.map((d) => ({ size: String(d) })) } },
      },
    });
  }

  node(name: string, op: string, input: string[], attr: Record<string, TfAttr> = {}): string {
    this.nodes.push({ name, op, input, attr: { T: { type: "DT_FLOAT" }, ...attr } });
    return name;
  }

  floats(name: string, shape: number[], values?: number[]): string {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(values ?? Array.from({ length: count }, this.#random));
    return this.#const(name, shape, data, "DT_FLOAT");
  }

  int32s(name: string, shape: number[], values: number[]): string {
    return this.#const(name, shape, Int32Array.from(values), "DT_INT32");
  }

  #const(name: string, shape: number[], data: Float32Array | Int32Array, type: string): string {
    this.weights.set(name, { name, shape, data });
    this.nodes.push({ name, op: "Const", attr: { dtype: { type } } });
    return name;
  }

  model(): TfjsGraphModel {
    return {
      json: { modelTopology: { node: this.nodes }, weightsManifest: [] },
      weights: this.weights,
    };
  }
}

/** Converts the graph, runs it on onnxruntime-web and on tfjs-cpu, returns max |diff| per output. */
async function compare(graph: TestGraph, seed = 1): Promise<number[]> {
  const converted = convertTfjsGraph(graph.model());
  const tf = await useTfjsBackend("cpu");
  const reference = await referenceGraphFromParts(graph.model().json, graph.weights);
  const [, h, w, c] = graph.inputShape;
  const random = uniform(seed);
  const nhwc = Float32Array.from({ length: h * w * c }, random);
  const nchw = new Float32Array(nhwc.length);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) nchw[k * h * w + p] = nhwc[p * c + k];
  const expected = runReferenceGraph(reference, { data: nhwc, shape: graph.inputShape });
  reference.dispose();
  assert.equal(tf.getBackend(), "cpu");
  const session = await createSession(converted.onnx);
  try {
    const actual = await session.run({ input: { data: nchw, dims: converted.inputs[0].dims } });
    assert.equal(converted.outputs.length, expected.length);
    return converted.outputs.map((o, i) => {
      const got = actual[o.name];
      assert.deepEqual(got.dims, expected[i].shape, `output ${o.name} shape`);
      let diff = 0;
      for (let j = 0; j < got.data.length; j++) {
        diff = Math.max(diff, Math.abs(got.data[j] - expected[i].data[j]));
      }
      return diff;
    });
  } finally {
    await session.release();
  }
}

function assertClose(diffs: number[]) {
  for (const d of diffs) assert.ok(d <= DIFF_MAX, `max |diff| ${diffs.join(", ")}`);
}

const NHWC = str("NHWC");

function fusedConv(
  g: TestGraph,
  name: string,
  x: string,
  filterShape: number[],
  options: {
    strides?: number;
    padding?: string;
    explicit?: number[];
    dilation?: number;
    fused?: string[];
    alpha?: number;
  },
): string {
  const fused = options.fused ?? ["BiasAdd"];
  const args = [g.floats(`${name}/bias`, [filterShape[3]])];
  if (fused.includes("Prelu")) args.push(g.floats(`${name}/alpha`, [filterShape[3]]));
  const s = options.strides ?? 1, d = options.dilation ?? 1;
  return g.node(name, "_FusedConv2D", [x, g.floats(`${name}/filter`, filterShape), ...args], {
    strides: ints([1, s, s, 1]),
    dilations: ints([1, d, d, 1]),
    padding: str(options.padding ?? "SAME"),
    explicit_paddings: ints(options.explicit ?? []),
    data_format: NHWC,
    fused_ops: strs(fused),
    num_args: { i: String(args.length) },
    epsilon: { f: 0 },
    ...(options.alpha === undefined ? {} : { leakyrelu_alpha: { f: options.alpha } }),
  });
}

Deno.test("convertTfjsGraph matches tfjs on _FusedConv2D with SAME padding and stride 2 (odd and even sizes)", async () => {
  for (const size of [7, 8]) {
    const g = new TestGraph([1, size, size, 3]);
    fusedConv(g, "conv", "input", [3, 3, 3, 5], { strides: 2, fused: ["BiasAdd", "Relu"] });
    assertClose(await compare(g));
  }
});

Deno.test("convertTfjsGraph matches tfjs on fused Relu6 / Prelu / LeakyRelu, dilation, EXPLICIT padding, Conv2D + BiasAdd", async () => {
  const g = new TestGraph([1, 9, 9, 2]);
  const a = fusedConv(g, "a", "input", [3, 3, 2, 4], { dilation: 2, fused: ["BiasAdd", "Relu6"] });
  const b = fusedConv(g, "b", a, [3, 3, 4, 4], {
    padding: "EXPLICIT",
    explicit: [0, 0, 2, 0, 1, 3, 0, 0],
    strides: 2,
    fused: ["BiasAdd", "Prelu"],
  });
  const c = fusedConv(g, "c", b, [1, 1, 4, 3], { padding: "VALID" });
  const d = fusedConv(g, "d", c, [3, 3, 3, 3], { fused: ["BiasAdd", "LeakyRelu"], alpha: 0.3 });
  const plain = g.node("e", "Conv2D", [d, g.floats("e/filter", [2, 2, 3, 2])], {
    strides: ints([1, 1, 1, 1]),
    dilations: ints([1, 1, 1, 1]),
    padding: str("SAME"),
    data_format: NHWC,
  });
  g.node("e/bias", "BiasAdd", [plain, g.floats("e/b", [2])], { data_format: NHWC });
  assertClose(await compare(g));
});

Deno.test("convertTfjsGraph matches tfjs on depthwise convs (multiplier 2, SAME stride 2, fused bias)", async () => {
  const g = new TestGraph([1, 9, 9, 3]);
  const dw = g.node("dw", "DepthwiseConv2dNative", ["input", g.floats("dw/filter", [3, 3, 3, 2])], {
    strides: ints([1, 2, 2, 1]),
    dilations: ints([1, 1, 1, 1]),
    padding: str("SAME"),
    data_format: NHWC,
  });
  g.node("fdw", "FusedDepthwiseConv2dNative", [
    dw,
    g.floats("fdw/filter", [5, 5, 6, 1]),
    g.floats("fdw/bias", [6]),
  ], {
    strides: ints([1, 1, 1, 1]),
    dilations: ints([1, 1, 1, 1]),
    padding: str("SAME"),
    data_format: NHWC,
    fused_ops: strs(["BiasAdd"]),
    num_args: { i: "1" },
  });
  assertClose(await compare(g));
});

Deno.test("convertTfjsGraph matches tfjs on an explicit Pad, a VALID conv, MaxPool SAME on an odd size and broadcast AddV2 / Mul / Sub, Sigmoid", async () => {
  const g = new TestGraph([1, 7, 7, 4]);
  const padded = g.node("pad", "Pad", [
    "input",
    g.int32s("pad/p", [4, 2], [0, 0, 1, 2, 2, 0, 0, 3]),
  ], {
    Tpaddings: { type: "DT_INT32" },
  });
  const conv = fusedConv(g, "conv", padded, [3, 3, 7, 4], { padding: "VALID" });
  const pool = g.node("pool", "MaxPool", [conv], {
    ksize: ints([1, 2, 2, 1]),
    strides: ints([1, 2, 2, 1]),
    padding: str("SAME"),
    data_format: NHWC,
  });
  const pool3 = g.node("pool3", "MaxPool", ["input"], {
    ksize: ints([1, 3, 3, 1]),
    strides: ints([1, 2, 2, 1]),
    padding: str("SAME"),
    data_format: NHWC,
  });
  const sum = g.node("sum", "AddV2", [pool, pool3]);
  g.node("out", "Relu", [g.node("bias", "AddV2", [sum, g.floats("b", [4])])]);
  const scaled = g.node("scaled", "Mul", [g.floats("s", [1, 4]), pool3]);
  g.node("gate", "Sigmoid", [g.node("diff", "Sub", [scaled, pool])]);
  assertClose(await compare(g));
});

Deno.test("convertTfjsGraph matches tfjs on ResizeBilinear (half-pixel, align-corners, asymmetric; up and down)", async () => {
  const cases: [string, Record<string, TfAttr>, number[]][] = [
    ["half", { half_pixel_centers: bool(true), align_corners: bool(false) }, [12, 9]],
    ["corners", { half_pixel_centers: bool(false), align_corners: bool(true) }, [11, 4]],
    ["plain", { half_pixel_centers: bool(false), align_corners: bool(false) }, [3, 13]],
  ];
  for (const [name, attr, size] of cases) {
    const g = new TestGraph([1, 6, 5, 2]);
    g.node(name, "ResizeBilinear", ["input", g.int32s(`${name}/size`, [2], size)], attr);
    assertClose(await compare(g));
  }
});

Deno.test("convertTfjsGraph matches tfjs on DepthToSpace and ConcatV2 along channels", async () => {
  const g = new TestGraph([1, 3, 4, 8]);
  const d2s = g.node("d2s", "DepthToSpace", ["input"], {
    block_size: { i: "2" },
    data_format: NHWC,
  });
  const up = g.node("up", "ResizeBilinear", ["input", g.int32s("up/size", [2], [6, 8])], {
    half_pixel_centers: bool(true),
    align_corners: bool(false),
  });
  g.node("cat", "ConcatV2", [d2s, up, g.int32s("cat/axis", [], [-1])], { N: { i: "2" } });
  assertClose(await compare(g));
});

Deno.test("convertTfjsGraph folds Shape → StridedSlice → Pack → Reshape and concatenates the heads in tfjs's order", async () => {
  const g = new TestGraph([1, 4, 4, 3]);
  const heads = [["a", 2], ["b", 4]].map(([name, anchors]) => {
    const conv = fusedConv(g, `${name}/conv`, "input", [1, 1, 3, 3 * Number(anchors)], {});
    const shape = g.node(`${name}/shape`, "Shape", [conv], { out_type: { type: "DT_INT32" } });
    const batch = g.node(`${name}/batch`, "StridedSlice", [
      shape,
      g.int32s(`${name}/begin`, [1], [0]),
      g.int32s(`${name}/end`, [1], [1]),
      g.int32s(`${name}/strides`, [1], [1]),
    ], {
      shrink_axis_mask: { i: "1" },
      begin_mask: { i: "0" },
      end_mask: { i: "0" },
      ellipsis_mask: { i: "0" },
      new_axis_mask: { i: "0" },
      Index: { type: "DT_INT32" },
    });
    const target = g.node(`${name}/pack`, "Pack", [
      batch,
      g.int32s(`${name}/minus1`, [], [-1]),
      g.int32s(`${name}/three`, [], [3]),
    ], { N: { i: "3" }, axis: { i: "0" }, T: { type: "DT_INT32" } });
    return g.node(`${name}/reshape`, "Reshape", [conv, target], {
      Tshape: { type: "DT_INT32" },
    });
  });
  g.node("cat", "ConcatV2", [...heads, g.int32s("cat/axis", [], [1])], { N: { i: "2" } });
  const converted = convertTfjsGraph(g.model());
  assert.deepEqual(converted.outputs.map((o) => [o.tfName, o.dims]), [["cat", [1, 96, 3]]]);
  assert.equal(converted.opCounts.Shape, 2);
  assertClose(await compare(g));
});

Deno.test("convertTfjsGraph names the op and the node it cannot convert", () => {
  const g = new TestGraph([1, 4, 4, 3]);
  g.node("weird/node", "Softplus", ["input"]);
  assert.throws(
    () => convertTfjsGraph(g.model()),
    (e) =>
      e instanceof TfjsGraphError && /"weird\/node" \(Softplus\): unsupported op/.test(e.message),
  );
  const dynamic = new TestGraph([1, -1, -1, 3]);
  dynamic.node("r", "Relu", ["input"]);
  assert.throws(
    () => convertTfjsGraph(dynamic.model()),
    /"input" \(Placeholder\): needs a static shape/,
  );
});

Deno.test("convertTfjsGraph transposes an NHWC input once and counts conv multiply-accumulates", () => {
  const g = new TestGraph([1, 8, 8, 3]);
  const a = fusedConv(g, "a", "input", [3, 3, 3, 4], { strides: 2 });
  fusedConv(g, "b", a, [1, 1, 4, 2], {});
  const nchw = convertTfjsGraph(g.model());
  const nhwc = convertTfjsGraph(g.model(), { inputLayout: "nhwc", rename: { input: "x", b: "y" } });
  assert.deepEqual(nchw.inputs[0].dims, [1, 3, 8, 8]);
  assert.deepEqual(nhwc.inputs.map((i) => [i.name, i.dims]), [["x", [1, 8, 8, 3]]]);
  assert.deepEqual(nhwc.outputs.map((o) => [o.name, o.dims]), [["y", [1, 4, 4, 2]]]);
  assert.equal(nhwc.nodeCount, nchw.nodeCount + 1); // the one input Transpose
  assert.equal(nchw.convMacs, 4 * 4 * 4 * 3 * 3 * 3 + 4 * 4 * 2 * 4);
});
