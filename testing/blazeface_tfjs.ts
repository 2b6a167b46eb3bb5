/**
 * BlazeFace run by tfjs itself, as the reference runner for `model/detect/blazeface*.ts` until the
 * converted ONNX model exists: loads a tfjs graph model (`model.json` + one `.bin`) from disk and
 * returns a {@linkcode BlazeFaceRun}. Tests and benchmarks only; the service never loads tfjs.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { HUMAN_MODEL_DIR } from "../model/convert/blazeface.ts";
import type { BlazeFaceRun } from "../model/detect/blazeface_multiscale.ts";
import type { RawTensor } from "../model/detect/blazeface.ts";
import { useTfjsBackend } from "./tfjs_graph_reference.ts";

/** The BlazeFace "back" (256) weights shipped by the committed `@vladmandic/human`. */
export const HUMAN_BLAZEFACE_PATH = new URL("blazeface", HUMAN_MODEL_DIR).pathname;

/** A loaded graph model: its square input side and a runner. */
export interface TfjsBlazeFace {
  readonly inputSize: number;
  readonly run: BlazeFaceRun;
  dispose(): void;
}

/**
 * Loads `${path}.json` + `${path}.bin` (a tfjs graph model with one weights file).
 * @param path the model's path without extension
 */
export async function loadTfjsBlazeFace(path: string): Promise<TfjsBlazeFace> {
  await useTfjsBackend("wasm");
  const json = JSON.parse(await Deno.readTextFile(`${path}.json`));
  const bin = await Deno.readFile(`${path}.bin`);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((m: { weights: unknown[] }) => m.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  }));
  const inputSize = model.inputs[0].shape![1]!;
  const run: BlazeFaceRun = (input, size) => {
    if (size !== inputSize) throw new RangeError(`model takes ${inputSize}, got ${size}`);
    const x = tf.tensor4d(input, [1, size, size, 3]);
    const result = model.execute(x);
    const outs = Array.isArray(result) ? result : [result];
    const raw: RawTensor[] = outs.map((t) => ({ data: t.dataSync(), dims: t.shape }));
    tf.dispose([x, ...outs]);
    return Promise.resolve(raw);
  };
  return { inputSize, run, dispose: () => model.dispose() };
}
