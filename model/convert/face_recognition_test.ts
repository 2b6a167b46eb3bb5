import assert from "node:assert/strict";
import { loadReference, toReferenceTensor } from "../../testing/face_api_reference.ts";
import { noiseImage } from "../../testing/noise.ts";
import { toNetInput } from "../image/net_input.ts";
import { createSession } from "../runtime/session.ts";
import { convertFaceRecognition, faceRecognitionConverter } from "./face_recognition.ts";

/** The fidelity bound the service promises for descriptors (face-api matches at distance 0.6). */
const DESCRIPTOR_DIFF_MAX = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

Deno.test("faceRecognitionConverter declares face-api's weights, input and output", async () => {
  assert.equal(faceRecognitionConverter.id, "face_recognition");
  assert.equal(faceRecognitionConverter.weights, "face_recognition_model");
  const model = await faceRecognitionConverter.convert();
  assert.equal(model.id, "face_recognition");
  assert.deepEqual(model.input, {
    name: "input",
    dims: [1, 3, 150, 150],
    mean: [122.782, 117.001, 104.298],
    std: [255, 255, 255],
  });
  assert.deepEqual(model.outputs, [{ name: "descriptor", dims: ["N", 128] }]);
  assert.match(model.source, /face-api@1\.7\.15/);
});

Deno.test("convertFaceRecognition gives identical bytes on every run", async () => {
  const a = await convertFaceRecognition();
  const b = await convertFaceRecognition();
  assert.deepEqual(a.onnx, b.onnx);
});

Deno.test("convertFaceRecognition's graph matches face-api's net on 150x150 inputs, also batched", async () => {
  const { faceapi } = await loadReference();
  const model = await convertFaceRecognition();
  const session = await createSession(model.onnx);
  try {
    const images = [noiseImage(150, 150, 1), noiseImage(150, 150, 2)];
    const inputs = images.map((img) =>
      toNetInput(img, { size: 150, mean: model.input.mean, std: model.input.std })
    );
    const batch = new Float32Array(2 * inputs[0].data.length);
    batch.set(inputs[0].data);
    batch.set(inputs[1].data, inputs[0].data.length);
    const out = await session.run({ input: { data: batch, dims: [2, 3, 150, 150] } });
    assert.deepEqual(out.descriptor.dims, [2, 128]);
    for (const [i, img] of images.entries()) {
      const tensor = toReferenceTensor(img);
      const reference = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor);
      tensor.dispose();
      const ours = out.descriptor.data.subarray(i * 128, (i + 1) * 128);
      assert.ok(maxAbsDiff(ours, reference) <= DESCRIPTOR_DIFF_MAX);
    }
  } finally {
    await session.release();
  }
});
