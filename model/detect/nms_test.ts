import assert from "node:assert/strict";
import * as fc from "fast-check";
import { iouBoxes, iouCorners, nmsSsd, nmsTiny } from "./nms.ts";

const ssdOptions = { maxOutputSize: 100, iouThreshold: 0.5, scoreThreshold: 0.5 };

Deno.test("nmsSsd drops a box overlapping a better one by more than the threshold", () => {
  // Box 1 covers 90% of box 0; box 2 is elsewhere.
  const corners = [0, 0, 1, 1, 0, 0, 1, 0.9, 2, 2, 3, 3];
  assert.deepEqual(nmsSsd(corners, [0.9, 0.8, 0.7], ssdOptions), [0, 2]);
});

Deno.test("nmsSsd keeps boxes at exactly the IoU threshold and drops scores at the score threshold", () => {
  // IoU of [0,0,1,1] and [0,0,1,0.5] is 0.5: kept (face-api suppresses only above it).
  const corners = [0, 0, 1, 1, 0, 0, 1, 0.5, 5, 5, 6, 6];
  assert.deepEqual(nmsSsd(corners, [0.9, 0.8, 0.5], ssdOptions), [0, 1]);
});

Deno.test("nmsSsd orders equal scores by index and stops at maxOutputSize", () => {
  const corners = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
  assert.deepEqual(nmsSsd(corners, [0.7, 0.9, 0.7], ssdOptions), [1, 0, 2]);
  assert.deepEqual(nmsSsd(corners, [0.7, 0.9, 0.7], { ...ssdOptions, maxOutputSize: 2 }), [1, 0]);
});

Deno.test("nmsSsd refuses corners that do not hold four values per score", () => {
  assert.throws(() => nmsSsd([0, 0, 1], [0.9], ssdOptions), /4 corner values per score/);
});

Deno.test("iouCorners accepts corners in either order and gives empty boxes no overlap", () => {
  assert.equal(iouCorners([0, 0, 2, 2, 2, 2, 0, 0], 0, 1), 1);
  assert.equal(iouCorners([0, 0, 0, 2, 0, 0, 0, 2], 0, 1), 0);
});

const box = fc.record({
  y: fc.double({ min: 0, max: 1, noNaN: true }),
  x: fc.double({ min: 0, max: 1, noNaN: true }),
  h: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  w: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  score: fc.double({ min: 0, max: 1, noNaN: true }),
});

Deno.test("nmsSsd keeps exactly the greedy best-first non-overlapping set (property)", () => {
  fc.assert(
    fc.property(fc.array(box, { maxLength: 40 }), fc.integer({ min: 1, max: 50 }), (bs, cap) => {
      const corners = bs.flatMap((b) => [b.y, b.x, b.y + b.h, b.x + b.w]);
      const scores = bs.map((b) => b.score);
      const kept = nmsSsd(corners, scores, { ...ssdOptions, maxOutputSize: cap });
      // Model: walk candidates best first (stable), keep those not overlapping a kept one.
      const order = scores.map((s, i) => [s, i]).filter(([s]) => s > 0.5)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
      const model: number[] = [];
      for (const i of order) {
        if (model.length === Math.min(cap, scores.length)) break;
        if (model.every((j) => iouCorners(corners, i, j) <= 0.5)) model.push(i);
      }
      assert.deepEqual(kept, model);
    }),
    { seed: 546, numRuns: 300 },
  );
});

Deno.test("nmsTiny keeps the best box and drops those overlapping it by more than the threshold", () => {
  const a = { x: 0, y: 0, width: 10, height: 10 };
  const b = { x: 1, y: 0, width: 10, height: 10 }; // IoU with a: 90/110
  const c = { x: 20, y: 20, width: 5, height: 5 };
  assert.deepEqual(nmsTiny([a, b, c], [0.6, 0.9, 0.7], 0.4), [1, 2]);
});

Deno.test("nmsTiny picks the later index among equal scores, as face-api's pop does", () => {
  const a = { x: 0, y: 0, width: 10, height: 10 };
  assert.deepEqual(nmsTiny([a, a], [0.8, 0.8], 0.4), [1]);
});

Deno.test("nmsTiny drops an empty box overlapping another empty box (NaN IoU)", () => {
  const empty = { x: 3, y: 3, width: 0, height: 0 };
  assert.ok(Number.isNaN(iouBoxes(empty, empty)));
  assert.deepEqual(nmsTiny([empty, empty], [0.9, 0.8], 0.4), [0]);
});

Deno.test("nmsTiny refuses boxes and scores of different lengths", () => {
  assert.throws(() => nmsTiny([], [0.5], 0.4), /0 boxes but 1 scores/);
});
