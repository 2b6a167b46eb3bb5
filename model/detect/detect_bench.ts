/**
 * `deno bench -A model/detect/detect_bench.ts`: detection latency per image, whole call
 * (input preparation + network + post-processing), one thread, both backends.
 * @module
 */
import { ssdMobilenetv1Converter } from "../convert/ssd_mobilenetv1.ts";
import { tinyFaceDetectorConverter } from "../convert/tiny_face_detector.ts";
import { createSession } from "../runtime/session.ts";
import { padToCanvas } from "./pad_to_canvas.ts";
import { decodeSsd, detectFacesSsd } from "./ssd.ts";
import { SSD_NAMES } from "../specs.ts";
import { detectFacesTiny } from "./tiny.ts";
import { toNetInput } from "../image/net_input.ts";
import { loadSample, smallFace } from "./_test_samples.ts";
import { SSD_INPUT_MEAN, SSD_INPUT_SIZE, SSD_INPUT_STD } from "../specs.ts";

const ssdOnnx = (await ssdMobilenetv1Converter.convert()).onnx;
const tinyOnnx = (await tinyFaceDetectorConverter.convert()).onnx;
const photo = await loadSample("sample1.jpg");
const small = await smallFace();
const canvas = padToCanvas(small, 256);

for (const backend of ["web", "native"] as const) {
  const ssd = await createSession(ssdOnnx, { backend });
  const tiny = await createSession(tinyOnnx, { backend });
  Deno.bench(
    `ssd ${backend}: 1920x1280 photo`,
    { group: `ssd-${backend}`, baseline: true },
    async () => {
      await detectFacesSsd(ssd, photo);
    },
  );
  Deno.bench(`ssd ${backend}: 64x64 on a 256 canvas`, { group: `ssd-${backend}` }, async () => {
    await detectFacesSsd(ssd, canvas);
  });
  Deno.bench(`tiny ${backend}: 1920x1280 photo, inputSize 416`, {
    group: `tiny-${backend}`,
    baseline: true,
  }, async () => {
    await detectFacesTiny(tiny, photo);
  });
  Deno.bench(`tiny ${backend}: 64x64, inputSize 128`, { group: `tiny-${backend}` }, async () => {
    await detectFacesTiny(tiny, small, { inputSize: 128 });
  });
  Deno.bench(
    `tiny ${backend}: 64x64 on a 256 canvas, inputSize 416`,
    { group: `tiny-${backend}` },
    async () => {
      await detectFacesTiny(tiny, canvas);
    },
  );
}

// Post-processing alone, on real outputs.
const ssdWeb = await createSession(ssdOnnx);
const input = toNetInput(photo, {
  size: SSD_INPUT_SIZE,
  centered: false,
  mean: SSD_INPUT_MEAN,
  std: SSD_INPUT_STD,
});
const out = await ssdWeb.run({ [SSD_NAMES.input]: { data: input.data, dims: input.dims } });
const outputs = {
  boxEncodings: out[SSD_NAMES.boxEncodings],
  classLogits: out[SSD_NAMES.classLogits],
  anchors: out[SSD_NAMES.anchors],
};
Deno.bench("decodeSsd: 5118 anchors → faces", () => {
  decodeSsd(outputs, photo);
});
