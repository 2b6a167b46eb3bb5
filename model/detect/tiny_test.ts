import assert from "node:assert/strict";
import { iou } from "../face_geometry.ts";
import { tinyFaceDetectorConverter } from "../convert/tiny_face_detector.ts";
import { createSession } from "../runtime/session.ts";
import { loadReference, toReferenceTensor } from "../../testing/face_api_reference.ts";
import { decodeTiny, detectFacesTiny } from "./tiny.ts";
import { TINY_ANCHORS } from "../specs.ts";
import { fromReference, loadSample, SAMPLE_NAMES } from "./_test_samples.ts";

/** A [1, 25, cells, cells] grid with every objectness at -10 except the given entries. */
function gridWith(cells: number, set: { row: number; col: number; anchor: number; v: number[] }[]) {
  const plane = cells * cells;
  const data = new Float32Array(25 * plane);
  for (let a = 0; a < 5; a++) data.fill(-10, (a * 5 + 4) * plane, (a * 5 + 5) * plane);
  for (const s of set) {
    for (let k = 0; k < 5; k++) data[(s.anchor * 5 + k) * plane + s.row * cells + s.col] = s.v[k];
  }
  return { data, dims: [1, 25, cells, cells] };
}

Deno.test("decodeTiny places a box by cell, sigmoid offset and anchor size", () => {
  // inputSize 128 → 4×4 cells; row 1, col 2, anchor 0, zero offsets: centre (2.5, 1.5) cells.
  const grid = gridWith(4, [{ row: 1, col: 2, anchor: 0, v: [0, 0, 0, 0, 2] }]);
  const [face, ...rest] = decodeTiny(grid, { width: 64, height: 64 }, { inputSize: 128 });
  assert.equal(rest.length, 0);
  const w = TINY_ANCHORS[0].x / 4 * 64, h = TINY_ANCHORS[0].y / 4 * 64;
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;
  assert.ok(close(face.box.x, 2.5 / 4 * 64 - w / 2) && close(face.box.width, w));
  assert.ok(close(face.box.y, 1.5 / 4 * 64 - h / 2) && close(face.box.height, h));
  assert.ok(close(face.score, 1 / (1 + Math.exp(-2))));
});

Deno.test("decodeTiny maps a wide image padded at the bottom back to its pixels", () => {
  // 200×100: the square is 200×200 with the image in its top half; x scales by 200, y by 100
  // after face-api's correction factor of 2 on y.
  const grid = gridWith(13, [{ row: 2, col: 6, anchor: 1, v: [0, 0, 0, 0, 1] }]);
  const [face] = decodeTiny(grid, { width: 200, height: 100 });
  const h = TINY_ANCHORS[1].y / 13 * 200;
  assert.ok(Math.abs(face.box.y - ((2.5 / 13) * 200 - h / 2)) < 1e-9, JSON.stringify(face.box));
  assert.ok(Math.abs(face.box.height - h) < 1e-9);
});

Deno.test("decodeTiny suppresses overlapping boxes with IoU above 0.4 and keeps the best", () => {
  const grid = gridWith(13, [
    { row: 5, col: 5, anchor: 3, v: [0, 0, 0, 0, 1] },
    { row: 5, col: 5, anchor: 2, v: [0.1, 0, 0.3, 0.3, 3] }, // nearly the same box, better
    { row: 10, col: 1, anchor: 0, v: [0, 0, 0, 0, 0.5] },
  ]);
  const faces = decodeTiny(grid, { width: 416, height: 416 });
  assert.deepEqual(faces.map((f) => f.score.toFixed(3)), ["0.953", "0.622"]);
});

Deno.test("decodeTiny refuses a bad input size, threshold or grid", () => {
  const image = { width: 64, height: 64 };
  const grid = gridWith(13, []);
  assert.throws(() => decodeTiny(grid, image, { inputSize: 100 }), /multiple of 32.*got 100/);
  assert.throws(() => decodeTiny(grid, image, { scoreThreshold: 0 }), /scoreThreshold.*got 0/);
  assert.throws(() => decodeTiny(grid, image, { inputSize: 128 }), /expected \[1, 25, 4, 4\]/);
});

const MIN_IOU = 0.99;
const SCORE_DIFF_MAX = 1e-3;

for (const backend of ["web", "native"] as const) {
  const samples = backend === "web" ? SAMPLE_NAMES : SAMPLE_NAMES.slice(0, 2);
  Deno.test(`detectFacesTiny on ${backend} finds face-api's faces in ${samples.length} demo photos`, async () => {
    const { faceapi } = await loadReference();
    const session = await createSession((await tinyFaceDetectorConverter.convert()).onnx, {
      backend,
    });
    let total = 0;
    try {
      for (const name of samples) {
        const image = await loadSample(name);
        const t = toReferenceTensor(image);
        // Default size, plus a small and a large one for the option's plumbing.
        for (const inputSize of backend === "web" ? [416, 224, 608] : [416]) {
          const ref = (await faceapi.detectAllFaces(
            t,
            new faceapi.TinyFaceDetectorOptions({ inputSize }),
          )).map(fromReference);
          const ours = await detectFacesTiny(session, image, { inputSize });
          const what = `${name} at ${inputSize}`;
          assert.equal(
            ours.length,
            ref.length,
            `${what}: ${ours.length} faces, face-api ${ref.length}`,
          );
          for (const [i, face] of ours.entries()) {
            const overlap = iou(face.box, ref[i].box);
            assert.ok(overlap >= MIN_IOU, `${what} face ${i}: IoU ${overlap}`);
            assert.ok(Math.abs(face.score - ref[i].score) <= SCORE_DIFF_MAX, `${what} face ${i}`);
          }
          total += ours.length;
        }
        t.dispose();
      }
    } finally {
      await session.release();
    }
    assert.ok(total >= samples.length, `only ${total} faces in ${samples.length} photos of people`);
  });
}
