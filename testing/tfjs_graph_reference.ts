/**
 * tfjs 4.22 running a tfjs graph model: the reference `model/convert/tfjs_graph.ts` is held to.
 * Used only by tests and benchmarks.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import type { TfjsGraphModelJson } from "../model/convert/tfjs_graph.ts";
import type { Weight } from "../model/convert/tfjs_weights.ts";
import { concatBytes } from "./image_fixtures.ts";

const WASM_DIR = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);

/** A dense NHWC (or any-rank) float32 tensor as tfjs sees it. */
export interface ReferenceTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

let wasmPathsSet = false;

/**
 * Selects the tfjs backend for this isolate: `cpu` (plain float32 loops) or `wasm` (XNNPACK, one
 * thread, as face-api's reference runs).
 */
export async function useTfjsBackend(backend: "cpu" | "wasm"): Promise<typeof tf> {
  if (backend === "wasm" && !wasmPathsSet) {
    tfWasm.setWasmPaths(WASM_DIR.href);
    tfWasm.setThreadsCount(1);
    wasmPathsSet = true;
  }
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new Error(`tfjs backend ${backend} failed to start`);
  }
  await tf.ready();
  return tf;
}

/**
 * Loads a graph model from its model.json and .bin files exactly as `tf.loadGraphModel(url)`
 * would (all artifacts, so the signature in `userDefinedMetadata` orders the outputs).
 */
export async function loadReferenceGraph(jsonPath: string): Promise<tf.GraphModel> {
  const json = JSON.parse(await Deno.readTextFile(jsonPath));
  const dir = jsonPath.slice(0, jsonPath.lastIndexOf("/") + 1);
  // deno-lint-ignore no-explicit-any
  const groups = json.weightsManifest as { paths: string[]; weights: any[] }[];
  const parts = await Promise.all(
    groups.flatMap((g) => g.paths).map((p) => Deno.readFile(dir + p)),
  );
  return await tf.loadGraphModel(tf.io.fromMemory({
    ...json,
    weightSpecs: groups.flatMap((g) => g.weights),
    weightData: concatBytes(parts).buffer,
  }));
}

/** Loads an in-memory graph (a synthetic test graph) with float32/int32 weights. */
export async function referenceGraphFromParts(
  json: TfjsGraphModelJson,
  weights: ReadonlyMap<string, Weight>,
): Promise<tf.GraphModel> {
  const list = [...weights.values()];
  const data = concatBytes(list.map((w) => new Uint8Array(w.data.buffer.slice(0))));
  return await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: { ...json.modelTopology, versions: {} },
    weightSpecs: list.map((w) => ({
      name: w.name,
      shape: [...w.shape],
      dtype: w.data instanceof Int32Array ? "int32" : "float32",
    })),
    weightData: data.buffer,
  }));
}

/**
 * Runs a graph model on one input.
 * @returns its outputs in the model's output order
 */
export function runReferenceGraph(
  model: tf.GraphModel,
  input: ReferenceTensor,
): ReferenceTensor[] {
  const x = tf.tensor(input.data, [...input.shape], "float32");
  const out = [model.execute(x)].flat() as tf.Tensor[];
  const result = out.map((t) => ({ data: t.dataSync() as Float32Array, shape: t.shape }));
  tf.dispose([x, ...out]);
  return result;
}
