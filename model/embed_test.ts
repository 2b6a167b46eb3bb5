import assert from "node:assert/strict";
import {
  loadReference,
  loadSamplePhoto,
  toReferenceTensor,
} from "../testing/face_api_reference.ts";
import { faceRecognitionConverter } from "./convert/face_recognition.ts";
import type { ConvertedModel } from "./convert/types.ts";
import { type Box, clipBox, cropImage } from "./face_geometry.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { computeDescriptor, DESCRIPTOR_LENGTH, descriptorDistance } from "./embed.ts";
import { type Backend, createSession } from "./runtime/session.ts";

/** The fidelity bound the service promises for descriptors (face-api matches at distance 0.6). */
const DESCRIPTOR_DIFF_MAX = 1e-4;

function loadSample(n: number): Promise<RgbImage> {
  return loadSamplePhoto(`sample${n}.jpg`);
}

/** A crop and the descriptor face-api computed for exactly those pixels. */
interface Case {
  readonly label: string;
  readonly crop: RgbImage;
  readonly reference: Float32Array;
}

/**
 * Runs face-api's whole `detectAllFaces().withFaceLandmarks().withFaceDescriptors()` on real
 * photos and keeps, per face, the dlib-aligned crop it embedded (square unless clipped) with its
 * descriptor, plus the detection crop (tall: the padding path) with face-api's descriptor of it.
 */
async function sampleCases(samples: readonly number[]): Promise<Case[]> {
  const { faceapi } = await loadReference();
  const cases: Case[] = [];
  for (const n of samples) {
    const image = await loadSample(n);
    const tensor = toReferenceTensor(image);
    const results = await faceapi.detectAllFaces(tensor, new faceapi.SsdMobilenetv1Options())
      .withFaceLandmarks().withFaceDescriptors();
    tensor.dispose();
    assert.ok(results.length > 0, `no face found in sample${n}.jpg`);
    for (const [i, result] of results.entries()) {
      // The box face-api's ComputeFaceDescriptorsTasks crops, clipped as extractFaceTensors does.
      const aligned: Box = result.landmarks.align(null, { useDlibAlignment: true });
      const alignedCrop = cropImage(image, clipBox(aligned, image.width, image.height));
      cases.push({
        label: `sample${n} face ${i} aligned`,
        crop: alignedCrop,
        reference: result.descriptor,
      });

      const detectionCrop = cropImage(
        image,
        clipBox(result.detection.box, image.width, image.height),
      );
      const cropTensor = toReferenceTensor(detectionCrop);
      const reference = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(cropTensor);
      cropTensor.dispose();
      cases.push({ label: `sample${n} face ${i} detection`, crop: detectionCrop, reference });
    }
  }
  return cases;
}

let casesOnce: Promise<Case[]> | undefined;
const cases = () => casesOnce ??= sampleCases([4, 5, 6]);
let modelOnce: Promise<ConvertedModel> | undefined;
const model = () => modelOnce ??= faceRecognitionConverter.convert();

async function fidelity(backend: Backend): Promise<{ diffMax: number; count: number }> {
  const { input, onnx } = await model();
  const session = await createSession(onnx, { backend });
  let diffMax = 0;
  const all = await cases();
  try {
    for (const { label, crop, reference } of all) {
      const ours = await computeDescriptor(session, input, crop);
      assert.equal(ours.length, DESCRIPTOR_LENGTH);
      let diff = 0;
      for (let i = 0; i < DESCRIPTOR_LENGTH; i++) {
        diff = Math.max(diff, Math.abs(ours[i] - reference[i]));
      }
      assert.ok(diff <= DESCRIPTOR_DIFF_MAX, `${label} (${crop.width}x${crop.height}): ${diff}`);
      diffMax = Math.max(diffMax, diff);
    }
  } finally {
    await session.release();
  }
  return { diffMax, count: all.length };
}

Deno.test("computeDescriptor matches face-api's withFaceDescriptors within 1e-4 on real faces", async () => {
  const { diffMax, count } = await fidelity("web");
  console.log(`descriptors, web backend: ${count} crops, max |diff| ${diffMax.toExponential(2)}`);
  assert.ok(count >= 26);
});

Deno.test("computeDescriptor on the native backend matches face-api within 1e-4 too", async () => {
  const { diffMax, count } = await fidelity("native");
  console.log(
    `descriptors, native backend: ${count} crops, max |diff| ${diffMax.toExponential(2)}`,
  );
});

Deno.test("descriptorDistance equals face-api's euclideanDistance, small for the same face", async () => {
  const { faceapi } = await loadReference();
  const all = await cases();
  // Aligned and detection crops of one face are the same person; other faces are not.
  const same = descriptorDistance(all[0].reference, all[1].reference);
  const other = descriptorDistance(all[0].reference, all[2].reference);
  assert.equal(same, faceapi.euclideanDistance(all[0].reference, all[1].reference));
  assert.equal(other, faceapi.euclideanDistance(all[0].reference, all[2].reference));
  assert.ok(same < 0.6 && other > same, `same ${same}, other ${other}`);
  assert.throws(() => descriptorDistance(new Float32Array(2), new Float32Array(3)), RangeError);
});

Deno.test("computeDescriptor refuses a session that is not the recognition net", async () => {
  const { input, onnx } = await model();
  const session = await createSession(onnx);
  try {
    const crop = { width: 4, height: 4, data: new Uint8Array(48) };
    await assert.rejects(
      () => computeDescriptor(session, { ...input, name: "x" }, crop),
      /not "x"/,
    );
  } finally {
    await session.release();
  }
});
