/**
 * A converter from tfjs graph models (`model.json`: a TensorFlow GraphDef topology plus a weights
 * manifest and its `.bin` files) to ONNX, written through `../onnx/graph_builder.ts`.
 *
 * General, but only for the ops the detectors we evaluated need (see {@linkcode SUPPORTED_OPS});
 * any other op is a {@linkcode TfjsGraphError} naming the op and the node. Shapes are static: an
 * unknown batch dimension is fixed to 1, and every shape computation (`Shape` → `StridedSlice` →
 * `Pack` → `Reshape`, `ConcatV2` of constants) is folded into constants at conversion time.
 *
 * Layout: TensorFlow is NHWC, onnxruntime's convolutions are NCHW. Every rank-4 value is kept
 * NCHW inside the graph (a graph input is declared NCHW, or transposed once when it is NHWC);
 * only a rank-changing op (`Reshape`) or a graph output sees the NHWC order tfjs has, through one
 * `Transpose`. So the outputs equal tfjs's, in tfjs's order and shapes.
 * @module
 */
import { float, GraphBuilder } from "../onnx/graph_builder.ts";
import { decodeWeightGroups, type ManifestGroup, type Weight } from "./tfjs_weights.ts";

/** A TensorFlow `AttrValue` as tfjs's model.json spells it (64-bit ints are strings). */
export interface TfAttr {
  readonly s?: string;
  readonly i?: string | number;
  readonly f?: number;
  readonly b?: boolean;
  readonly type?: string;
  readonly list?: {
    readonly s?: readonly string[];
    readonly i?: readonly (string | number)[];
    readonly f?: readonly number[];
  };
  readonly shape?: { readonly dim?: readonly { readonly size: string | number }[] };
}

/** A TensorFlow `NodeDef`. */
export interface TfNode {
  readonly name: string;
  readonly op: string;
  readonly input?: readonly string[];
  readonly attr?: Readonly<Record<string, TfAttr>>;
}

/** A `SignatureDef` as tfjs stores it: entries keyed by signature name, `name` is `node:index`. */
export interface TfSignature {
  readonly inputs?: Readonly<Record<string, { readonly name: string }>>;
  readonly outputs?: Readonly<Record<string, { readonly name: string }>>;
}

/** The parts of a tfjs graph model's `model.json` the converter reads. */
export interface TfjsGraphModelJson {
  readonly format?: string;
  readonly modelTopology: { readonly node: readonly TfNode[] };
  readonly weightsManifest: readonly ManifestGroup[];
  readonly signature?: TfSignature;
  readonly userDefinedMetadata?: { readonly signature?: TfSignature };
}

/** A graph model with its weights decoded. */
export interface TfjsGraphModel {
  readonly json: TfjsGraphModelJson;
  /** Decoded weights (the graph's `Const` nodes), by node name. */
  readonly weights: ReadonlyMap<string, Weight>;
}

/** Options for {@linkcode convertTfjsGraph}. */
export interface TfjsGraphOptions {
  /** The ONNX graph's name. @default {"tfjs_graph"} */
  readonly name?: string;
  /**
   * Layout of rank-4 graph inputs: `nchw` (onnxruntime's, no transpose in the graph) or `nhwc`
   * (tfjs's; one `Transpose` after the input).
   * @default {"nchw"}
   */
  readonly inputLayout?: "nchw" | "nhwc";
  /** ONNX names of graph inputs and outputs by TF node name; others keep the TF name. */
  readonly rename?: Readonly<Record<string, string>>;
  /** Written into the model's `metadata_props`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A graph input or output of the converted model. */
export interface ConvertedValue {
  /** Its name in the ONNX graph. */
  readonly name: string;
  /** The TF node it comes from. */
  readonly tfName: string;
  /** ONNX dims (an `nchw` input is [1, C, H, W]; outputs have tfjs's shape). */
  readonly dims: readonly number[];
}

/** What {@linkcode convertTfjsGraph} returns. */
export interface ConvertedGraph {
  readonly onnx: Uint8Array;
  readonly inputs: readonly ConvertedValue[];
  /** In tfjs's order (`GraphModel.outputNodes`). */
  readonly outputs: readonly ConvertedValue[];
  readonly nodeCount: number;
  /** Multiply-accumulates of the convolutions per run (FLOPs ≈ 2 × this). */
  readonly convMacs: number;
  /** How many nodes of each TF op the outputs depend on. */
  readonly opCounts: Readonly<Record<string, number>>;
}

/** A graph the converter cannot express: the message names the node and op. */
export class TfjsGraphError extends Error {
  /**
   * @param node the TF node's name
   * @param op its op
   * @param reason what is wrong
   */
  constructor(readonly node: string, readonly op: string, reason: string) {
    super(`tfjs graph node "${node}" (${op}): ${reason}`);
    this.name = "TfjsGraphError";
  }
}

/** The TF ops {@linkcode convertTfjsGraph} converts. */
export const SUPPORTED_OPS: readonly string[] = [
  "Placeholder",
  "Const",
  "Identity",
  "StopGradient",
  "Snapshot",
  "_FusedConv2D",
  "Conv2D",
  "DepthwiseConv2dNative",
  "FusedDepthwiseConv2dNative",
  "BiasAdd",
  "AddV2",
  "Add",
  "Sub",
  "Mul",
  "Relu",
  "Relu6",
  "Sigmoid",
  "MaxPool",
  "Pad",
  "Reshape",
  "ConcatV2",
  "ResizeBilinear",
  "DepthToSpace",
  "Shape",
  "StridedSlice",
  "Pack",
];

/**
 * Reads a tfjs graph model from disk.
 *
 * @param jsonUrl the `model.json` (its weights manifest's paths are relative to its folder)
 * @returns the topology and decoded weights
 * @throws {Deno.errors.NotFound} when a file is missing
 * @throws {TypeError} when the file is not a tfjs graph model
 */
export async function loadTfjsGraphModel(jsonUrl: URL): Promise<TfjsGraphModel> {
  const json = JSON.parse(await Deno.readTextFile(jsonUrl)) as TfjsGraphModelJson;
  if (!Array.isArray(json?.modelTopology?.node) || !Array.isArray(json.weightsManifest)) {
    throw new TypeError(
      `${jsonUrl.pathname} is not a tfjs graph model (needs modelTopology.node and weightsManifest)`,
    );
  }
  const weights = await decodeWeightGroups(
    jsonUrl.pathname,
    json.weightsManifest,
    new URL(".", jsonUrl),
  );
  return { json, weights };
}

/** A value whose contents are known at conversion time (weights, folded shape arithmetic). */
interface ConstValue {
  readonly kind: "const";
  /** The TF node it is, when it is a weight. */
  readonly label?: string;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** A value computed by the ONNX graph. Rank-4 values are stored NCHW when `nchw`. */
interface TensorValue {
  readonly kind: "tensor";
  readonly name: string;
  /** The shape tfjs sees (NHWC for rank 4). */
  readonly shape: readonly number[];
  readonly nchw: boolean;
}

type Value = ConstValue | TensorValue;

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
/** Where NHWC axis i lives in NCHW. */
const NHWC_AXIS_IN_NCHW = [0, 2, 3, 1];

const decoder = new TextDecoder();

function attrString(node: TfNode, key: string): string | undefined {
  const s = node.attr?.[key]?.s;
  return s === undefined
    ? undefined
    : decoder.decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));
}

function attrInt(node: TfNode, key: string, fallback: number): number {
  const i = node.attr?.[key]?.i;
  return i === undefined ? fallback : Number(i);
}

function attrInts(node: TfNode, key: string): number[] {
  return (node.attr?.[key]?.list?.i ?? []).map(Number);
}

function attrStrings(node: TfNode, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map((s) =>
    decoder.decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)))
  );
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Splits `"name:1"` / `"^name"` into the node name and output index. */
function parseInput(input: string): { node: string; index: number; control: boolean } {
  const control = input.startsWith("^");
  const bare = control ? input.slice(1) : input;
  const colon = bare.lastIndexOf(":");
  if (colon > 0 && /^\d+$/.test(bare.slice(colon + 1))) {
    return { node: bare.slice(0, colon), index: Number(bare.slice(colon + 1)), control };
  }
  return { node: bare, index: 0, control };
}

/** TF's output size and (before, after) padding for one spatial axis of a conv or pool. */
function spatialPads(
  padding: string,
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  explicit: readonly [number, number],
): { out: number; pads: [number, number] } {
  const span = (kernel - 1) * dilation + 1;
  if (padding === "SAME") {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + span - inSize, 0);
    const before = Math.floor(total / 2);
    return { out, pads: [before, total - before] };
  }
  const pads: [number, number] = padding === "EXPLICIT" ? [...explicit] : [0, 0];
  return { out: Math.floor((inSize + pads[0] + pads[1] - span) / stride) + 1, pads };
}

/** Permutes an NHWC-shaped constant (rank ≤ 4, right-aligned as broadcasting does) to NCHW. */
function constToNchw(c: ConstValue): ConstValue {
  const shape = [...Array(4 - c.shape.length).fill(1), ...c.shape];
  const [n, h, w, ch] = shape;
  const out = new (c.data.constructor as Float32ArrayConstructor)(c.data.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < ch; k++) {
          out[((b * ch + k) * h + y) * w + x] = c.data[((b * h + y) * w + x) * ch + k];
        }
      }
    }
  }
  return { kind: "const", shape: [n, ch, h, w], data: out };
}

function broadcastShape(a: readonly number[], b: readonly number[], node: TfNode): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new TfjsGraphError(node.name, node.op, `shapes [${a}] and [${b}] do not broadcast`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/** Stacks or concatenates constants along `axis` (`stack` inserts a new axis). */
function joinConsts(parts: readonly ConstValue[], axis: number, stack: boolean): ConstValue {
  const shape0 = stack
    ? [...parts[0].shape.slice(0, axis), 1, ...parts[0].shape.slice(axis)]
    : parts[0].shape;
  const outer = sizeOf(shape0.slice(0, axis));
  const blocks = parts.map((p) => p.data.length / outer);
  const Ctor = parts[0].data.constructor as Float32ArrayConstructor;
  const data = new Ctor(blocks.reduce((a, b) => a + b, 0) * outer);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    parts.forEach((p, i) => {
      data.set(p.data.subarray(o * blocks[i], (o + 1) * blocks[i]), at);
      at += blocks[i];
    });
  }
  const shape = [...shape0];
  shape[axis] = stack ? parts.length : parts.reduce((n, p) => n + p.shape[axis], 0);
  return { kind: "const", shape, data };
}

/** TF `StridedSlice` on a constant (no ellipsis or new axes). */
function stridedSliceConst(
  x: ConstValue,
  begin: readonly number[],
  end: readonly number[],
  strides: readonly number[],
  masks: { begin: number; end: number; shrink: number },
): ConstValue {
  const ranges: number[][] = [];
  const shape: number[] = [];
  x.shape.forEach((dim, i) => {
    if (i >= begin.length) {
      ranges.push(Array.from({ length: dim }, (_, k) => k));
      shape.push(dim);
      return;
    }
    const s = strides[i];
    const wrap = (v: number) => v < 0 ? v + dim : v;
    if (masks.shrink & (1 << i)) {
      ranges.push([wrap(begin[i])]);
      return;
    }
    const lo = s > 0 ? 0 : -1, hi = s > 0 ? dim : dim - 1;
    const clamp = (v: number) => Math.min(Math.max(v, lo), hi);
    const b = masks.begin & (1 << i) ? (s > 0 ? 0 : dim - 1) : clamp(wrap(begin[i]));
    const e = masks.end & (1 << i) ? (s > 0 ? dim : -1) : clamp(wrap(end[i]));
    const idx: number[] = [];
    for (let k = b; s > 0 ? k < e : k > e; k += s) idx.push(k);
    ranges.push(idx);
    shape.push(idx.length);
  });
  const strideOf = x.shape.map((_, i) => sizeOf(x.shape.slice(i + 1)));
  const out: number[] = [];
  const walk = (axis: number, offset: number) => {
    if (axis === ranges.length) {
      out.push(x.data[offset]);
      return;
    }
    for (const k of ranges[axis]) walk(axis + 1, offset + k * strideOf[axis]);
  };
  walk(0, 0);
  const Ctor = x.data.constructor as Float32ArrayConstructor;
  return { kind: "const", shape, data: Ctor.from(out) };
}

/** Ops that pass a value through unchanged. */
const IDENTITY_OPS = new Set(["Identity", "StopGradient", "Snapshot"]);
/** Element-wise binary ops: TF op → ONNX op. */
const BINARY_OPS: Readonly<Record<string, string>> = {
  AddV2: "Add",
  Add: "Add",
  BiasAdd: "Add",
  Sub: "Sub",
  Mul: "Mul",
};

/**
 * Converts a tfjs graph model to ONNX.
 *
 * @param model the topology and weights ({@linkcode loadTfjsGraphModel})
 * @param options layout of the inputs, names, metadata
 * @returns the ONNX bytes and the inputs and outputs in tfjs's order
 * @throws {TfjsGraphError} for an op, attribute or dynamic shape the converter does not handle
 * @example
 * ```ts
 * const model = await loadTfjsGraphModel(new URL("file:///models/blazeface.json"));
 * const { onnx, outputs } = convertTfjsGraph(model, { inputLayout: "nchw" });
 * ```
 */
export function convertTfjsGraph(
  model: TfjsGraphModel,
  options: TfjsGraphOptions = {},
): ConvertedGraph {
  return new Converter(model, options).run();
}

class Converter {
  readonly #g: GraphBuilder;
  readonly #nodes = new Map<string, TfNode>();
  readonly #values = new Map<string, Value>();
  readonly #initializers = new Map<string, string>();
  readonly #transposed = new Map<string, string>();
  readonly #constKeys = new Map<ConstValue, string>();
  readonly #opCounts: Record<string, number> = {};
  readonly #inputs: ConvertedValue[] = [];
  #macs = 0;

  constructor(readonly model: TfjsGraphModel, readonly options: TfjsGraphOptions) {
    this.#g = new GraphBuilder(options.name ?? "tfjs_graph");
    for (const node of model.json.modelTopology.node) this.#nodes.set(node.name, node);
  }

  run(): ConvertedGraph {
    const outputs = this.#outputNodes().map((tfName) => {
      const value = this.#value(tfName);
      const name = this.options.rename?.[tfName] ?? tfName;
      this.#g.output(this.#plain(value), name, value.shape);
      return { name, tfName, dims: [...value.shape] };
    });
    return {
      onnx: this.#g.toBytes({ ...this.options.metadata }),
      inputs: this.#inputs,
      outputs,
      nodeCount: this.#g.nodeCount,
      convMacs: this.#macs,
      opCounts: this.#opCounts,
    };
  }

  /** tfjs's rule: the signature's outputs if it has any, else every node nothing consumes. */
  #outputNodes(): string[] {
    const json = this.model.json;
    const signature = json.userDefinedMetadata?.signature ?? json.signature;
    const named = Object.values(signature?.outputs ?? {}).map((o) => parseInput(o.name).node);
    if (named.length > 0) return named;
    const consumed = new Set<string>();
    for (const node of this.#nodes.values()) {
      for (const input of node.input ?? []) consumed.add(parseInput(input).node);
    }
    return [...this.#nodes.keys()].filter((name) => !consumed.has(name));
  }

  #value(tfName: string): Value {
    const known = this.#values.get(tfName);
    if (known) return known;
    const node = this.#nodes.get(tfName);
    if (!node) throw new TfjsGraphError(tfName, "?", "is referenced but not in the graph");
    const value = this.#convert(node);
    this.#opCounts[node.op] = (this.#opCounts[node.op] ?? 0) + 1;
    this.#values.set(tfName, value);
    return value;
  }

  /** The node's data inputs (control inputs dropped), converted. */
  #args(node: TfNode): Value[] {
    return (node.input ?? []).map(parseInput).filter((i) => !i.control).map((i) => {
      if (i.index !== 0) {
        throw new TfjsGraphError(node.name, node.op, `reads output ${i.index} of "${i.node}"`);
      }
      return this.#value(i.node);
    });
  }

  #const(node: TfNode, v: Value, what: string): ConstValue {
    if (v.kind !== "const") {
      throw new TfjsGraphError(node.name, node.op, `needs a constant ${what}`);
    }
    return v;
  }

  #convert(node: TfNode): Value {
    const fail = (reason: string): never => {
      throw new TfjsGraphError(node.name, node.op, reason);
    };
    const format = attrString(node, "data_format");
    if (format !== undefined && format !== "NHWC") fail(`data_format ${format} (only NHWC)`);
    if (node.op === "Placeholder") return this.#placeholder(node);
    if (node.op === "Const") return this.#constant(node);
    const args = this.#args(node);
    if (IDENTITY_OPS.has(node.op)) return args[0];
    if (node.op in BINARY_OPS) return this.#binary(node, BINARY_OPS[node.op], args[0], args[1]);
    switch (node.op) {
      case "Relu":
      case "Relu6":
      case "Sigmoid":
        return this.#unary(node, args[0], node.op);
      case "_FusedConv2D":
      case "Conv2D":
        return this.#conv(node, args, false);
      case "DepthwiseConv2dNative":
      case "FusedDepthwiseConv2dNative":
        return this.#conv(node, args, true);
      case "MaxPool":
        return this.#maxPool(node, args[0]);
      case "Pad":
        return this.#pad(node, args[0], this.#const(node, args[1], "paddings"));
      case "Reshape":
        return this.#reshape(node, args[0], this.#const(node, args[1], "shape"));
      case "ConcatV2":
        return this.#concat(node, args);
      case "ResizeBilinear":
        return this.#resizeBilinear(node, args[0], this.#const(node, args[1], "size"));
      case "DepthToSpace":
        return this.#depthToSpace(node, args[0]);
      case "Shape":
        return {
          kind: "const",
          shape: [args[0].shape.length],
          data: Int32Array.from(args[0].shape),
        };
      case "StridedSlice":
        return this.#stridedSlice(node, args);
      case "Pack": {
        const parts = args.map((a) => this.#const(node, a, "operand"));
        if (parts.some((p) => String(p.shape) !== String(parts[0].shape))) {
          fail(`operands of different shapes [${parts.map((p) => `[${p.shape}]`)}]`);
        }
        const axis = attrInt(node, "axis", 0);
        return joinConsts(parts, axis < 0 ? axis + parts[0].shape.length + 1 : axis, true);
      }
    }
    return fail(`unsupported op (supported: ${SUPPORTED_OPS.join(", ")})`);
  }

  #placeholder(node: TfNode): Value {
    const dims = (node.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
    const shape = dims.map((d, i) => (d < 0 && i === 0 ? 1 : d));
    if (shape.length === 0 || shape.some((d) => d < 0)) {
      throw new TfjsGraphError(node.name, node.op, `needs a static shape, has [${dims}]`);
    }
    const name = this.options.rename?.[node.name] ?? node.name;
    const nchw = shape.length === 4 && (this.options.inputLayout ?? "nchw") === "nchw";
    const onnxDims = nchw ? NHWC_TO_NCHW.map((a) => shape[a]) : shape;
    this.#g.input(name, onnxDims);
    this.#inputs.push({ name, tfName: node.name, dims: onnxDims });
    return { kind: "tensor", name, shape, nchw };
  }

  #constant(node: TfNode): Value {
    const w = this.model.weights.get(node.name);
    if (!w) throw new TfjsGraphError(node.name, node.op, "has no weight in the weights manifest");
    return { kind: "const", label: node.name, shape: w.shape, data: w.data };
  }

  /** An initializer for a constant, once per (constant, form). */
  #initializer(key: string, make: () => ConstValue): string {
    const known = this.#initializers.get(key);
    if (known) return known;
    const c = make();
    const name = this.#g.constant(key, c.data, c.shape);
    this.#initializers.set(key, name);
    return name;
  }

  /** A stable initializer name: the TF node's for weights, a counter for folded values. */
  #constKey(c: ConstValue): string {
    let key = this.#constKeys.get(c);
    if (!key) {
      key = c.label ?? `folded_${this.#constKeys.size}`;
      this.#constKeys.set(c, key);
    }
    return key;
  }

  /** The value in tfjs's own layout. */
  #plain(v: Value): string {
    if (v.kind === "const") return this.#initializer(this.#constKey(v), () => v);
    if (!v.nchw) return v.name;
    return this.#transpose(v.name, NCHW_TO_NHWC);
  }

  /** The value as NCHW (lower ranks are right-aligned to rank 4 first, as broadcasting does). */
  #nchw(v: Value): string {
    if (v.kind === "const") {
      return this.#initializer(`${this.#constKey(v)}_nchw`, () => constToNchw(v));
    }
    if (v.nchw) return v.name;
    let name = v.name;
    if (v.shape.length < 4) {
      const shape = [...Array(4 - v.shape.length).fill(1), ...v.shape];
      name = this.#g.op("Reshape", [name, this.#g.int64s(`${name}_as4d`, shape)]);
    }
    return this.#transpose(name, NHWC_TO_NCHW);
  }

  #transpose(name: string, perm: readonly number[]): string {
    const key = `${name}|${perm}`;
    let out = this.#transposed.get(key);
    if (!out) {
      out = this.#g.op("Transpose", [name], { perm: [...perm] });
      this.#transposed.set(key, out);
    }
    return out;
  }

  #unary(node: TfNode, x: Value, onnxOp: string): Value {
    if (x.kind === "const") {
      throw new TfjsGraphError(
        node.name,
        node.op,
        "constant folding of activations is not supported",
      );
    }
    const name = onnxOp === "Relu6" ? this.#relu6(x.name) : this.#g.op(onnxOp, [x.name]);
    return { ...x, name };
  }

  #relu6(x: string): string {
    const lo = this.#initializer("relu6_min", () => ({
      kind: "const",
      shape: [],
      data: new Float32Array([0]),
    }));
    const hi = this.#initializer("relu6_max", () => ({
      kind: "const",
      shape: [],
      data: new Float32Array([6]),
    }));
    return this.#g.op("Clip", [x, lo, hi]);
  }

  #binary(node: TfNode, onnxOp: string, a: Value, b: Value): Value {
    const shape = broadcastShape(a.shape, b.shape, node);
    if (a.kind === "const" && b.kind === "const") {
      throw new TfjsGraphError(
        node.name,
        node.op,
        "constant folding of arithmetic is not supported",
      );
    }
    const nchw = shape.length === 4 &&
      ((a.kind === "tensor" && a.nchw) || (b.kind === "tensor" && b.nchw));
    const name = nchw
      ? this.#g.op(onnxOp, [this.#nchw(a), this.#nchw(b)])
      : this.#g.op(onnxOp, [this.#plain(a), this.#plain(b)]);
    return { kind: "tensor", name, shape, nchw };
  }

  /** Conv2D / depthwise conv, with tfjs's fused bias and activation when present. */
  #conv(node: TfNode, args: Value[], depthwise: boolean): Value {
    const fail = (reason: string): never => {
      throw new TfjsGraphError(node.name, node.op, reason);
    };
    const [x, filterValue, ...extra] = args;
    const filter = this.#const(node, filterValue, "filter");
    if (x.shape.length !== 4) fail(`input has rank ${x.shape.length}, expected 4`);
    const [kh, kw, cin, m] = filter.shape;
    const [, h, w, c] = x.shape;
    if (c !== cin) fail(`input has ${c} channels, filter expects ${cin}`);
    const strides = attrInts(node, "strides");
    const dilations = attrInts(node, "dilations");
    const [sh, sw] = [strides[1] ?? 1, strides[2] ?? 1];
    const [dh, dw] = [dilations[1] ?? 1, dilations[2] ?? 1];
    const padding = attrString(node, "padding") ?? "VALID";
    const explicit = attrInts(node, "explicit_paddings");
    const ph = spatialPads(padding, h, kh, sh, dh, [explicit[2] ?? 0, explicit[3] ?? 0]);
    const pw = spatialPads(padding, w, kw, sw, dw, [explicit[4] ?? 0, explicit[5] ?? 0]);
    const cout = depthwise ? cin * m : m;
    const key = this.#constKey(filter);
    const weight = this.#initializer(`${key}_oihw`, () => ({
      kind: "const",
      shape: depthwise ? [cout, 1, kh, kw] : [cout, cin, kh, kw],
      data: depthwise ? depthwiseFilter(filter) : hwioFilter(filter),
    }));

    const fused = attrStrings(node, "fused_ops");
    const inputs = [this.#nchw(x), weight];
    let rest = fused;
    if (fused[0] === "BiasAdd") {
      const bias = this.#const(node, extra[0], "bias");
      if (bias.data.length !== cout) fail(`bias has ${bias.data.length} values, expected ${cout}`);
      inputs.push(this.#initializer(this.#constKey(bias), () => bias));
      rest = fused.slice(1);
    } else if (fused.length > 0) {
      fail(`fused ops [${fused}] (only BiasAdd first)`);
    }
    let y = this.#g.op("Conv", inputs, {
      kernel_shape: [kh, kw],
      strides: [sh, sw],
      dilations: [dh, dw],
      pads: [ph.pads[0], pw.pads[0], ph.pads[1], pw.pads[1]],
      group: depthwise ? cin : 1,
    });
    this.#macs += ph.out * pw.out * cout * kh * kw * (depthwise ? 1 : cin);
    if (rest.length > 1) fail(`fused ops [${fused}]`);
    const shape = [1, ph.out, pw.out, cout];
    switch (rest[0]) {
      case undefined:
        break;
      case "Relu":
        y = this.#g.op("Relu", [y]);
        break;
      case "Relu6":
        y = this.#relu6(y);
        break;
      case "Prelu": {
        const alpha = this.#const(node, extra[1], "PReLU alpha");
        y = this.#g.op("PRelu", [y, this.#nchw(alpha)]);
        break;
      }
      case "LeakyRelu":
        y = this.#g.op("LeakyRelu", [y], {
          alpha: float(node.attr?.leakyrelu_alpha?.f ?? 0.2),
        });
        break;
      default:
        fail(`fused activation ${rest[0]}`);
    }
    return { kind: "tensor", name: y, shape, nchw: true };
  }

  #maxPool(node: TfNode, x: Value): Value {
    if (x.shape.length !== 4) {
      throw new TfjsGraphError(node.name, node.op, `input has rank ${x.shape.length}`);
    }
    const [, kh, kw] = attrInts(node, "ksize");
    const [, sh, sw] = attrInts(node, "strides");
    const padding = attrString(node, "padding") ?? "VALID";
    const explicit = attrInts(node, "explicit_paddings");
    const ph = spatialPads(padding, x.shape[1], kh, sh, 1, [explicit[2] ?? 0, explicit[3] ?? 0]);
    const pw = spatialPads(padding, x.shape[2], kw, sw, 1, [explicit[4] ?? 0, explicit[5] ?? 0]);
    // TF ignores the padded cells (as if -inf); so does ONNX MaxPool.
    const y = this.#g.op("MaxPool", [this.#nchw(x)], {
      kernel_shape: [kh, kw],
      strides: [sh, sw],
      pads: [ph.pads[0], pw.pads[0], ph.pads[1], pw.pads[1]],
    });
    return { kind: "tensor", name: y, shape: [1, ph.out, pw.out, x.shape[3]], nchw: true };
  }

  #pad(node: TfNode, x: Value, paddings: ConstValue): Value {
    const rank = x.shape.length;
    if (paddings.data.length !== 2 * rank) {
      throw new TfjsGraphError(node.name, node.op, `paddings [${paddings.shape}] for rank ${rank}`);
    }
    const pairs = Array.from(
      { length: rank },
      (_, i) => [paddings.data[2 * i], paddings.data[2 * i + 1]],
    );
    if (pairs.flat().some((p) => p < 0)) {
      throw new TfjsGraphError(node.name, node.op, "negative paddings");
    }
    const shape = x.shape.map((d, i) => d + pairs[i][0] + pairs[i][1]);
    const nchw = rank === 4 && x.kind === "tensor" && x.nchw;
    const order = nchw ? NHWC_TO_NCHW : x.shape.map((_, i) => i);
    const pads = [...order.map((a) => pairs[a][0]), ...order.map((a) => pairs[a][1])];
    const y = this.#g.op("Pad", [
      nchw ? this.#nchw(x) : this.#plain(x),
      this.#g.int64s(`${node.name}/pads`, pads),
    ], { mode: "constant" });
    return { kind: "tensor", name: y, shape, nchw };
  }

  #reshape(node: TfNode, x: Value, target: ConstValue): Value {
    const dims = Array.from(target.data);
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = dims.map((d) => (d === -1 ? sizeOf(x.shape) / known : d));
    if (sizeOf(shape) !== sizeOf(x.shape) || !shape.every(Number.isInteger)) {
      throw new TfjsGraphError(node.name, node.op, `cannot reshape [${x.shape}] to [${dims}]`);
    }
    if (x.kind === "const") return { kind: "const", shape, data: x.data };
    const y = this.#g.op("Reshape", [this.#plain(x), this.#g.int64s(`${node.name}/shape`, shape)]);
    return { kind: "tensor", name: y, shape, nchw: false };
  }

  #concat(node: TfNode, args: Value[]): Value {
    const parts = args.slice(0, -1);
    const rank = parts[0].shape.length;
    const axisRaw = this.#const(node, args[args.length - 1], "axis").data[0];
    const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
    const other = (shape: readonly number[]) => shape.filter((_, i) => i !== axis).join();
    if (parts.some((p) => other(p.shape) !== other(parts[0].shape))) {
      throw new TfjsGraphError(
        node.name,
        node.op,
        `operands [${parts.map((p) => `[${p.shape}]`)}]`,
      );
    }
    if (parts.every((p) => p.kind === "const")) {
      return joinConsts(parts as ConstValue[], axis, false);
    }
    const shape = [...parts[0].shape];
    shape[axis] = parts.reduce((n, p) => n + p.shape[axis], 0);
    const nchw = rank === 4 && parts.some((p) => p.kind === "tensor" && p.nchw);
    const y = this.#g.op(
      "Concat",
      parts.map((p) => (nchw ? this.#nchw(p) : this.#plain(p))),
      { axis: nchw ? NHWC_AXIS_IN_NCHW[axis] : axis },
    );
    return { kind: "tensor", name: y, shape, nchw };
  }

  #resizeBilinear(node: TfNode, x: Value, size: ConstValue): Value {
    const alignCorners = node.attr?.align_corners?.b === true;
    const halfPixel = node.attr?.half_pixel_centers?.b === true;
    const [oh, ow] = Array.from(size.data);
    const [, , , c] = x.shape;
    // TF's three coordinate rules are ONNX's align_corners, half_pixel and asymmetric; both
    // clamp a source coordinate outside the image to its edge pixel.
    const mode = alignCorners ? "align_corners" : halfPixel ? "half_pixel" : "asymmetric";
    const y = this.#g.op("Resize", [
      this.#nchw(x),
      "",
      "",
      this.#g.int64s(`${node.name}/sizes`, [1, c, oh, ow]),
    ], { mode: "linear", coordinate_transformation_mode: mode });
    return { kind: "tensor", name: y, shape: [1, oh, ow, c], nchw: true };
  }

  #depthToSpace(node: TfNode, x: Value): Value {
    const block = attrInt(node, "block_size", 0);
    const [, h, w, c] = x.shape;
    if (block < 2 || c % (block * block) !== 0) {
      throw new TfjsGraphError(node.name, node.op, `block_size ${block} for ${c} channels`);
    }
    // TF's NHWC DepthToSpace takes channel (i·block + j)·C' + c: ONNX's "DCR" order.
    const y = this.#g.op("DepthToSpace", [this.#nchw(x)], { blocksize: block, mode: "DCR" });
    return {
      kind: "tensor",
      name: y,
      shape: [1, h * block, w * block, c / (block * block)],
      nchw: true,
    };
  }

  #stridedSlice(node: TfNode, args: Value[]): Value {
    const [x, begin, end, strides] = args;
    if (attrInt(node, "ellipsis_mask", 0) !== 0 || attrInt(node, "new_axis_mask", 0) !== 0) {
      throw new TfjsGraphError(node.name, node.op, "ellipsis_mask / new_axis_mask");
    }
    return stridedSliceConst(
      this.#const(node, x, "input (only shape arithmetic is folded)"),
      Array.from(this.#const(node, begin, "begin").data),
      Array.from(this.#const(node, end, "end").data),
      Array.from(this.#const(node, strides, "strides").data),
      {
        begin: attrInt(node, "begin_mask", 0),
        end: attrInt(node, "end_mask", 0),
        shrink: attrInt(node, "shrink_axis_mask", 0),
      },
    );
  }
}

/** TF conv filter HWIO → ONNX OIHW. */
function hwioFilter(f: ConstValue): Float32Array {
  const [h, w, i, o] = f.shape;
  const out = new Float32Array(f.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < i; c++) {
        for (let k = 0; k < o; k++) {
          out[((k * i + c) * h + y) * w + x] = f.data[((y * w + x) * i + c) * o + k];
        }
      }
    }
  }
  return out;
}

/** TF depthwise filter [H, W, C, M] → ONNX grouped-conv [C·M, 1, H, W] (output channel c·M + m). */
function depthwiseFilter(f: ConstValue): Float32Array {
  const [h, w, c, m] = f.shape;
  const out = new Float32Array(f.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        for (let j = 0; j < m; j++) {
          out[((k * m + j) * h + y) * w + x] = f.data[((y * w + x) * c + k) * m + j];
        }
      }
    }
  }
  return out;
}
