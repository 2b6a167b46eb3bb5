import assert from "node:assert/strict";
import { iou } from "../face_geometry.ts";
import { ssdMobilenetv1Converter } from "../convert/ssd_mobilenetv1.ts";
import { createSession } from "../runtime/session.ts";
import { loadReference, toReferenceTensor } from "../../testing/face_api_reference.ts";
import { decodeSsd, detectFacesSsd } from "./ssd.ts";
import { SSD_ANCHOR_COUNT } from "../specs.ts";
import { fromReference, loadSample, SAMPLE_NAMES } from "./_test_samples.ts";

/** Outputs where every anchor is background except the given ones (zero encodings = anchor). */
function outputsWith(faces: { index: number; anchor: number[]; logit: number; enc?: number[] }[]) {
  const n = SSD_ANCHOR_COUNT;
  const boxEncodings = { data: new Float32Array(n * 4), dims: [1, n, 4] };
  const classLogits = { data: new Float32Array(n * 3).fill(-10), dims: [1, n, 3] };
  const anchors = { data: new Float32Array(n * 4), dims: [n, 4] };
  for (const f of faces) {
    anchors.data.set(f.anchor, f.index * 4);
    boxEncodings.data.set(f.enc ?? [0, 0, 0, 0], f.index * 4);
    classLogits.data[f.index * 3 + 1] = f.logit;
  }
  return { boxEncodings, classLogits, anchors };
}

Deno.test("decodeSsd maps an anchor back to pixels of a tall image padded on the right", () => {
  // 100×200: the net saw a 200×200 square, image in the left half.
  const outputs = outputsWith([{ index: 7, anchor: [0.1, 0.1, 0.5, 0.3], logit: 2 }]);
  const [face, ...rest] = decodeSsd(outputs, { width: 100, height: 200 });
  assert.equal(rest.length, 0);
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-4;
  assert.ok(close(face.box.x, 20) && close(face.box.y, 20), JSON.stringify(face.box));
  assert.ok(close(face.box.width, 40) && close(face.box.height, 80), JSON.stringify(face.box));
  assert.ok(close(face.score, 1 / (1 + Math.exp(-2))));
});

Deno.test("decodeSsd applies the 10/10/5/5 variances and clips boxes to the square", () => {
  // ty = 10 moves the centre by one anchor height; tw = 5 ln 2 doubles the width.
  const outputs = outputsWith([{
    index: 0,
    anchor: [0.2, 0.4, 0.4, 0.6],
    logit: 3,
    enc: [10, 0, 0, 5 * Math.LN2],
  }, { index: 1, anchor: [0.8, 0.8, 1.2, 1.2], logit: 1 }]);
  const faces = decodeSsd(outputs, { width: 512, height: 512 });
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-3;
  assert.equal(faces.length, 2);
  const [a, b] = faces;
  assert.ok(close(a.box.y, 0.4 * 512) && close(a.box.height, 0.2 * 512), JSON.stringify(a.box));
  assert.ok(close(a.box.x, 0.3 * 512) && close(a.box.width, 0.4 * 512), JSON.stringify(a.box));
  // The second anchor sticks out past 1: face-api clips right/bottom at 1 (and top/left at 0).
  assert.ok(close(b.box.x, 0.8 * 512) && close(b.box.width, 0.2 * 512), JSON.stringify(b.box));
});

Deno.test("decodeSsd honours minConfidence and maxResults", () => {
  const outputs = outputsWith([
    { index: 0, anchor: [0, 0, 0.1, 0.1], logit: 0.5 }, // 0.62
    { index: 1, anchor: [0.5, 0.5, 0.6, 0.6], logit: 2 }, // 0.88
    { index: 2, anchor: [0.2, 0.2, 0.3, 0.3], logit: 1 }, // 0.73
  ]);
  const image = { width: 64, height: 64 };
  assert.deepEqual(decodeSsd(outputs, image).map((f) => f.score.toFixed(2)), [
    "0.88",
    "0.73",
    "0.62",
  ]);
  assert.equal(decodeSsd(outputs, image, { minConfidence: 0.7 }).length, 2);
  assert.equal(decodeSsd(outputs, image, { maxResults: 1 }).length, 1);
});

Deno.test("decodeSsd refuses out-of-range options and outputs of another model", () => {
  const outputs = outputsWith([]);
  const image = { width: 64, height: 64 };
  assert.throws(() => decodeSsd(outputs, image, { minConfidence: 1 }), /minConfidence.*got 1/);
  assert.throws(() => decodeSsd(outputs, image, { maxResults: 0 }), /maxResults.*got 0/);
  const bad = { ...outputs, anchors: { data: new Float32Array(8), dims: [2, 4] } };
  assert.throws(() => decodeSsd(bad, image), /anchors has 8 values/);
});

const MIN_IOU = 0.99;
const SCORE_DIFF_MAX = 1e-3;

for (const backend of ["web", "native"] as const) {
  const samples = backend === "web" ? SAMPLE_NAMES : SAMPLE_NAMES.slice(0, 2);
  Deno.test(`detectFacesSsd on ${backend} finds face-api's faces in ${samples.length} demo photos`, async () => {
    const { faceapi } = await loadReference();
    const session = await createSession((await ssdMobilenetv1Converter.convert()).onnx, {
      backend,
    });
    let total = 0;
    try {
      for (const name of samples) {
        const image = await loadSample(name);
        const t = toReferenceTensor(image);
        const ref = (await faceapi.detectAllFaces(t, new faceapi.SsdMobilenetv1Options()))
          .map(fromReference);
        t.dispose();
        const ours = await detectFacesSsd(session, image);
        assert.equal(
          ours.length,
          ref.length,
          `${name}: ${ours.length} faces, face-api ${ref.length}`,
        );
        for (const [i, face] of ours.entries()) {
          const overlap = iou(face.box, ref[i].box);
          assert.ok(overlap >= MIN_IOU, `${name} face ${i}: IoU ${overlap}`);
          assert.ok(Math.abs(face.score - ref[i].score) <= SCORE_DIFF_MAX, `${name} face ${i}`);
        }
        total += ours.length;
      }
    } finally {
      await session.release();
    }
    assert.ok(total >= samples.length, `only ${total} faces in ${samples.length} photos of people`);
  });
}
