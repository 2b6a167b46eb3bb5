import assert from "node:assert/strict";
import { loadReference, loadSamplePhoto } from "../../testing/face_api_reference.ts";
import { createSession, type Session } from "../runtime/session.ts";
import { buildSsdMobilenetv1, ssdMobilenetv1Converter, tfSamePads } from "./ssd_mobilenetv1.ts";
import { loadTfjsWeights } from "./tfjs_weights.ts";
import { SSD_ANCHOR_COUNT, SSD_BOX_VARIANCES, SSD_NAMES } from "../specs.ts";

// The reference's decoded boxes/scores and ours (decoded here in float64, independently of
// model/detect) agree to float32 rounding: measured max |Δ| 1.6e-6 (boxes), 8.7e-7 (scores).
const BOX_DIFF_MAX = 1e-4;
const SCORE_DIFF_MAX = 1e-4;

Deno.test("tfSamePads puts the odd padding pixel after, as TF 'SAME' does", () => {
  assert.deepEqual(tfSamePads(512, 3, 2), { before: 0, after: 1, out: 256 });
  assert.deepEqual(tfSamePads(256, 3, 1), { before: 1, after: 1, out: 256 });
  assert.deepEqual(tfSamePads(2, 3, 2), { before: 0, after: 1, out: 1 });
  assert.deepEqual(tfSamePads(16, 1, 1), { before: 0, after: 0, out: 16 });
  assert.deepEqual(tfSamePads(5, 3, 2), { before: 1, after: 1, out: 3 });
});

Deno.test("ssdMobilenetv1Converter builds the same bytes twice and records the decoder's facts", async () => {
  const a = await ssdMobilenetv1Converter.convert();
  const b = await ssdMobilenetv1Converter.convert();
  assert.deepEqual(a.onnx, b.onnx);
  assert.equal(a.id, "ssd_mobilenetv1");
  assert.deepEqual(a.input.dims, [1, 3, 512, 512]);
  assert.deepEqual(a.extra?.boxVariances, [10, 10, 5, 5]);
  assert.equal(a.extra?.anchorCount, SSD_ANCHOR_COUNT);
  assert.deepEqual(a.outputs.map((o) => o.name), ["box_encodings", "class_logits", "anchors"]);
});

Deno.test("buildSsdMobilenetv1 names the missing weight when the weights are incomplete", async () => {
  const weights = await loadTfjsWeights("ssd_mobilenetv1_model");
  weights.delete("MobilenetV1/Conv2d_7_depthwise/BatchNorm/gamma");
  assert.throws(() => buildSsdMobilenetv1(weights), /Conv2d_7_depthwise\/BatchNorm\/gamma/);
});

/** Our net vs face-api's `forwardInput` on the very tensor tfjs prepared (decoded per anchor). */
async function compareWithReference(session: Session) {
  const { faceapi, tf } = await loadReference();
  const image = await loadSamplePhoto("sample1.jpg");
  const t = tf.tensor3d(Int32Array.from(image.data), [image.height, image.width, 3], "int32");
  const netInput = await faceapi.toNetInput(t);
  const batch = netInput.toBatchTensor(512, false);
  const ref = faceapi.nets.ssdMobilenetv1.forwardInput(netInput);
  const refBoxes: Float32Array = ref.boxes[0].dataSync();
  const refScores: Float32Array = ref.scores[0].dataSync();
  const nhwc: Float32Array = batch.dataSync();
  tf.dispose([t, batch, ...ref.boxes, ...ref.scores]);

  const size = 512, plane = size * size;
  const input = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) input[c * plane + p] = nhwc[p * 3 + c] / 127.5 - 1;
  }
  const out = await session.run({ [SSD_NAMES.input]: { data: input, dims: [1, 3, size, size] } });
  assert.deepEqual(out[SSD_NAMES.boxEncodings].dims, [1, SSD_ANCHOR_COUNT, 4]);
  assert.deepEqual(out[SSD_NAMES.classLogits].dims, [1, SSD_ANCHOR_COUNT, 3]);
  const enc = out[SSD_NAMES.boxEncodings].data;
  const logits = out[SSD_NAMES.classLogits].data;
  const anchors = out[SSD_NAMES.anchors].data;
  const [vy, vx, vh, vw] = SSD_BOX_VARIANCES;
  let boxDiff = 0, scoreDiff = 0, confident = 0;
  for (let i = 0; i < SSD_ANCHOR_COUNT; i++) {
    const [y0, x0, y1, x1] = anchors.subarray(i * 4, i * 4 + 4);
    const h = y1 - y0, w = x1 - x0;
    const cy = y0 + h / 2 + enc[i * 4] / vy * h, cx = x0 + w / 2 + enc[i * 4 + 1] / vx * w;
    const hh = Math.exp(enc[i * 4 + 2] / vh) * h / 2, hw = Math.exp(enc[i * 4 + 3] / vw) * w / 2;
    const box = [cy - hh, cx - hw, cy + hh, cx + hw];
    for (let k = 0; k < 4; k++) boxDiff = Math.max(boxDiff, Math.abs(box[k] - refBoxes[i * 4 + k]));
    const score = 1 / (1 + Math.exp(-logits[i * 3 + 1]));
    scoreDiff = Math.max(scoreDiff, Math.abs(score - refScores[i]));
    if (refScores[i] > 0.5) confident++;
  }
  // sample1 shows three faces: the comparison must cover confident anchors, not only background.
  assert.ok(confident >= 3, `only ${confident} anchors score above 0.5 in the reference`);
  assert.ok(boxDiff < BOX_DIFF_MAX, `max |box diff| ${boxDiff}`);
  assert.ok(scoreDiff < SCORE_DIFF_MAX, `max |score diff| ${scoreDiff}`);
}

for (const backend of ["web", "native"] as const) {
  Deno.test(`ssd_mobilenetv1 ONNX on ${backend} matches face-api's per-anchor boxes and scores`, async () => {
    const session = await createSession((await ssdMobilenetv1Converter.convert()).onnx, {
      backend,
    });
    try {
      await compareWithReference(session);
    } finally {
      await session.release();
    }
  });
}
