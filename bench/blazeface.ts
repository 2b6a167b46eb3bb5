/**
 * `deno run -A bench/blazeface.ts [--runs N] [--warmup N]`: one BlazeFace call (human 3.3.6's
 * `models/blazeface`, 256×256) on our ONNX conversion against the same graph run by tfjs,
 * side by side in one process, every variant on one thread:
 *
 * - `ort-web`: onnxruntime-web (WASM SIMD), the service's default runtime;
 * - `ort-native`: onnxruntime-node;
 * - `tfjs-wasm`: tfjs 4.22's WASM backend (XNNPACK), as face-api's reference runs;
 * - `tfjs-cpu`: tfjs's plain JavaScript backend.
 *
 * Variants are interleaved per iteration so load drifts hit them alike. A sample is one call on a
 * prepared input (face-api's sample1.jpg, padded and resized): feeding the tensor, running,
 * copying the outputs out. CPU time is the process's (`process.cpuUsage()`); with one thread per
 * runtime it is the call's. The conversion's multiply-accumulate count gives the FLOPs.
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs";
import { median } from "../internal/mod.ts";
import { blazefaceConverter, HUMAN_MODEL_DIR } from "../model/convert/blazeface.ts";
import { toNetInput } from "../model/image/net_input.ts";
import { createSession, type Session } from "../model/runtime/session.ts";
import {
  BLAZEFACE_INPUT_MEAN,
  BLAZEFACE_INPUT_SIZE,
  BLAZEFACE_INPUT_STD,
  BLAZEFACE_NAMES,
} from "../model/specs.ts";
import { loadSamplePhoto } from "../testing/face_api_reference.ts";
import { loadReferenceGraph, useTfjsBackend } from "../testing/tfjs_graph_reference.ts";

/** Fewer measured runs than this and a median says little. */
const RUNS_MIN = 15;

function intArg(name: string, fallback: number): number {
  const at = Deno.args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(Deno.args[at + 1]);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${Deno.args[at + 1]}`);
  }
  return value;
}

const runs = intArg("--runs", 20);
const warmup = intArg("--warmup", 3);
if (runs < RUNS_MIN) throw new RangeError(`--runs must be at least ${RUNS_MIN}, got ${runs}`);

const size = BLAZEFACE_INPUT_SIZE, plane = size * size;
const converted = await blazefaceConverter.convert();
const nchw = toNetInput(await loadSamplePhoto("sample1.jpg"), {
  size,
  centered: false,
  mean: BLAZEFACE_INPUT_MEAN,
  std: BLAZEFACE_INPUT_STD,
}).data;
const nhwc = new Float32Array(nchw.length);
for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) nhwc[p * 3 + c] = nchw[c * plane + p];

const sessions: Record<string, Session> = {
  "ort-web": await createSession(converted.onnx, { backend: "web", threads: 1 }),
  "ort-native": await createSession(converted.onnx, { backend: "native", threads: 1 }),
};
const jsonPath = new URL("blazeface.json", HUMAN_MODEL_DIR).pathname;
// One graph per backend, each loaded while its backend is active, so its weights live there and
// switching backends between calls moves nothing.
await useTfjsBackend("cpu");
const graphCpu = await loadReferenceGraph(jsonPath);
await useTfjsBackend("wasm");
const graphWasm = await loadReferenceGraph(jsonPath);

function tfjsCall(model: tf.GraphModel) {
  const x = tf.tensor(nhwc, [1, size, size, 3], "float32");
  const out = [model.execute(x)].flat() as tf.Tensor[];
  for (const t of out) t.dataSync();
  tf.dispose([x, ...out]);
}

const variants: { id: string; backend?: "wasm" | "cpu"; call: () => Promise<void> | void }[] = [
  ...Object.entries(sessions).map(([id, session]) => ({
    id,
    call: async () => {
      await session.run({ [BLAZEFACE_NAMES.input]: { data: nchw, dims: [1, 3, size, size] } });
    },
  })),
  { id: "tfjs-wasm", backend: "wasm", call: () => tfjsCall(graphWasm) },
  { id: "tfjs-cpu", backend: "cpu", call: () => tfjsCall(graphCpu) },
];

const cpuMs = new Map<string, number[]>(variants.map((v) => [v.id, []]));
const wallMs = new Map<string, number[]>(variants.map((v) => [v.id, []]));
console.error(`load average at start: ${Deno.loadavg().join(" ")}`);
for (let i = 0; i < warmup + runs; i++) {
  for (const v of variants) {
    if (v.backend) await useTfjsBackend(v.backend);
    const c0 = process.cpuUsage(), t0 = performance.now();
    await v.call();
    const wall = performance.now() - t0, c = process.cpuUsage(c0);
    if (i < warmup) continue;
    cpuMs.get(v.id)!.push((c.user + c.system) / 1000);
    wallMs.get(v.id)!.push(wall);
  }
}
console.error(`load average at end: ${Deno.loadavg().join(" ")}`);

const base = median(cpuMs.get("ort-web")!);
const convMacs = converted.extra!.convMacs as number;
console.log(
  `BlazeFace 256×256, ${(2 * convMacs / 1e6).toFixed(0)} MFLOP (convolutions, ` +
    `2 × ${
      (convMacs / 1e6).toFixed(1)
    } M multiply-accumulates); ${warmup} warm-up + ${runs} runs, ` +
    `1 thread each\n`,
);
console.log("| runtime | CPU ms median | CPU ms min | wall ms median | CPU vs ort-web |");
console.log("| ------- | ------------- | ---------- | -------------- | -------------- |");
for (const v of variants) {
  const cpu = cpuMs.get(v.id)!, wall = wallMs.get(v.id)!;
  console.log(
    `| ${v.id} | ${median(cpu).toFixed(1)} | ${Math.min(...cpu).toFixed(1)} | ` +
      `${median(wall).toFixed(1)} | ${(median(cpu) / base).toFixed(2)}× |`,
  );
}
for (const session of Object.values(sessions)) await session.release();
graphWasm.dispose();
graphCpu.dispose();
