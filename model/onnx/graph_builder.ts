/**
 * A small ONNX graph builder: collect inputs, initializers and nodes, then serialise a
 * `ModelProto` with protobufjs. Only what our converters need, but nothing in it is
 * specific to one network.
 * @module
 */
import protobuf from "protobufjs";
import { ONNX_PROTO } from "./_onnx_proto.ts";

/** ONNX `TensorProto.DataType` codes for the element types we write. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** ONNX IR version 8 pairs with opset 17 (ONNX 1.12), well inside onnxruntime 1.30. */
const IR_VERSION = 8;
/** The default-domain opset the builder declares. */
export const OPSET_VERSION = 17;

/** A float attribute; plain numbers are written as ints, so floats must say so. */
export interface FloatAttr {
  readonly float: number;
}
/** A list-of-floats attribute. */
export interface FloatsAttr {
  readonly floats: readonly number[];
}
/** A constant tensor attribute (for `Constant` nodes). */
export interface TensorAttr {
  readonly tensor: TensorData;
}
/** Any attribute value the builder can write. */
export type Attr = number | readonly number[] | string | FloatAttr | FloatsAttr | TensorAttr;

/** Marks a number as a float attribute. */
export function float(value: number): FloatAttr {
  return { float: value };
}

/** Tensor contents plus dimensions; the typed array decides the ONNX element type. */
export interface TensorData {
  readonly data: Float32Array | Int32Array | BigInt64Array;
  readonly dims: readonly number[];
}

/** A graph input or output: name, element type and dimensions (a string is a symbolic dim). */
interface ValueInfo {
  name: string;
  elemType: number;
  dims: readonly (number | string)[];
}

interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, Attr>;
}

let protoRoot: protobuf.Root | undefined;
function modelType(): protobuf.Type {
  protoRoot ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return protoRoot.lookupType("onnx.ModelProto");
}

function elemTypeOf(data: TensorData["data"]): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Int32Array) return DataType.INT32;
  return DataType.INT64;
}

function checkTensor(name: string, t: TensorData): void {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new RangeError(
      `Tensor "${name}" has ${t.data.length} elements but dims [${
        t.dims.join(", ")
      }] need ${count}`,
    );
  }
}

function tensorProto(name: string, t: TensorData): Record<string, unknown> {
  checkTensor(name, t);
  // Little-endian raw bytes: the form ONNX readers load fastest and the one that keeps
  // float32 values bit-exact.
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  return { name, dims: [...t.dims], data_type: elemTypeOf(t.data), raw_data: raw };
}

function attributeProto(name: string, value: Attr): Record<string, unknown> {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      throw new TypeError(`Attribute "${name}" is ${value}: wrap non-integers in float()`);
    }
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === "string") {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) {
    return { name, type: AttributeType.INTS, ints: [...value] };
  }
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ("floats" in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  if ("tensor" in value) {
    return { name, type: AttributeType.TENSOR, t: tensorProto(name, value.tensor) };
  }
  throw new TypeError(`Attribute "${name}" has an unsupported value`);
}

function valueInfoProto(v: ValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: v.elemType,
        shape: {
          dim: v.dims.map((d) => typeof d === "number" ? { dim_value: d } : { dim_param: d }),
        },
      },
    },
  };
}

/**
 * Builds one ONNX graph.
 *
 * @example
 * ```ts
 * const g = new GraphBuilder("relu6");
 * const x = g.input("x", [1, 3, 4, 4]);
 * g.output(g.op("Clip", [x, g.constant("lo", new Float32Array([0]), []), g.constant("hi", new Float32Array([6]), [])]), "y", [1, 3, 4, 4]);
 * const bytes = g.toBytes();
 * ```
 */
export class GraphBuilder {
  readonly #name: string;
  readonly #inputs: ValueInfo[] = [];
  readonly #outputs: ValueInfo[] = [];
  readonly #initializers = new Map<string, TensorData>();
  readonly #nodes: Node[] = [];
  #counter = 0;

  /** @param name the graph's name, written into the model */
  constructor(name: string) {
    this.#name = name;
  }

  /** Declares a float32 graph input and returns its name. */
  input(name: string, dims: readonly (number | string)[]): string {
    this.#inputs.push({ name, elemType: DataType.FLOAT, dims });
    return name;
  }

  /**
   * Declares a graph output. When `name` differs from `value`, an Identity node renames it.
   * @returns the output's name
   */
  output(value: string, name: string, dims: readonly (number | string)[]): string {
    if (value !== name) this.#nodes.push(this.#node("Identity", [value], [name], {}));
    this.#outputs.push({ name, elemType: DataType.FLOAT, dims });
    return name;
  }

  /** Adds a constant tensor (initializer) and returns its name. Names must be unique. */
  constant(name: string, data: TensorData["data"], dims: readonly number[]): string {
    if (this.#initializers.has(name)) throw new RangeError(`Initializer "${name}" already exists`);
    const t = { data, dims };
    checkTensor(name, t);
    this.#initializers.set(name, t);
    return name;
  }

  /** Adds an int64 constant, as ONNX wants for shapes, pads and axes. */
  int64s(name: string, values: readonly number[]): string {
    return this.constant(name, BigInt64Array.from(values.map(BigInt)), [values.length]);
  }

  /** Adds a node with one output and returns that output's generated name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    const [out] = this.opN(opType, inputs, 1, attrs);
    return out;
  }

  /** Adds a node with `outputCount` outputs and returns their generated names. */
  opN(
    opType: string,
    inputs: readonly string[],
    outputCount: number,
    attrs: Record<string, Attr> = {},
  ): string[] {
    const id = this.#counter++;
    const outputs = Array.from({ length: outputCount }, (_, i) => `${opType}_${id}_out${i}`);
    this.#nodes.push(this.#node(opType, [...inputs], outputs, attrs, `${opType}_${id}`));
    return outputs;
  }

  /** Number of nodes so far (for reports and tests). */
  get nodeCount(): number {
    return this.#nodes.length;
  }

  #node(
    opType: string,
    inputs: string[],
    outputs: string[],
    attrs: Record<string, Attr>,
    name = `${opType}_${this.#counter++}`,
  ): Node {
    return { opType, inputs, outputs, name, attrs };
  }

  /**
   * Serialises the model.
   * @param metadata key/value pairs stored in `metadata_props` (source, version, ...)
   * @returns the ONNX file's bytes
   */
  toBytes(metadata: Record<string, string> = {}): Uint8Array {
    if (this.#outputs.length === 0) throw new RangeError(`Graph "${this.#name}" has no outputs`);
    const graph = {
      name: this.#name,
      node: this.#nodes.map((n) => ({
        name: n.name,
        op_type: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)),
      })),
      initializer: [...this.#initializers].map(([name, t]) => tensorProto(name, t)),
      input: this.#inputs.map(valueInfoProto),
      output: this.#outputs.map(valueInfoProto),
    };
    const type = modelType();
    const message = type.fromObject({
      ir_version: IR_VERSION,
      producer_name: "face-recognition-converter",
      producer_version: "1",
      opset_import: [{ domain: "", version: OPSET_VERSION }],
      graph,
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return type.encode(message).finish();
  }
}
