/**
 * Damage to a WebP, GIF, BMP, TIFF, HEIC or AVIF never crashes, hangs or escapes as anything but
 * an {@linkcode ImageError}: fast-check mutates a small valid file of each format (flipped,
 * overwritten, inserted, deleted and duplicated bytes, cuts) and every outcome must be an image
 * or an ImageError within a time bound.
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import { decodeImage } from "./decode.ts";
import { IMAGE_ERROR_CODES, ImageError } from "./errors.ts";
import { assertRgbImage, type RgbImage } from "./rgb_image.ts";
import { mutateAll, mutationArbitrary } from "./_fuzz_mutations.ts";
import {
  encodeAvif,
  encodeBmp,
  encodeGif,
  encodeHeic,
  encodeTiff,
  encodeWebp,
  hasHeifEnc,
} from "../../testing/photo_encoders.ts";

/** Generous: a damaged 40×32 file decodes in a few ms; this only catches hangs and blow-ups. */
const CASE_MS_MAX = 2000;
const RUNS = 300;

const sample = await decodeImage(
  await Deno.readFile(
    new URL("../../node_modules/@vladmandic/face-api/demo/sample1.jpg", import.meta.url),
  ),
);
const crop: RgbImage = (() => {
  const width = 40;
  const height = 32;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y + 300) * sample.width + 800) * 3;
    data.set(sample.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
})();
const fewColours: RgbImage = { ...crop, data: crop.data.map((v) => v & 0xc0) };

const SEEDS: [string, () => Promise<Uint8Array> | Uint8Array][] = [
  ["lossy WebP", () => encodeWebp(crop, { quality: 80 })],
  ["lossless WebP", () => encodeWebp(crop, { lossless: true })],
  ["GIF", () => encodeGif(crop)],
  ["24-bit BMP", () => encodeBmp(crop)],
  ["RLE8 BMP", () => encodeBmp(fewColours, "8-rle")],
  ["TIFF", () => encodeTiff(crop)],
  ["AVIF", () => encodeAvif(crop, 60)],
];
if (hasHeifEnc()) SEEDS.push(["HEIC", () => encodeHeic(crop, 60)]);

async function decodeWithinBound(bytes: Uint8Array): Promise<void> {
  const started = performance.now();
  try {
    assertRgbImage(await decodeImage(bytes));
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    assert.ok(IMAGE_ERROR_CODES.includes(error.code));
    assert.ok(error.message.length > 20, "the message explains the problem");
  }
  const ms = performance.now() - started;
  assert.ok(ms < CASE_MS_MAX, `decoding took ${ms.toFixed(0)} ms (limit ${CASE_MS_MAX} ms)`);
}

for (const [name, make] of SEEDS) {
  Deno.test(`decodeImage returns an image or an ImageError for any damage to a ${name}`, async () => {
    const seed = await make();
    assertRgbImage(await decodeImage(seed)); // the undamaged file decodes
    await fc.assert(
      fc.asyncProperty(
        fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }),
        async (mutations) => await decodeWithinBound(mutateAll(seed, mutations)),
      ),
      { numRuns: RUNS },
    );
  });
}
