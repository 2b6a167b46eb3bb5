import { convertFaceRecognition } from "./convert/face_recognition.ts";
import { computeDescriptor } from "./embed.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { createSession } from "./runtime/session.ts";

function crop(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { width, height, data };
}

const model = await convertFaceRecognition();
const web = await createSession(model.onnx, { backend: "web", threads: 1 });
const native = await createSession(model.onnx, { backend: "native", threads: 1 });
const face = crop(177, 240);

Deno.bench("convertFaceRecognition (tfjs weights → ONNX bytes)", { n: 10 }, async () => {
  await convertFaceRecognition();
});

Deno.bench(
  "computeDescriptor 177x240 crop, web backend, 1 thread",
  { group: "embed" },
  async () => {
    await computeDescriptor(web, model.input, face);
  },
);

Deno.bench(
  "computeDescriptor 177x240 crop, native backend, 1 thread",
  { group: "embed" },
  async () => {
    await computeDescriptor(native, model.input, face);
  },
);
