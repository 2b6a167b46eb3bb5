import assert from "node:assert/strict";
import {
  loadReference,
  loadSamplePhoto,
  toReferenceTensor,
} from "../testing/face_api_reference.ts";
import { faceLandmark68Converter } from "./convert/face_landmark_68.ts";
import type { ConvertedModel } from "./convert/types.ts";
import { type Box, clipBox, cropImage, type Point } from "./face_geometry.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { detectLandmarks, landmarksFromNetOutput } from "./landmarks.ts";
import { type Backend, createSession } from "./runtime/session.ts";

/** The fidelity bound the service promises for landmarks, in crop pixels. */
const LANDMARK_DIFF_PX_MAX = 0.5;

function loadSample(n: number): Promise<RgbImage> {
  return loadSamplePhoto(`sample${n}.jpg`);
}

/**
 * Face crops from real photos: each reference SSD detection as face-api crops it (tall boxes),
 * plus the same face widened 1.5x + 1 px (wide crops with an odd padding split).
 */
async function sampleCrops(samples: readonly number[]): Promise<RgbImage[]> {
  const { faceapi } = await loadReference();
  const crops: RgbImage[] = [];
  for (const n of samples) {
    const image = await loadSample(n);
    const tensor = toReferenceTensor(image);
    const detections = await faceapi.detectAllFaces(tensor, new faceapi.SsdMobilenetv1Options());
    tensor.dispose();
    assert.ok(detections.length > 0, `no face found in sample${n}.jpg`);
    for (const { box } of detections as { box: Box }[]) {
      crops.push(cropImage(image, clipBox(box, image.width, image.height)));
      const wide = {
        x: box.x - box.width * 0.25,
        y: box.y,
        width: box.width * 1.5 + 1,
        height: box.height * 0.8,
      };
      crops.push(cropImage(image, clipBox(wide, image.width, image.height)));
    }
  }
  return crops;
}

let cropsOnce: Promise<RgbImage[]> | undefined;
const crops = () => cropsOnce ??= sampleCrops([1, 2, 3]);
let modelOnce: Promise<ConvertedModel> | undefined;
const model = () => modelOnce ??= faceLandmark68Converter.convert();

async function referenceLandmarks(crop: RgbImage): Promise<Point[]> {
  const { faceapi } = await loadReference();
  const tensor = toReferenceTensor(crop);
  const result = await faceapi.nets.faceLandmark68Net.detectLandmarks(tensor);
  tensor.dispose();
  return result.positions.map((p: Point) => ({ x: p.x, y: p.y }));
}

/** Largest coordinate difference over all points and crops, in pixels. */
async function fidelityPx(backend: Backend): Promise<{ diffPx: number; crops: number }> {
  const { input, onnx } = await model();
  const session = await createSession(onnx, { backend });
  let diffPx = 0;
  const all = await crops();
  try {
    for (const crop of all) {
      const ours = await detectLandmarks(session, input, crop);
      const theirs = await referenceLandmarks(crop);
      assert.equal(ours.length, 68);
      for (let i = 0; i < 68; i++) {
        diffPx = Math.max(
          diffPx,
          Math.abs(ours[i].x - theirs[i].x),
          Math.abs(ours[i].y - theirs[i].y),
        );
      }
    }
  } finally {
    await session.release();
  }
  return { diffPx, crops: all.length };
}

Deno.test("landmarksFromNetOutput maps raw outputs to crop pixels exactly as face-api's postProcess", async () => {
  const { faceapi, tf } = await loadReference();
  let state = 5;
  const raw = Float32Array.from({ length: 136 }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  });
  for (const [width, height] of [[177, 240], [240, 177], [201, 130], [150, 150], [3, 7]]) {
    const rel = tf.tidy(() =>
      faceapi.nets.faceLandmark68Net.postProcess(tf.tensor2d(raw, [1, 136]), 112, [{
        width,
        height,
      }])
    );
    const values = await rel.data();
    rel.dispose();
    const expected = Array.from({ length: 68 }, (_, i) => ({
      x: values[2 * i] * width,
      y: values[2 * i + 1] * height,
    }));
    assert.deepEqual(landmarksFromNetOutput(raw, { width, height }, 112), expected);
  }
});

Deno.test("landmarksFromNetOutput refuses an output that is not 136 values", () => {
  assert.throws(
    () => landmarksFromNetOutput(new Float32Array(10), { width: 5, height: 5 }, 112),
    /gave 10 values, expected 136/,
  );
});

Deno.test("detectLandmarks matches face-api within 0.5 px on real face crops, tall and wide", async () => {
  const { diffPx, crops } = await fidelityPx("web");
  console.log(`landmarks, web backend: ${crops} crops, max |diff| ${diffPx.toExponential(2)} px`);
  assert.ok(crops >= 12);
  assert.ok(diffPx <= LANDMARK_DIFF_PX_MAX, `max diff ${diffPx} px`);
});

Deno.test("detectLandmarks on the native backend matches face-api within 0.5 px too", async () => {
  const { diffPx, crops } = await fidelityPx("native");
  console.log(
    `landmarks, native backend: ${crops} crops, max |diff| ${diffPx.toExponential(2)} px`,
  );
  assert.ok(diffPx <= LANDMARK_DIFF_PX_MAX, `max diff ${diffPx} px`);
});

Deno.test("detectLandmarks refuses an InputSpec whose input the session does not have", async () => {
  const { input, onnx } = await model();
  const session = await createSession(onnx);
  try {
    const crop = { width: 4, height: 4, data: new Uint8Array(48) };
    await assert.rejects(
      () => detectLandmarks(session, { ...input, name: "image" }, crop),
      /not "image"/,
    );
    await assert.rejects(
      () => detectLandmarks(session, { ...input, dims: [1, 3, 112, 100] }, crop),
      /take squares/,
    );
  } finally {
    await session.release();
  }
});
