import assert from "node:assert/strict";
import {
  BLAZEFACE_ROW,
  BLAZEFACE_SPECS,
  blazeFaceAnchors,
  type BlazeFaceDetection,
  decodeBlazeFace,
  toSsdLikeBox,
  unifyBlazeFaceOutputs,
  weightedNms,
} from "./blazeface.ts";

const near = (a: number, b: number, eps = 1e-4) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} is not within ${eps} of ${b}`);

Deno.test("blazeFaceAnchors lays back's 896 anchors as 16×16×2 at stride 16 then 8×8×6 at 32", () => {
  const a = blazeFaceAnchors(BLAZEFACE_SPECS.back);
  assert.equal(a.length / 2, 896);
  assert.deepEqual([...a.slice(0, 6)], [8, 8, 8, 8, 24, 8]); // two per cell, then the next column
  assert.deepEqual([...a.slice(2 * 32, 2 * 32 + 2)], [8, 24]); // anchor 32 opens the second row
  assert.deepEqual([...a.slice(2 * 511, 2 * 511 + 2)], [248, 248]);
  assert.deepEqual([...a.slice(2 * 512, 2 * 512 + 2)], [16, 16]); // the stride-32 map
  assert.deepEqual([...a.slice(2 * 518, 2 * 518 + 2)], [48, 16]); // six per cell
  assert.deepEqual([...a.slice(-2)], [240, 240]);
});

Deno.test("blazeFaceAnchors gives front 128 the same layout at half the strides, full 48×48", () => {
  const front = blazeFaceAnchors(BLAZEFACE_SPECS.front);
  assert.equal(front.length / 2, 896);
  assert.deepEqual([...front.slice(0, 2)], [4, 4]);
  assert.deepEqual([...front.slice(2 * 512, 2 * 512 + 2)], [8, 8]);
  const full = blazeFaceAnchors(BLAZEFACE_SPECS.full);
  assert.equal(full.length / 2, 2304);
  assert.deepEqual([...full.slice(0, 4)], [2, 2, 6, 2]);
  assert.deepEqual([...full.slice(-2)], [190, 190]);
});

Deno.test("blazeFaceAnchors refuses a spec whose strides and anchor counts differ", () => {
  assert.throws(
    () => blazeFaceAnchors({ inputSize: 128, strides: [8, 16], anchorsPerCell: [2] }),
    RangeError,
  );
  assert.throws(
    () => blazeFaceAnchors({ inputSize: 128, strides: [0], anchorsPerCell: [1] }),
    RangeError,
  );
});

/** BlazeFace's four outputs in graph order, each value naming its anchor and column. */
function fourOutputs() {
  const tensor = (n: number, w: number, base: number) => ({
    data: Float32Array.from({ length: n * w }, (_, i) => base + Math.floor(i / w) + (i % w) / 100),
    dims: [1, n, w],
  });
  // Graph order as tfjs gives it: scores 512, boxes 512, boxes 384, scores 384.
  return [tensor(512, 1, 0), tensor(512, 16, 1000), tensor(384, 16, 2000), tensor(384, 1, 3000)];
}

Deno.test("unifyBlazeFaceOutputs puts the larger map first, each row logit then 16 regressors", () => {
  const raw = unifyBlazeFaceOutputs(fourOutputs(), 896);
  assert.equal(raw.length, 896 * BLAZEFACE_ROW);
  near(raw[0], 0); // anchor 0 logit
  near(raw[1], 1000); // anchor 0 first regressor
  near(raw[16], 1000.15); // anchor 0 last regressor
  near(raw[5 * 17], 5); // anchor 5 logit
  near(raw[5 * 17 + 2], 1005.01);
  near(raw[512 * 17], 3000); // first anchor of the 8×8 map: its logit
  near(raw[512 * 17 + 1], 2000);
  near(raw[895 * 17 + 16], 2383.15);
});

Deno.test("unifyBlazeFaceOutputs takes a joined [1, N, 17] output as is and refuses a wrong count", () => {
  const joined = { data: Float32Array.from({ length: 896 * 17 }, (_, i) => i), dims: [1, 896, 17] };
  assert.deepEqual(unifyBlazeFaceOutputs([joined], 896), joined.data);
  assert.throws(() => unifyBlazeFaceOutputs([joined], 2304), RangeError);
  assert.throws(() => unifyBlazeFaceOutputs(fourOutputs().slice(0, 3), 896), RangeError);
});

Deno.test("decodeBlazeFace turns one firing anchor into a box and keypoints in input pixels", () => {
  const anchors = blazeFaceAnchors(BLAZEFACE_SPECS.back);
  const raw = new Float32Array(896 * 17).fill(-10); // every anchor: sigmoid(-10) ≈ 0
  const k = 600; // in the 8×8 map: cell 88/6 = 14 → row 1, column 6 → centre (208, 48)
  assert.deepEqual([...anchors.slice(2 * k, 2 * k + 2)], [208, 48]);
  const row = [2, 3, -2, 40, 50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  raw.set(row, k * 17);
  const found = decodeBlazeFace(raw, anchors, 0.5);
  assert.equal(found.length, 1);
  const [face] = found;
  near(face.score, 1 / (1 + Math.exp(-2)));
  near(face.box.x, 208 + 3 - 20);
  near(face.box.y, 48 - 2 - 25);
  near(face.box.width, 40);
  near(face.box.height, 50);
  assert.equal(face.keypoints.length, 6);
  near(face.keypoints[0].x, 209);
  near(face.keypoints[0].y, 50);
  near(face.keypoints[5].x, 208 + 11);
  near(face.keypoints[5].y, 48 + 12);
  assert.equal(decodeBlazeFace(raw, anchors, 0.9).length, 0, "sigmoid(2) = 0.88 is under 0.9");
  assert.throws(() => decodeBlazeFace(raw.subarray(17), anchors, 0.5), RangeError);
  assert.throws(() => decodeBlazeFace(raw, anchors, 1.5), RangeError);
});

function face(x: number, y: number, side: number, score: number): BlazeFaceDetection {
  return {
    box: { x, y, width: side, height: side },
    score,
    keypoints: [{ x: x + side / 2, y: y + side / 2 }],
  };
}

Deno.test("weightedNms averages a cluster by score, keeps its best score, and keeps apart faces", () => {
  const merged = weightedNms(
    [face(100, 100, 10, 0.2), face(0, 0, 10, 0.6), face(2, 0, 10, 0.9)],
    0.3,
  );
  assert.equal(merged.length, 2);
  const [a, b] = merged;
  near(a.score, 0.9);
  near(a.box.x, (0.6 * 0 + 0.9 * 2) / 1.5); // 1.2
  near(a.box.width, 10);
  near(a.keypoints[0].x, 6.2);
  assert.deepEqual(b.box, { x: 100, y: 100, width: 10, height: 10 });
  // Below the overlap threshold two faces stay two (IoU of 0,0 and 6,0 at side 10: 4/16 = 0.25).
  assert.equal(weightedNms([face(0, 0, 10, 0.6), face(6, 0, 10, 0.9)], 0.3).length, 2);
  assert.equal(weightedNms([face(0, 0, 10, 0.6), face(6, 0, 10, 0.9)], 0.2).length, 1);
  assert.throws(() => weightedNms([], -1), RangeError);
});

Deno.test("toSsdLikeBox undoes the measured size ratio and centre offset", () => {
  const ssd = { x: 40, y: 30, width: 100, height: 120 };
  // The BlazeFace box this relation predicts for that SSD box.
  const r = { widthRatio: 1.05, heightRatio: 0.85, dx: 0.02, dy: 0.08 };
  const width = 100 * r.widthRatio, height = 120 * r.heightRatio;
  const cx = 90 + r.dx * 100, cy = 90 + r.dy * 120;
  const blaze = { x: cx - width / 2, y: cy - height / 2, width, height };
  const back = toSsdLikeBox(blaze, r);
  near(back.x, ssd.x);
  near(back.y, ssd.y);
  near(back.width, ssd.width);
  near(back.height, ssd.height);
});
