/**
 * Test-only: face-api's demo photos as RgbImage, and a face-api detection as our FaceDetection.
 * @module
 */
import { loadSamplePhoto } from "../../testing/face_api_reference.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import { detectFacesSsd, type FaceDetection } from "./ssd.ts";
import { ssdMobilenetv1Converter } from "../convert/ssd_mobilenetv1.ts";
import { cropImage } from "../face_geometry.ts";
import { toNetInput } from "../image/net_input.ts";
import { createSession } from "../runtime/session.ts";

/** The six real photos shipped in face-api's demo folder (1920 wide, several faces each). */
export const SAMPLE_NAMES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);

/** Decodes one demo photo. */
export const loadSample = loadSamplePhoto;

/** face-api's FaceDetection (class instance) as a plain FaceDetection. */
// deno-lint-ignore no-explicit-any
export function fromReference(d: any): FaceDetection {
  return {
    box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height },
    score: d.score,
  };
}

/** A 64×64 picture of one face about 25 px wide, like the course's images, from a demo photo. */
export async function smallFace(): Promise<RgbImage> {
  const photo = await loadSample("sample2.jpg");
  const session = await createSession((await ssdMobilenetv1Converter.convert()).onnx);
  const [face] = await detectFacesSsd(session, photo);
  await session.release();
  const side = Math.round(face.box.width * 2.5);
  const x = Math.max(0, Math.round(face.box.x + face.box.width / 2 - side / 2));
  const y = Math.max(0, Math.round(face.box.y + face.box.height / 2 - side / 2));
  const crop = cropImage(photo, { x, y, width: side, height: side });
  const small = toNetInput(crop, { size: 64 });
  const data = new Uint8Array(64 * 64 * 3);
  for (let p = 0; p < 64 * 64; p++) {
    for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.round(small.data[c * 64 * 64 + p]);
  }
  return { width: 64, height: 64, data };
}
