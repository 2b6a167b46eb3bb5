import { toNetInput } from "./net_input.ts";
import type { RgbImage } from "./rgb_image.ts";

function image(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { width, height, data };
}

const faceCrop = image(177, 240);
const photo = image(1920, 1280);
const mean = [122.782, 117.001, 104.298] as const;
const std = [255, 255, 255] as const;
const out150 = new Float32Array(3 * 150 * 150);

Deno.bench("toNetInput face crop 177x240 → 150 (recognition)", { group: "crop" }, () => {
  toNetInput(faceCrop, { size: 150, mean, std });
});

Deno.bench("toNetInput face crop 177x240 → 150 into a reused buffer", { group: "crop" }, () => {
  toNetInput(faceCrop, { size: 150, mean, std, out: out150 });
});

Deno.bench("toNetInput face crop 177x240 → 112 (landmarks)", { group: "crop" }, () => {
  toNetInput(faceCrop, { size: 112, mean, std });
});

Deno.bench("toNetInput photo 1920x1280 → 512 (detector, padding appended)", () => {
  toNetInput(photo, {
    size: 512,
    centered: false,
    mean: [127.5, 127.5, 127.5],
    std: [127.5, 127.5, 127.5],
  });
});
