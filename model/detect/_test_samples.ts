/**
 * Test-only: face-api's demo photos as RgbImage, and a face-api detection as our FaceDetection.
 * @module
 */
import { decode, Image } from "imagescript";
import { FACE_API_SAMPLES_DIR } from "../../tests/face_api_reference.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import type { FaceDetection } from "./ssd.ts";

/** The six real photos shipped in face-api's demo folder (1920 wide, several faces each). */
export const SAMPLE_NAMES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);

/** Decodes one demo photo, dropping alpha. */
export async function loadSample(name: string): Promise<RgbImage> {
  const img = await decode(await Deno.readFile(`${FACE_API_SAMPLES_DIR}${name}`));
  if (!(img instanceof Image)) throw new Error(`${name} is not a still image`);
  const { width, height, bitmap } = img;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(bitmap.subarray(i * 4, i * 4 + 3), i * 3);
  return { width, height, data };
}

/** face-api's FaceDetection (class instance) as a plain FaceDetection. */
// deno-lint-ignore no-explicit-any
export function fromReference(d: any): FaceDetection {
  return {
    box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height },
    score: d.score,
  };
}
