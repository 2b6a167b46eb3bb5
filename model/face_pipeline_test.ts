import assert from "node:assert/strict";
import { analyzeFaces, type FaceStages } from "./face_pipeline.ts";
import type { RgbImage } from "./image/rgb_image.ts";

// These tests pin the composition (ordering, shifting, clipping, skipping); the networks
// themselves are checked against face-api in the fidelity tests.
const image: RgbImage = { width: 100, height: 80, data: new Uint8Array(100 * 80 * 3) };

function landmarksAt(eyeY: number, mouthY: number) {
  return Array.from({ length: 68 }, (_, i) => {
    if (i >= 36 && i < 42) return { x: 8, y: eyeY };
    if (i >= 42 && i < 48) return { x: 16, y: eyeY };
    if (i >= 48) return { x: 12, y: mouthY };
    return { x: 0, y: 0 };
  });
}

function stages(boxes: { x: number; y: number; width: number; height: number }[]): FaceStages & {
  seen: RgbImage[];
} {
  const seen: RgbImage[] = [];
  return {
    seen,
    detect: () => Promise.resolve(boxes.map((box, i) => ({ box, score: 0.9 - i * 0.1 }))),
    landmarks: (face) => {
      seen.push(face);
      return Promise.resolve(landmarksAt(6, 15));
    },
    embed: (face) => Promise.resolve(new Float32Array([face.width, face.height])),
  };
}

Deno.test("analyzeFaces returns faces largest first with landmarks shifted into the image", async () => {
  const s = stages([{ x: 10.5, y: 5, width: 20, height: 20 }, {
    x: 50,
    y: 30,
    width: 30,
    height: 40,
  }]);
  const { faces } = await analyzeFaces(image, s);
  assert.equal(faces.length, 2);
  assert.deepEqual(faces[0].box, { x: 50, y: 30, width: 30, height: 40 });
  assert.deepEqual(faces[1].landmarks[36], { x: 18.5, y: 11 });
  // The landmark crop of the second face is the floored, clipped detection box.
  assert.deepEqual([s.seen[1].width, s.seen[1].height], [20, 20]);
});

Deno.test("analyzeFaces skips a detection that lies wholly outside the image", async () => {
  const { faces } = await analyzeFaces(image, stages([{ x: 200, y: 200, width: 10, height: 10 }]));
  assert.deepEqual(faces, []);
});

Deno.test("analyzeFaces embeds at most facesMax faces, keeping the largest", async () => {
  const boxes = [1, 2, 3, 4].map((i) => ({ x: i * 10, y: 0, width: 5 + i, height: 5 + i }));
  const { faces } = await analyzeFaces(image, stages(boxes), { facesMax: 2 });
  assert.deepEqual(faces.map((f) => f.box.width), [9, 8]);
});

Deno.test("analyzeFaces times each stage with the injected clock", async () => {
  let t = 0;
  const { timingsMs } = await analyzeFaces(image, stages([{ x: 0, y: 0, width: 30, height: 30 }]), {
    nowMs: () => (t += 5),
  });
  assert.deepEqual(timingsMs, { detect: 5, landmarks: 5, embed: 5 });
});
