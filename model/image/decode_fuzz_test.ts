import assert from "node:assert/strict";
import * as fc from "fast-check";
import { decodeImage } from "./decode.ts";
import { IMAGE_ERROR_CODES, ImageError } from "./errors.ts";
import { assertRgbImage, type RgbImage } from "./rgb_image.ts";
import { mutateAll, type Mutation, mutationArbitrary } from "./_fuzz_mutations.ts";
import {
  encodeJpeg,
  encodePng,
  exifSegment,
  exifTiff,
  rgbToYcbcr,
} from "../../testing/image_fixtures.ts";

/** Generous: a damaged 96×64 file decodes in ~1-5 ms; this only catches hangs and blow-ups. */
const CASE_MS_MAX = 2000;
/** The full-size sample decodes in ~100-200 ms on the shared CI machine. */
const LARGE_CASE_MS_MAX = 5000;

const SAMPLE_JPEG_URL = new URL(
  "../../node_modules/@vladmandic/face-api/demo/sample1.jpg",
  import.meta.url,
);
const sampleBytes = await Deno.readFile(SAMPLE_JPEG_URL);
const sample = await decodeImage(sampleBytes);

/** Real photo content (a face region of the sample) for the small fixtures. */
function photo(x: number, y: number): [number, number, number] {
  const at = ((y + 300) * sample.width + x + 800) * 3;
  return [sample.data[at], sample.data[at + 1], sample.data[at + 2]];
}

const SEED_FILES: [string, Uint8Array][] = [
  [
    "4:2:0 JPEG with EXIF",
    encodeJpeg({
      width: 96,
      height: 64,
      components: 3,
      lumaSampling: 2,
      segments: [exifSegment(exifTiff(6))],
      sample: (x, y, c) => rgbToYcbcr(...photo(x, y))[c],
    }),
  ],
  [
    "progressive JPEG",
    encodeJpeg({
      width: 56,
      height: 40,
      components: 3,
      lumaSampling: 2,
      progressive: true,
      sample: (x, y, c) => rgbToYcbcr(...photo(x, y))[c],
    }),
  ],
  [
    "grayscale JPEG",
    encodeJpeg({
      width: 40,
      height: 40,
      components: 1,
      sample: (x, y) => photo(x, y)[1],
    }),
  ],
  [
    "RGBA PNG",
    encodePng({
      width: 48,
      height: 40,
      colorType: 6,
      bitDepth: 8,
      sample: (x, y, c) => c === 3 ? x * 5 : photo(x, y)[c],
    }),
  ],
  [
    "interlaced palette PNG",
    encodePng({
      width: 33,
      height: 20,
      colorType: 3,
      bitDepth: 4,
      interlaced: true,
      palette: Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, i * 8]),
      sample: (x, y) => (x ^ y) & 15,
    }),
  ],
];

/** Turns a JPEG's SOF0 into SOF2 so the progressive decoding path sees the damage too. */
function asProgressive(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const sof = out.findIndex((b, i) => b === 0xff && out[i + 1] === 0xc0);
  if (sof >= 0) out[sof + 1] = 0xc2;
  return out;
}

async function decodeWithinBound(bytes: Uint8Array, msMax: number): Promise<RgbImage | ImageError> {
  const started = performance.now();
  let outcome: RgbImage | ImageError;
  try {
    outcome = await decodeImage(bytes);
    assertRgbImage(outcome);
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    assert.ok(IMAGE_ERROR_CODES.includes(error.code));
    assert.ok(error.message.length > 20, "the message explains the problem");
    outcome = error;
  }
  const ms = performance.now() - started;
  assert.ok(ms < msMax, `decoding took ${ms.toFixed(0)} ms (limit ${msMax} ms)`);
  return outcome;
}

const damage = fc.record({
  mutations: fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }),
  progressive: fc.boolean(),
});

for (const [name, seedFile] of SEED_FILES) {
  Deno.test(`decodeImage returns an image or an ImageError for any damage to its ${name} fixture`, async () => {
    assertRgbImage(await decodeImage(seedFile)); // the undamaged file decodes
    await fc.assert(
      fc.asyncProperty(damage, async ({ mutations, progressive }) => {
        const damaged = mutateAll(seedFile, mutations);
        await decodeWithinBound(progressive ? asProgressive(damaged) : damaged, CASE_MS_MAX);
      }),
      { numRuns: 300 },
    );
  });
}

Deno.test("decodeImage returns an image or an ImageError for damage to a full-size camera JPEG", async () => {
  await fc.assert(
    fc.asyncProperty(damage, async ({ mutations }: { mutations: Mutation[] }) => {
      await decodeWithinBound(mutateAll(sampleBytes, mutations), LARGE_CASE_MS_MAX);
    }),
    { numRuns: 25 },
  );
});

Deno.test("decodeImage returns an image or an ImageError for random bytes behind a JPEG or PNG signature", async () => {
  const signatures = [
    [0xff, 0xd8, 0xff],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...signatures),
      fc.uint8Array({ maxLength: 2048 }),
      async (signature, tail) => {
        await decodeWithinBound(new Uint8Array([...signature, ...tail]), CASE_MS_MAX);
      },
    ),
    { numRuns: 300 },
  );
});
