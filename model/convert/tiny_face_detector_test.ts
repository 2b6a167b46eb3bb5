import assert from "node:assert/strict";
import { loadReference, loadSamplePhoto } from "../../testing/face_api_reference.ts";
import { createSession, type Session } from "../runtime/session.ts";
import { tinyFaceDetectorConverter } from "./tiny_face_detector.ts";
import { TINY_INPUT_MEAN, TINY_NAMES } from "../specs.ts";

// Grid values reach ~60 in magnitude; measured max |Δ| against face-api is 4.6e-5 (float32
// accumulation order), so 1e-3 leaves room without hiding a real mistake.
const GRID_DIFF_MAX = 1e-3;

Deno.test("tinyFaceDetectorConverter builds the same bytes twice and records its anchors", async () => {
  const a = await tinyFaceDetectorConverter.convert();
  const b = await tinyFaceDetectorConverter.convert();
  assert.deepEqual(a.onnx, b.onnx);
  assert.equal(a.id, "tiny_face_detector");
  assert.deepEqual(a.input.mean, [117.001, 114.697, 97.404]);
  assert.deepEqual(a.input.std, [255, 255, 255]);
  assert.equal((a.extra?.anchors as number[][]).length, 5);
  assert.equal(a.extra?.dynamicInputSize, true);
});

/** Our grid vs face-api's `forwardInput` on the tensor tfjs prepared, at one input size. */
async function compareWithReference(session: Session, size: number) {
  const { faceapi, tf } = await loadReference();
  const image = await loadSamplePhoto("sample2.jpg");
  const t = tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], "int32");
  const netInput = await faceapi.toNetInput(t);
  const batch = netInput.toBatchTensor(size, false);
  const ref = faceapi.nets.tinyFaceDetector.forwardInput(netInput, size);
  const refData: Float32Array = ref.dataSync();
  const [, cells, , channels] = ref.shape as number[];
  const nhwc: Float32Array = batch.dataSync();
  tf.dispose([t, batch, ref]);

  const plane = size * size;
  const input = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) input[c * plane + p] = (nhwc[p * 3 + c] - TINY_INPUT_MEAN[c]) / 255;
  }
  const out = await session.run({ [TINY_NAMES.input]: { data: input, dims: [1, 3, size, size] } });
  const grid = out[TINY_NAMES.grid];
  assert.deepEqual(grid.dims, [1, channels, cells, cells]);
  let diff = 0;
  for (let p = 0; p < cells * cells; p++) {
    for (let c = 0; c < channels; c++) {
      diff = Math.max(diff, Math.abs(grid.data[c * cells * cells + p] - refData[p * channels + c]));
    }
  }
  assert.ok(diff < GRID_DIFF_MAX, `size ${size}: max |grid diff| ${diff}`);
}

for (const backend of ["web", "native"] as const) {
  Deno.test(`tiny_face_detector ONNX on ${backend} matches face-api's raw grid at 416, 128 and 608`, async () => {
    const session = await createSession((await tinyFaceDetectorConverter.convert()).onnx, {
      backend,
    });
    try {
      for (const size of [416, 128, 608]) await compareWithReference(session, size);
    } finally {
      await session.release();
    }
  });
}
