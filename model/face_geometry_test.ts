import assert from "node:assert/strict";
import { alignmentBox, clipBox, cropImage, iou, type Point } from "./face_geometry.ts";

Deno.test("clipBox floors and clips a box that overhangs the top-left and bottom-right", () => {
  assert.deepEqual(clipBox({ x: -3.5, y: 2.7, width: 20.2, height: 100 }, 10, 50), {
    x: 0,
    y: 2,
    width: 10,
    height: 47,
  });
});

Deno.test("clipBox gives an empty box for a box wholly outside the image", () => {
  const b = clipBox({ x: 20, y: 20, width: 5, height: 5 }, 10, 10);
  assert.ok(b.width <= 0 && b.height <= 0);
});

Deno.test("cropImage copies exactly the pixels of the box", () => {
  const image = { width: 4, height: 3, data: Uint8Array.from({ length: 36 }, (_, i) => i) };
  const crop = cropImage(image, { x: 1, y: 1, width: 2, height: 2 });
  // Pixel (1,1) starts at byte (1*4+1)*3 = 15; (2,1) at 18; (1,2) at 27; (2,2) at 30.
  assert.deepEqual(Array.from(crop.data), [15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
});

Deno.test("cropImage refuses a box outside the image", () => {
  const image = { width: 4, height: 3, data: new Uint8Array(36) };
  assert.throws(() => cropImage(image, { x: 3, y: 0, width: 2, height: 1 }), RangeError);
  assert.throws(() => cropImage(image, { x: 0, y: 0, width: 0, height: 1 }), RangeError);
});

Deno.test("alignmentBox sizes the box from the eye-to-mouth distance around the centroid", () => {
  // Eyes at (40,40) and (60,40), mouth at (50,62.5): eye-to-mouth = hypot(10, 22.5) ≈ 24.62.
  const pts: Point[] = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
  for (let i = 36; i < 42; i++) pts[i] = { x: 40, y: 40 };
  for (let i = 42; i < 48; i++) pts[i] = { x: 60, y: 40 };
  for (let i = 48; i < 68; i++) pts[i] = { x: 50, y: 62.5 };
  const size = Math.floor(Math.hypot(10, 22.5) / 0.45); // 54
  const refY = (40 + 40 + 62.5) / 3;
  const box = alignmentBox(pts, { width: 100, height: 100 });
  assert.deepEqual(box, {
    x: Math.floor(50 - 0.5 * size),
    y: Math.floor(refY - 0.43 * size),
    width: size,
    height: size,
  });
});

Deno.test("alignmentBox refuses a landmark list that is not 68 points", () => {
  assert.throws(() => alignmentBox([{ x: 0, y: 0 }], { width: 1, height: 1 }), /68 landmarks/);
});

Deno.test("iou is 1 for equal boxes, 0 for disjoint ones, and 1/7 for half-overlapping squares", () => {
  const a = { x: 0, y: 0, width: 2, height: 2 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { x: 5, y: 5, width: 1, height: 1 }), 0);
  assert.equal(iou(a, { x: 1, y: 1, width: 2, height: 2 }), 1 / 7);
});
