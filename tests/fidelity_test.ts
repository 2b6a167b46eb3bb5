/**
 * Fidelity to the original: our whole pipeline (ONNX models converted from face-api's weights,
 * run on onnxruntime) against face-api 1.7.15 itself on tfjs-WASM, on the real photos shipped in
 * the face-api package, fed the very same decoded pixels. The claim we make from this: our
 * outputs are face-api's outputs, so face-api's published accuracy is ours.
 */
import assert from "node:assert/strict";
import { iou } from "../model/face_geometry.ts";
import { decodeImage } from "../model/image/decode.ts";
import { Recognizer } from "../model/recognizer.ts";
import { ensureModels } from "../testing/models.ts";
import {
  FACE_API_SAMPLES_DIR,
  loadReference,
  toReferenceTensor,
} from "../testing/face_api_reference.ts";

const IOU_MIN = 0.99;
const LANDMARK_PX_MAX = 0.5;
const DESCRIPTOR_DIFF_MAX = 1e-4;
const SAMPLES = ["sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "sample5.jpg"];

interface Worst {
  iou: number;
  landmarkPx: number;
  descriptor: number;
  faces: number;
}

// deno-lint-ignore no-explicit-any
const referenceCache = new Map<string, Promise<any[]>>();

/** face-api's full result for one decoded image, computed once per process. */
function referenceResult(name: string, image: Awaited<ReturnType<typeof decodeImage>>) {
  let result = referenceCache.get(name);
  if (!result) {
    result = (async () => {
      const { faceapi, tf } = await loadReference();
      const tensor = toReferenceTensor(image);
      const faces = await faceapi
        .detectAllFaces(tensor, new faceapi.SsdMobilenetv1Options())
        .withFaceLandmarks()
        .withFaceDescriptors();
      tf.dispose(tensor);
      return faces;
    })();
    referenceCache.set(name, result);
  }
  return result;
}

async function compareOnSamples(backend: "web" | "native"): Promise<Worst> {
  await ensureModels();
  const ours = await Recognizer.load({ backend, detector: "ssd" });
  const worst: Worst = { iou: 1, landmarkPx: 0, descriptor: 0, faces: 0 };
  try {
    for (const name of SAMPLES) {
      const image = await decodeImage(await Deno.readFile(FACE_API_SAMPLES_DIR + name));
      const reference = await referenceResult(name, image);
      const { faces } = await ours.analyzeImage(image);
      assert.equal(faces.length, reference.length, `${name}: face count`);
      for (const ref of reference) {
        const refBox = ref.detection.box;
        const match = faces.reduce((best, f) =>
          iou(f.box, refBox) > iou(best.box, refBox) ? f : best
        );
        const overlap = iou(match.box, refBox);
        assert.ok(overlap >= IOU_MIN, `${name}: box IoU ${overlap} < ${IOU_MIN}`);
        assert.ok(Math.abs(match.score - ref.detection.score) < 1e-3, `${name}: score`);
        let landmarkPx = 0;
        ref.landmarks.positions.forEach((p: { x: number; y: number }, i: number) => {
          landmarkPx = Math.max(
            landmarkPx,
            Math.hypot(p.x - match.landmarks[i].x, p.y - match.landmarks[i].y),
          );
        });
        assert.ok(landmarkPx <= LANDMARK_PX_MAX, `${name}: landmark off by ${landmarkPx} px`);
        let descriptor = 0;
        ref.descriptor.forEach((v: number, i: number) => {
          descriptor = Math.max(descriptor, Math.abs(v - match.embedding[i]));
        });
        assert.ok(
          descriptor <= DESCRIPTOR_DIFF_MAX,
          `${name}: descriptor differs by ${descriptor}`,
        );
        worst.iou = Math.min(worst.iou, overlap);
        worst.landmarkPx = Math.max(worst.landmarkPx, landmarkPx);
        worst.descriptor = Math.max(worst.descriptor, descriptor);
        worst.faces++;
      }
    }
  } finally {
    await ours.close();
  }
  return worst;
}

Deno.test("the pipeline on onnxruntime-web finds face-api's faces, landmarks and descriptors", async () => {
  const worst = await compareOnSamples("web");
  // Every sample photo has people in it: a run that compared nothing proves nothing.
  assert.ok(worst.faces >= SAMPLES.length, `only ${worst.faces} faces compared`);
  console.log(`fidelity (web): ${JSON.stringify(worst)}`);
});

Deno.test("the pipeline on onnxruntime-node matches face-api as closely", async () => {
  const worst = await compareOnSamples("native");
  assert.ok(worst.faces >= SAMPLES.length, `only ${worst.faces} faces compared`);
  console.log(`fidelity (native): ${JSON.stringify(worst)}`);
});
