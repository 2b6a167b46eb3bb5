import assert from "node:assert/strict";
import { loadReference, toReferenceTensor } from "../../testing/face_api_reference.ts";
import { noiseImage } from "../../testing/noise.ts";
import { toNetInput } from "../image/net_input.ts";
import { createSession } from "../runtime/session.ts";
import {
  convertFaceLandmark68,
  faceLandmark68Converter,
  tfSamePadding,
} from "./face_landmark_68.ts";

/** Raw outputs are relative to the 112-pixel square: 1e-5 is 0.001 px there. */
const RAW_DIFF_MAX = 1e-5;

Deno.test("tfSamePadding pads only bottom/right at stride 2 on an even side, as TensorFlow", () => {
  assert.deepEqual(tfSamePadding(112, 3, 2), [0, 1, 56]);
  assert.deepEqual(tfSamePadding(7, 3, 2), [1, 1, 4]);
  assert.deepEqual(tfSamePadding(56, 3, 1), [1, 1, 56]);
  assert.deepEqual(tfSamePadding(5, 1, 1), [0, 0, 5]);
  assert.deepEqual(tfSamePadding(10, 4, 3), [1, 2, 4]);
});

Deno.test("faceLandmark68Converter declares face-api's weights, input and output", async () => {
  assert.equal(faceLandmark68Converter.id, "face_landmark_68");
  assert.equal(faceLandmark68Converter.weights, "face_landmark_68_model");
  const model = await faceLandmark68Converter.convert();
  assert.equal(model.id, "face_landmark_68");
  assert.deepEqual(model.input, {
    name: "input",
    dims: [1, 3, 112, 112],
    mean: [122.782, 117.001, 104.298],
    std: [255, 255, 255],
  });
  assert.deepEqual(model.outputs, [{ name: "landmarks", dims: ["N", 136] }]);
});

Deno.test("convertFaceLandmark68 gives identical bytes on every run", async () => {
  const a = await convertFaceLandmark68();
  const b = await convertFaceLandmark68();
  assert.deepEqual(a.onnx, b.onnx);
});

Deno.test("convertFaceLandmark68's graph matches face-api's runNet on 112x112 inputs", async () => {
  const { faceapi } = await loadReference();
  const model = await convertFaceLandmark68();
  const session = await createSession(model.onnx);
  try {
    for (const seed of [1, 2, 3]) {
      const image = noiseImage(112, 112, seed);
      const input = toNetInput(image, { size: 112, mean: model.input.mean, std: model.input.std });
      const ours = (await session.run({ input: { data: input.data, dims: input.dims } }))
        .landmarks.data;
      const tensor = toReferenceTensor(image);
      const netInput = await faceapi.toNetInput(tensor);
      const raw = faceapi.nets.faceLandmark68Net.runNet(netInput);
      const reference = await raw.data();
      raw.dispose();
      tensor.dispose();
      assert.equal(ours.length, 136);
      for (let i = 0; i < 136; i++) {
        assert.ok(Math.abs(ours[i] - reference[i]) <= RAW_DIFF_MAX, `value ${i}, seed ${seed}`);
      }
    }
  } finally {
    await session.release();
  }
});
