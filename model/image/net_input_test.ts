import assert from "node:assert/strict";
import * as fc from "fast-check";
import { loadReference, toReferenceTensor } from "../../testing/face_api_reference.ts";
import { toNetInput } from "./net_input.ts";
import type { RgbImage } from "./rgb_image.ts";
import { noiseImage } from "../../testing/noise.ts";

const FACE_API_MEAN = [122.782, 117.001, 104.298] as const;

/** face-api's own preparation, NHWC → NCHW, optionally normalised as its nets do. */
async function referenceInput(
  image: RgbImage,
  size: number,
  centered: boolean,
  normalise: boolean,
): Promise<Float32Array> {
  const { faceapi, tf } = await loadReference();
  const nhwc = tf.tidy(() => {
    const input = new faceapi.NetInput([toReferenceTensor(image)]);
    const batch = tf.cast(input.toBatchTensor(size, centered), "float32");
    return normalise ? faceapi.normalize(batch, [...FACE_API_MEAN]).div(255) : batch;
  });
  const values = await nhwc.data() as Float32Array;
  nhwc.dispose();
  const out = new Float32Array(values.length);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = values[i * 3 + c];
  }
  return out;
}

function firstDifference(a: Float32Array, b: Float32Array): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return `index ${i}: ours ${a[i]}, face-api ${b[i]}`;
  }
  return undefined;
}

Deno.test("toNetInput splits centred padding as padToSquare: the odd pixel goes after", () => {
  const tall = toNetInput(noiseImage(90, 121, 1), { size: 150 });
  // diff 31: round(15.5) = 16 appended (right), 15 prepended (left).
  assert.equal(tall.padLeft, 15);
  assert.equal(tall.padTop, 0);
  assert.equal(tall.paddedSize, 121);
  assert.equal(tall.scale, 150 / 121);
  const wide = toNetInput(noiseImage(121, 90, 1), { size: 112 });
  assert.deepEqual([wide.padLeft, wide.padTop], [0, 15]);
  const detector = toNetInput(noiseImage(121, 90, 1), { size: 112, centered: false });
  assert.deepEqual([detector.padLeft, detector.padTop], [0, 0]);
});

Deno.test("toNetInput leaves pixels unchanged for a square image already at the net size", () => {
  const image = noiseImage(16, 16, 2);
  const input = toNetInput(image, { size: 16, mean: [1, 2, 3], std: [2, 4, 8] });
  assert.deepEqual(input.dims, [1, 3, 16, 16]);
  for (let i = 0; i < 256; i++) {
    for (let c = 0; c < 3; c++) {
      assert.equal(input.data[c * 256 + i], (image.data[i * 3 + c] - (c + 1)) / 2 ** (c + 1));
    }
  }
});

Deno.test("toNetInput fills the padding with zero pixels, i.e. -mean/std after normalising", () => {
  // 4 wide, 8 tall, net side 8: no resize, 2 padding columns each side.
  const image = { width: 4, height: 8, data: new Uint8Array(4 * 8 * 3).fill(200) };
  const input = toNetInput(image, { size: 8, mean: [100, 100, 100], std: [50, 50, 50] });
  const row = Array.from(input.data.subarray(0, 8));
  assert.deepEqual(row, [-2, -2, 2, 2, 2, 2, -2, -2]);
});

Deno.test("toNetInput writes into a caller's buffer and refuses one of the wrong length", () => {
  const out = new Float32Array(3 * 10 * 10);
  const input = toNetInput(noiseImage(7, 5, 3), { size: 10, out });
  assert.equal(input.data, out);
  assert.throws(
    () => toNetInput(noiseImage(7, 5, 3), { size: 11, out }),
    /buffer holds 300 floats; size 11 needs 363/,
  );
});

Deno.test("toNetInput refuses a bad size, mean or std, naming the value", () => {
  const image = noiseImage(4, 4, 4);
  assert.throws(() => toNetInput(image, { size: 0 }), /size must be an integer.*got 0/);
  assert.throws(() => toNetInput(image, { size: 2.5 }), RangeError);
  assert.throws(() => toNetInput(image, { size: 4, std: [1, 0, 1] }), /std must not contain 0/);
  assert.throws(
    () => toNetInput(image, { size: 4, mean: [1, NaN, 1] }),
    /mean must be 3 finite numbers/,
  );
  assert.throws(
    () => toNetInput({ width: 4, height: 4, data: new Uint8Array(5) }, { size: 4 }),
    /needs 48 bytes, has 5/,
  );
});

Deno.test("toNetInput equals face-api's toBatchTensor bit for bit on net and detector sizes", async () => {
  const cases: [number, number, number, boolean][] = [
    [177, 240, 150, true], // a detection box: tall, even difference
    [202, 241, 112, true], // odd difference: uneven split
    [240, 177, 150, true], // wide
    [150, 150, 150, true], // already the net's size: face-api skips the resize
    [90, 90, 150, true], // square, upscaled: face-api resizes the int32 tensor
    [640, 427, 512, false], // a detector input: padding appended only
    [7, 3, 112, true], // tiny crop, huge upscale
  ];
  for (const [width, height, size, centered] of cases) {
    const image = noiseImage(width, height, width * 1000 + height);
    const ours = toNetInput(image, { size, centered });
    const theirs = await referenceInput(image, size, centered, false);
    assert.equal(firstDifference(ours.data, theirs), undefined, `${width}x${height} → ${size}`);
  }
});

Deno.test("toNetInput equals face-api's normalised net input bit for bit for any crop shape", async () => {
  await loadReference();
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 260 }),
      fc.integer({ min: 1, max: 260 }),
      fc.constantFrom(112, 150),
      fc.boolean(),
      fc.integer(),
      async (width, height, size, centered, seed) => {
        const image = noiseImage(width, height, seed);
        const ours = toNetInput(image, {
          size,
          centered,
          mean: FACE_API_MEAN,
          std: [255, 255, 255],
        });
        const theirs = await referenceInput(image, size, centered, true);
        assert.equal(firstDifference(ours.data, theirs), undefined);
      },
    ),
    { numRuns: 40, seed: 546 },
  );
});
