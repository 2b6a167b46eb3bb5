/**
 * The reference implementation we claim fidelity to: `@vladmandic/face-api` on
 * `@tensorflow/tfjs` with its WASM backend (tfjs-node would need a download). Used only by tests
 * and benchmarks; the service never loads it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";

// deno-lint-ignore no-explicit-any
export type FaceApi = any;

const require = createRequire(import.meta.url);
const WASM_DIR = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);
/** face-api's pretrained weights as shipped in the npm package. */
export const FACE_API_WEIGHTS_DIR =
  new URL("../node_modules/@vladmandic/face-api/model/", import.meta.url).pathname;
/** The sample photos shipped in the face-api package (real people, several faces). */
export const FACE_API_SAMPLES_DIR =
  new URL("../node_modules/@vladmandic/face-api/demo/", import.meta.url).pathname;

let loaded: Promise<{ faceapi: FaceApi; tf: typeof tf }> | undefined;

/**
 * Loads face-api on tfjs-WASM with one thread and all four networks we convert.
 * Safe to call many times; loads once per process.
 */
export function loadReference(): Promise<{ faceapi: FaceApi; tf: typeof tf }> {
  loaded ??= (async () => {
    tfWasm.setWasmPaths(WASM_DIR.href);
    tfWasm.setThreadsCount(1);
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs wasm backend failed to start");
    await tf.ready();
    const faceapi = require("@vladmandic/face-api/dist/face-api.node-wasm.js");
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(FACE_API_WEIGHTS_DIR);
    await faceapi.nets.tinyFaceDetector.loadFromDisk(FACE_API_WEIGHTS_DIR);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(FACE_API_WEIGHTS_DIR);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(FACE_API_WEIGHTS_DIR);
    return { faceapi, tf };
  })();
  return loaded;
}

/** An HWC RGB uint8 image as a tfjs int32 tensor [h, w, 3], the form face-api's node demos feed. */
export function toReferenceTensor(
  image: { width: number; height: number; data: Uint8Array },
): tf.Tensor3D {
  return tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], "int32");
}

/**
 * One of face-api's demo photos (e.g. `sample1.jpg`), decoded by the project's own decoder. Both
 * sides of a fidelity comparison are fed these very pixels, so the decoder is not under test.
 */
export async function loadSamplePhoto(name: string): Promise<RgbImage> {
  return decodeImage(await Deno.readFile(`${FACE_API_SAMPLES_DIR}${name}`));
}
