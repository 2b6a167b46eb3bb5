import assert from "node:assert/strict";
import { ensureModels } from "../testing/models.ts";
import { decodeImage } from "./image/decode.ts";
import { cropImage } from "./face_geometry.ts";
import { Recognizer, SMALL_IMAGE_SIDE_MAX, tinyInputSizeForSmallImage } from "./recognizer.ts";

const SAMPLE = new URL(
  "../node_modules/@vladmandic/face-api/demo/sample2.jpg",
  import.meta.url,
);

Deno.test("tinyInputSizeForSmallImage gives the multiple of 32 at least twice the longer side", () => {
  assert.equal(tinyInputSizeForSmallImage({ width: 64, height: 64 }), 128);
  assert.equal(tinyInputSizeForSmallImage({ width: 50, height: 80 }), 160);
  assert.equal(tinyInputSizeForSmallImage({ width: 10, height: 5 }), 32);
});

Deno.test("Recognizer.load refuses an unknown detector and a confidence outside (0, 1)", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => Recognizer.load({ detector: "yolo" as any }),
    /detector "yolo" is not one of auto, ssd, tiny, blaze/,
  );
  await assert.rejects(() => Recognizer.load({ minConfidence: 1.5 }), /minConfidence.*1\.5/);
});

Deno.test("Recognizer finds a face cropped small under auto but not under ssd alone", async () => {
  await ensureModels();
  const photo = await decodeImage(await Deno.readFile(SAMPLE));
  const auto = await Recognizer.load({ detector: "auto" });
  const ssd = await Recognizer.load({ detector: "ssd" });
  try {
    const [face] = await ssd.detect(photo);
    // A loose crop around the face, downscaled by the pipeline's own crop to a course-like size.
    const side = Math.round(Math.max(face.box.width, face.box.height) * 1.8);
    const x = Math.max(0, Math.round(face.box.x + face.box.width / 2 - side / 2));
    const y = Math.max(0, Math.round(face.box.y + face.box.height / 2 - side / 2));
    const crop = cropImage(photo, { x, y, width: side, height: side });
    const small = downscale(crop, 64);
    assert.ok(Math.max(small.width, small.height) <= SMALL_IMAGE_SIDE_MAX);
    assert.equal((await ssd.detect(small)).length, 0, "SSD alone misses the small face");
    const found = await auto.detect(small);
    assert.equal(found.length, 1, "auto finds the small face");
    const { faces } = await auto.analyzeImage(small);
    assert.equal(faces[0].embedding.length, 128);
  } finally {
    await auto.close();
    await ssd.close();
  }
});

Deno.test("Recognizer.warmUp leaves results unchanged", async () => {
  await ensureModels();
  const bytes = await Deno.readFile(SAMPLE);
  const cold = await Recognizer.load();
  const warm = await Recognizer.load();
  try {
    await warm.warmUp();
    const a = await cold.recognize(bytes);
    const b = await warm.recognize(bytes);
    assert.deepEqual(b.faces, a.faces);
    assert.ok(a.faces.length >= 1);
  } finally {
    await cold.close();
    await warm.close();
  }
});

/** Nearest-neighbour downscale to `side` (the test needs a small image, not a faithful one). */
function downscale(image: { width: number; height: number; data: Uint8Array }, side: number) {
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = Math.floor((x * image.width) / side), sy = Math.floor((y * image.height) / side);
      for (let c = 0; c < 3; c++) {
        data[(y * side + x) * 3 + c] = image.data[(sy * image.width + sx) * 3 + c];
      }
    }
  }
  return { width: side, height: side, data };
}

Deno.test("Recognizer answers concurrent calls as it answers them one by one (onnxruntime-web runs one call of a session at a time)", async () => {
  await ensureModels();
  const bytes = await Deno.readFile(SAMPLE);
  const recognizer = await Recognizer.load({ detector: "blaze" });
  try {
    const alone = await recognizer.analyze(bytes);
    const image = await decodeImage(bytes);
    // Without the turns, the second call fails inside onnxruntime ("failed to call OrtRun()").
    const together = await Promise.all([
      recognizer.analyze(bytes),
      recognizer.analyzeImage(image),
      recognizer.detect(image),
      recognizer.analyze(bytes),
    ]);
    for (const analysis of [together[0], together[1], together[3]]) {
      assert.equal(analysis.faces.length, alone.faces.length);
      analysis.faces.forEach((face, i) => {
        assert.deepEqual(face.box, alone.faces[i].box);
        assert.deepEqual(face.embedding, alone.faces[i].embedding);
      });
    }
    assert.equal(together[2].length, alone.faces.length);
  } finally {
    await recognizer.close();
  }
});
