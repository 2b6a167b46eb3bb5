import { convertFaceLandmark68 } from "./convert/face_landmark_68.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { detectLandmarks } from "./landmarks.ts";
import { createSession } from "./runtime/session.ts";

function crop(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { width, height, data };
}

const model = await convertFaceLandmark68();
const web = await createSession(model.onnx, { backend: "web", threads: 1 });
const native = await createSession(model.onnx, { backend: "native", threads: 1 });
const face = crop(177, 240);

Deno.bench("convertFaceLandmark68 (tfjs weights → ONNX bytes)", { n: 20 }, async () => {
  await convertFaceLandmark68();
});

Deno.bench(
  "detectLandmarks 177x240 crop, web backend, 1 thread",
  { group: "landmarks" },
  async () => {
    await detectLandmarks(web, model.input, face);
  },
);

Deno.bench(
  "detectLandmarks 177x240 crop, native backend, 1 thread",
  { group: "landmarks" },
  async () => {
    await detectLandmarks(native, model.input, face);
  },
);
