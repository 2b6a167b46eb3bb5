import assert from "node:assert/strict";
import { ssdMobilenetv1Converter } from "../convert/ssd_mobilenetv1.ts";
import { createSession } from "../runtime/session.ts";
import { padToCanvas } from "./pad_to_canvas.ts";
import { detectFacesSsd } from "./ssd.ts";
import { smallFace } from "./_test_samples.ts";

Deno.test("padToCanvas puts a small image at the top-left of a black square", () => {
  const image = { width: 2, height: 3, data: Uint8Array.from({ length: 18 }, (_, i) => i + 1) };
  const canvas = padToCanvas(image, 4);
  assert.equal(canvas.width, 4);
  assert.equal(canvas.height, 4);
  const px = (x: number, y: number) =>
    Array.from(canvas.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [1, 2, 3]);
  assert.deepEqual(px(1, 2), [16, 17, 18]);
  assert.deepEqual(px(2, 0), [0, 0, 0]);
  assert.deepEqual(px(0, 3), [0, 0, 0]);
});

Deno.test("padToCanvas returns the image itself when one side already reaches the size", () => {
  const image = { width: 300, height: 10, data: new Uint8Array(300 * 10 * 3) };
  assert.equal(padToCanvas(image, 256), image);
});

Deno.test("padToCanvas refuses a size outside 1..4096", () => {
  const image = { width: 1, height: 1, data: new Uint8Array(3) };
  assert.throws(() => padToCanvas(image, 0), /1\.\.4096, got 0/);
  assert.throws(() => padToCanvas(image, 5000), /got 5000/);
});

Deno.test("padToCanvas lets SSD find the face in a 64×64 crop, boxes in the crop's pixels", async () => {
  const image = await smallFace();
  const session = await createSession((await ssdMobilenetv1Converter.convert()).onnx);
  try {
    // As is (upsampled 8× to 512), SSD finds nothing in this crop, as face-api does.
    const faces = await detectFacesSsd(session, padToCanvas(image, 256));
    assert.equal(faces.length, 1, JSON.stringify(faces));
    const { x, y, width, height } = faces[0].box;
    // The face sits in the middle of the crop, about 64 / 2.5 ≈ 26 px wide.
    assert.ok(x > 10 && y > 5 && x + width < 54 && y + height < 60, JSON.stringify(faces[0].box));
    assert.ok(width > 15 && width < 40, JSON.stringify(faces[0].box));
  } finally {
    await session.release();
  }
});
