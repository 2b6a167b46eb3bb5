/**
 * WebP, GIF, BMP, TIFF, HEIC and AVIF: each decodes to the pixels it was made from (exactly for
 * the lossless ones), limits apply from the header before any decoder runs, cut files are
 * reported as cut, and each decoder loads only when its format is first seen. The images are
 * made here from a crop of face-api's sample photo (see `testing/photo_encoders.ts`).
 */
import assert from "node:assert/strict";
import { decodeImage, probeImage } from "./decode.ts";
import { ImageError, type ImageErrorCode } from "./errors.ts";
import type { ImageFormat } from "./format.ts";
import { assertRgbImage, type RgbImage } from "./rgb_image.ts";
import {
  concatBytes,
  encodeJpeg,
  encodePng,
  exifTiff,
  rgbToYcbcr,
} from "../../testing/image_fixtures.ts";
import {
  encodeAvif,
  encodeBmp,
  encodeGif,
  encodeHeic,
  encodeTiff,
  encodeWebp,
  hasHeifEnc,
  quantise332,
} from "../../testing/photo_encoders.ts";

const HEIF_ENC = hasHeifEnc();
if (!HEIF_ENC) {
  console.error("heif-enc not found (apt-get install libheif-examples): HEIC tests are ignored");
}

const sample = await decodeImage(
  await Deno.readFile(
    new URL("../../node_modules/@vladmandic/face-api/demo/sample1.jpg", import.meta.url),
  ),
);

/** A `width`×`height` crop of the sample photo around a face. */
function photo(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y + 280) * sample.width + 780) * 3;
    data.set(sample.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}

const source = photo(96, 64);

/** The same image reduced to GIF's fixed palette, so a GIF of it is lossless. */
function quantised(image: RgbImage): RgbImage {
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i += 3) {
    data.set(quantise332(image.data[i], image.data[i + 1], image.data[i + 2]), i);
  }
  return { ...image, data };
}

function differences(a: RgbImage, b: RgbImage): { max: number; mean: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ImageErrorCode,
  format: ImageFormat,
  what = "",
): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageError, `expected ImageError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.format, format);
    return error;
  }
  assert.fail(`${format} ${what}: expected ImageError ${code}, but decoding succeeded`);
}

// ---------------------------------------------------------------------------------------------
// Pixels

Deno.test("decodeImage decodes lossless WebP, BMP (24/32-bit, palette, RLE, top-down) and TIFF exactly", async () => {
  const small = quantised(photo(37, 23)); // odd sizes; ≤256 colours for the palette BMPs
  const cases: [string, Uint8Array, ImageFormat, RgbImage][] = [
    ["lossless WebP", await encodeWebp(source, { lossless: true }), "webp", source],
    ["24-bit BMP", encodeBmp(source), "bmp", source],
    ["top-down 24-bit BMP", encodeBmp(small, "24-top-down"), "bmp", small],
    ["32-bit bit-field BMP", encodeBmp(small, "32-bitfields"), "bmp", small],
    ["8-bit palette BMP", encodeBmp(small, "8-palette"), "bmp", small],
    ["RLE8 BMP", encodeBmp(small, "8-rle"), "bmp", small],
    ["TIFF", await encodeTiff(source), "tiff", source],
  ];
  for (const [what, bytes, format, want] of cases) {
    assert.equal(probeImage(bytes).format, format, what);
    const image = await decodeImage(bytes);
    assertRgbImage(image);
    assert.deepEqual(differences(image, want), { max: 0, mean: 0 }, what);
  }
});

Deno.test("decodeImage decodes a GIF without quantisation loss exactly", async () => {
  const want = quantised(source);
  const bytes = await encodeGif(want);
  assert.equal(probeImage(bytes).format, "gif");
  assert.deepEqual(differences(await decodeImage(bytes), want), { max: 0, mean: 0 });
});

Deno.test("decodeImage puts the rows of an interlaced GIF back in order", async () => {
  const want = quantised(photo(30, 21));
  const order: number[] = [];
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]]) {
    for (let y = start; y < want.height; y += step) order.push(y);
  }
  // Store the rows in interlaced order, then mark the frame interlaced.
  const stored = new Uint8Array(want.data.length);
  const row = want.width * 3;
  order.forEach((y, k) => stored.set(want.data.subarray(y * row, (y + 1) * row), k * row));
  const gif = await encodeGif({ ...want, data: stored });
  const descriptor = 13 + 3 * (2 << (gif[10] & 7));
  assert.equal(gif[descriptor], 0x2c, "the image descriptor follows the colour table");
  gif[descriptor + 9] |= 0x40;
  assert.deepEqual(differences(await decodeImage(gif), want), { max: 0, mean: 0 });
});

Deno.test("decodeImage decodes lossy WebP and AVIF close to their source", async () => {
  // Tolerances measured on this crop: WebP q90 max 29 / mean 2.2, AVIF q80 max 30 / mean 2.5.
  for (
    const [what, bytes] of [
      ["WebP q90", await encodeWebp(source, { quality: 90 })],
      ["AVIF q80", await encodeAvif(source, 80)],
    ] as const
  ) {
    const { max, mean } = differences(await decodeImage(bytes), source);
    assert.ok(mean < 4 && max < 48, `${what}: mean ${mean.toFixed(2)}, max ${max}`);
  }
});

Deno.test({
  name: "decodeImage decodes a HEIC close to its source",
  ignore: !HEIF_ENC,
  fn: async () => {
    const bytes = await encodeHeic(source, 90);
    assert.equal(probeImage(bytes).format, "heic");
    const { max, mean } = differences(await decodeImage(bytes), source);
    assert.ok(mean < 4 && max < 48, `HEIC q90: mean ${mean.toFixed(2)}, max ${max}`);
  },
});

Deno.test("decodeImage drops alpha from WebP and transparency from GIF, keeping the colours", async () => {
  const transparentColumns = (x: number) => (x & 1 ? 255 : 0);
  const webp = await encodeWebp(source, { lossless: true, alpha: transparentColumns });
  assert.deepEqual(differences(await decodeImage(webp), source), { max: 0, mean: 0 });
  // Lossy colour with a separately coded alpha plane (VP8X + ALPH + VP8).
  const lossy = await encodeWebp(source, { quality: 90, alpha: (x) => x * 2 });
  assert.ok(new TextDecoder().decode(lossy.subarray(0, 64)).includes("ALPH"), "an ALPH chunk");
  const { mean } = differences(await decodeImage(lossy), source);
  assert.ok(mean < 4, `lossy WebP with alpha: mean difference ${mean.toFixed(2)}`);
  // A GIF whose palette index 0 is marked transparent: its pixels keep index 0's colour.
  const { GifWriter } = (await import("omggif")).default;
  const out = new Uint8Array(4096);
  const writer = new GifWriter(out, 4, 2, { palette: [0x102030, 0xff0000] });
  writer.addFrame(0, 0, 4, 2, [0, 1, 0, 1, 1, 0, 1, 0], { transparent: 0 });
  const image = await decodeImage(out.slice(0, writer.end()));
  assert.deepEqual(Array.from(image.data.subarray(0, 6)), [0x10, 0x20, 0x30, 0xff, 0, 0]);
});

// ---------------------------------------------------------------------------------------------
// Orientation and frames

/** A still WebP in the extended layout (VP8X), with an EXIF chunk. */
function withExif(still: Uint8Array, width: number, height: number, tiff: Uint8Array) {
  const chunk = (id: string, payload: Uint8Array) => {
    const header = new Uint8Array(8);
    header.set(new TextEncoder().encode(id));
    new DataView(header.buffer).setUint32(4, payload.length, true);
    return concatBytes([header, payload, new Uint8Array(payload.length & 1)]);
  };
  const vp8x = new Uint8Array(10);
  vp8x[0] = 0x08; // EXIF present
  vp8x.set([(width - 1) & 255, (width - 1) >> 8, 0, (height - 1) & 255, (height - 1) >> 8, 0], 4);
  const body = concatBytes([
    new TextEncoder().encode("WEBP"),
    chunk("VP8X", vp8x),
    still.subarray(12),
    chunk("EXIF", tiff),
  ]);
  const riff = new Uint8Array(8);
  riff.set(new TextEncoder().encode("RIFF"));
  new DataView(riff.buffer).setUint32(4, body.length, true);
  return concatBytes([riff, body]);
}

/** An animated WebP (VP8X + ANIM + one ANMF per still) on a `width`×`height` canvas. */
function animatedWebp(
  frames: { still: Uint8Array; x: number; y: number; width: number; height: number }[],
  width: number,
  height: number,
): Uint8Array {
  const chunk = (id: string, payload: Uint8Array) => {
    const header = new Uint8Array(8);
    header.set(new TextEncoder().encode(id));
    new DataView(header.buffer).setUint32(4, payload.length, true);
    return concatBytes([header, payload, new Uint8Array(payload.length & 1)]);
  };
  const u24 = (v: number) => [v & 255, (v >> 8) & 255, v >> 16];
  const vp8x = new Uint8Array([0x02, 0, 0, 0, ...u24(width - 1), ...u24(height - 1)]);
  const anmfs = frames.map((f) =>
    chunk(
      "ANMF",
      concatBytes([
        new Uint8Array([
          ...u24(f.x / 2),
          ...u24(f.y / 2),
          ...u24(f.width - 1),
          ...u24(f.height - 1),
          100,
          0,
          0,
          0,
        ]),
        f.still.subarray(12),
      ]),
    )
  );
  const body = concatBytes([
    new TextEncoder().encode("WEBP"),
    chunk("VP8X", vp8x),
    chunk("ANIM", new Uint8Array(6)),
    ...anmfs,
  ]);
  const riff = new Uint8Array(8);
  riff.set(new TextEncoder().encode("RIFF"));
  new DataView(riff.buffer).setUint32(4, body.length, true);
  return concatBytes([riff, body]);
}

function flat(width: number, height: number, rgb: number[]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = rgb[i % 3];
  return { width, height, data };
}

Deno.test("decodeImage applies the EXIF orientation of a WebP and a TIFF", async () => {
  const still = await encodeWebp(source, { lossless: true });
  const webp = withExif(still, source.width, source.height, exifTiff(6));
  assert.equal(probeImage(webp).orientation, 6);
  const turned = await decodeImage(webp);
  assert.deepEqual([turned.width, turned.height], [source.height, source.width]);
  // Orientation 6: display pixel (x, y) is stored pixel (y, height - 1 - x).
  const at = (image: RgbImage, x: number, y: number) =>
    Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
  assert.deepEqual(at(turned, 0, 0), at(source, 0, source.height - 1));
  assert.deepEqual(at(turned, 5, 9), at(source, 9, source.height - 1 - 5));

  const UTIF = (await import("utif2")).default;
  const rgba = new Uint8Array(source.width * source.height * 4).map((_, i) =>
    i % 4 === 3 ? 255 : source.data[Math.floor(i / 4) * 3 + (i % 4)]
  );
  const orientation6 = { t274: [6] } as unknown as Parameters<typeof UTIF.encodeImage>[3];
  const tiff = new Uint8Array(UTIF.encodeImage(rgba, source.width, source.height, orientation6));
  assert.equal(probeImage(tiff).orientation, 6);
  assert.deepEqual((await decodeImage(tiff)).data, turned.data);
});

Deno.test("decodeImage applies an AVIF's irot rotation (libavif leaves it to the caller)", async () => {
  // Left half red, right half blue; the encoder's colr property (19 bytes) is overwritten with
  // an irot property of the same size, so no offset in the file moves.
  const halves: RgbImage = {
    width: 6,
    height: 4,
    data: new Uint8Array(6 * 4 * 3).map((_, i) =>
      Math.floor(i / 3) % 6 < 3 ? (i % 3 === 0 ? 255 : 0) : (i % 3 === 2 ? 255 : 0)
    ),
  };
  const avif = await encodeAvif(halves, 100);
  const colr = avif.findIndex((_, i) =>
    avif[i] === 0x63 && avif[i + 1] === 0x6f && avif[i + 2] === 0x6c && avif[i + 3] === 0x72
  );
  assert.ok(colr > 0, "the encoder wrote a colr property");
  const size = new DataView(avif.buffer).getUint32(colr - 4);
  const layout = (image: RgbImage) =>
    Array.from(
      { length: image.height },
      (_, y) =>
        Array.from({ length: image.width }, (_, x) =>
          image.data[(y * image.width + x) * 3] > 128 ? "R" : "B").join(""),
    );
  // irot angle n turns the image n × 90° anticlockwise.
  for (const [angle, orientation, want] of [[1, 8, "BBBB"], [3, 6, "RRRR"]] as const) {
    const turned = avif.slice();
    turned.set([0x69, 0x72, 0x6f, 0x74, angle], colr);
    turned.fill(0, colr + 5, colr - 4 + size);
    assert.equal(probeImage(turned).orientation, orientation);
    const image = await decodeImage(turned);
    assert.deepEqual([image.width, image.height], [4, 6]);
    assert.deepEqual(layout(image).slice(0, 3), [want, want, want], `angle ${angle}`);
  }
});

Deno.test("decodeImage takes the first frame of an animated GIF and an animated WebP", async () => {
  const { GifWriter } = (await import("omggif")).default;
  const out = new Uint8Array(8192);
  const writer = new GifWriter(out, 8, 4, { palette: [0x0000ff, 0x00ff00], loop: 0 });
  writer.addFrame(0, 0, 8, 4, new Array(32).fill(0), { delay: 10 });
  writer.addFrame(0, 0, 8, 4, new Array(32).fill(1), { delay: 10 });
  const gif = out.slice(0, writer.end());
  assert.equal(probeImage(gif).frames, 2);
  const first = await decodeImage(gif);
  assert.deepEqual(Array.from(first.data.subarray(0, 3)), [0, 0, 255]);

  // The first frame is lossy with an alpha plane (ALPH + VP8 inside its ANMF chunk).
  const red = await encodeWebp(flat(6, 4, [255, 0, 0]), { quality: 100, alpha: () => 128 });
  assert.ok(new TextDecoder().decode(red).includes("ALPH"), "the first frame has an ALPH chunk");
  const green = await encodeWebp(flat(10, 8, [0, 255, 0]), { lossless: true });
  const webp = animatedWebp(
    [
      { still: red, x: 2, y: 4, width: 6, height: 4 },
      { still: green, x: 0, y: 0, width: 10, height: 8 },
    ],
    10,
    8,
  );
  const info = probeImage(webp);
  assert.deepEqual([info.format, info.width, info.height, info.frames], ["webp", 10, 8, 2]);
  const image = await decodeImage(webp);
  const at = (x: number, y: number) =>
    Array.from(image.data.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3));
  const reddish = (rgb: number[]) => rgb[0] > 240 && rgb[1] < 16 && rgb[2] < 16;
  assert.ok(reddish(at(2, 4)), `the first frame, at its offset: ${at(2, 4)}`);
  assert.ok(reddish(at(7, 7)), `${at(7, 7)}`);
  assert.deepEqual(at(1, 1), [0, 0, 0], "outside the first frame: black");
  await rejectsWith(decodeImage(webp, { framesMax: 1 }), "too_large", "webp");
  await rejectsWith(decodeImage(gif, { framesMax: 1 }), "too_large", "gif");
});

// ---------------------------------------------------------------------------------------------
// Limits before decoding

/** Little-endian TIFF with one strip of garbage, declaring `width`×`height` RGB pixels. */
function hugeTiff(width: number, height: number): Uint8Array {
  const entries: [number, number, number][] = [
    [256, 4, width],
    [257, 4, height],
    [258, 3, 8],
    [262, 3, 2],
    [273, 4, 8 + 2 + 12 * 7 + 4],
    [277, 3, 3],
    [279, 4, 16],
  ];
  const out = new Uint8Array(8 + 2 + 12 * entries.length + 4 + 16);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  view.setUint32(4, 8, true);
  view.setUint16(8, entries.length, true);
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + 12 * i;
    view.setUint16(at, tag, true);
    view.setUint16(at + 2, type, true);
    view.setUint32(at + 4, 1, true);
    if (type === 3) view.setUint16(at + 8, value, true);
    else view.setUint32(at + 8, value, true);
  });
  return out;
}

/** Rewrites every `ispe` property (the primary item's, and a grid's tiles') of a HEIF file. */
function withIspe(bytes: Uint8Array, width: number, height: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  let found = 0;
  for (let i = 0; i + 16 <= out.length; i++) {
    if (out[i] === 0x69 && out[i + 1] === 0x73 && out[i + 2] === 0x70 && out[i + 3] === 0x65) {
      view.setUint32(i + 8, width);
      view.setUint32(i + 12, height);
      found++;
    }
  }
  assert.ok(found > 0, "the file has an ispe property");
  return out;
}

Deno.test("decodeImage refuses tiny files declaring 100000×100000 pixels before decoding them", async () => {
  const bmp = encodeBmp(flat(4, 4, [1, 2, 3])).slice(0, 80);
  new DataView(bmp.buffer).setInt32(18, 100_000, true);
  new DataView(bmp.buffer).setInt32(22, 100_000, true);
  const gif = await encodeGif(flat(4, 4, [1, 2, 3]));
  gif.set([0xff, 0xff, 0xff, 0xff], 6); // 65535×65535, GIF's largest
  const lossless = await encodeWebp(flat(4, 4, [1, 2, 3]), { lossless: true });
  const webpCanvas = animatedWebp(
    [{ still: lossless, x: 0, y: 0, width: 4, height: 4 }],
    100_000,
    100_000,
  );
  const webpBitstream = lossless.slice();
  // VP8L header: 14 bits width-1, 14 bits height-1 -> 16384×16384.
  webpBitstream.set([0xff, 0xff, 0xff, 0x0f | (webpBitstream[24] & 0xf0)], 21);
  const cases: [ImageFormat, Uint8Array][] = [
    ["bmp", bmp],
    ["gif", gif],
    ["webp", webpCanvas],
    ["webp", webpBitstream],
    ["tiff", hugeTiff(100_000, 100_000)],
    ["avif", withIspe(await encodeAvif(flat(8, 8, [9, 9, 9])), 100_000, 100_000)],
  ];
  if (HEIF_ENC) {
    cases.push(["heic", withIspe(await encodeHeic(flat(8, 8, [9, 9, 9])), 100_000, 100_000)]);
  }
  for (const [format, bytes] of cases) {
    assert.ok(bytes.length < 4096, `${format}: a tiny file (${bytes.length} bytes)`);
    const error = await rejectsWith(decodeImage(bytes), "too_large", format);
    assert.match(error.message, /pixels, more than the limit/, format);
    assert.throws(
      () => probeImage(bytes),
      (e) => e instanceof ImageError && e.code === "too_large",
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Cut files

Deno.test("decodeImage reports a file of any new format cut short as truncated", async () => {
  const rle = encodeBmp(quantised(photo(37, 23)), "8-rle");
  const files: [ImageFormat, Uint8Array][] = [
    ["webp", await encodeWebp(source, { quality: 90 })],
    ["webp", await encodeWebp(source, { lossless: true })],
    ["gif", await encodeGif(source)],
    ["bmp", encodeBmp(source)],
    ["bmp", rle],
    ["tiff", await encodeTiff(source)],
    ["avif", await encodeAvif(source)],
  ];
  if (HEIF_ENC) files.push(["heic", await encodeHeic(source)]);
  for (const [format, bytes] of files) {
    for (const fraction of [0.02, 0.3, 0.6, 0.95]) {
      const length = Math.max(16, Math.floor(bytes.length * fraction));
      const error = await rejectsWith(
        decodeImage(bytes.subarray(0, length)),
        "truncated",
        format,
        `cut at ${length} of ${bytes.length}`,
      );
      assert.match(error.message, /cut off/, `${format} cut at ${length} of ${bytes.length}`);
    }
    // A GIF missing only its trailer byte, or an RLE bitmap only the second byte of its end
    // marker, still holds every pixel (browsers show them too).
    if (format !== "gif" && bytes !== rle) {
      await rejectsWith(decodeImage(bytes.subarray(0, bytes.length - 1)), "truncated", format);
    }
  }
});

Deno.test("decodeImage reports damaged pixel data of the new formats as an ImageError", async () => {
  const files: [ImageFormat, Uint8Array][] = [
    ["webp", await encodeWebp(source, { quality: 90 })],
    ["avif", await encodeAvif(source)],
    ["gif", await encodeGif(source)],
  ];
  if (HEIF_ENC) files.push(["heic", await encodeHeic(source)]);
  for (const [format, bytes] of files) {
    const damaged = bytes.slice();
    // Overwrite the middle third (the compressed data) with a constant.
    damaged.fill(0x55, Math.floor(bytes.length / 3), Math.floor((2 * bytes.length) / 3));
    try {
      assertRgbImage(await decodeImage(damaged)); // some decoders conceal damage: fine
    } catch (error) {
      assert.ok(error instanceof ImageError, `${format}: ${error}`);
      assert.equal(error.format, format);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Loading

function photoPixel(image: RgbImage, x: number, y: number): [number, number, number] {
  const at = (y * image.width + x) * 3;
  return [image.data[at], image.data[at + 1], image.data[at + 2]];
}

async function writeAll(dir: string): Promise<string[]> {
  const small = photo(24, 16);
  const files: [string, Uint8Array][] = [
    [
      "a.jpg",
      encodeJpeg({
        width: 24,
        height: 16,
        components: 3,
        sample: (x, y, c) => rgbToYcbcr(...photoPixel(small, x, y))[c],
      }),
    ],
    [
      "a.png",
      encodePng({
        width: 24,
        height: 16,
        colorType: 2,
        bitDepth: 8,
        sample: (x, y, c) => photoPixel(small, x, y)[c],
      }),
    ],
    ["a.webp", await encodeWebp(small, { quality: 80 })],
    ["a.gif", await encodeGif(small)],
    ["a.bmp", encodeBmp(small)],
    ["a.tiff", await encodeTiff(small)],
    ["a.avif", await encodeAvif(small)],
  ];
  if (HEIF_ENC) files.push(["a.heic", await encodeHeic(small)]);
  for (const [name, bytes] of files) await Deno.writeFile(`${dir}/${name}`, bytes);
  return files.map(([name]) => `${dir}/${name}`);
}

/** Decodes `paths` in a child `deno run` with only the permissions in `flags`. */
async function runDecoder(flags: string[], paths: string[]) {
  // A file, not `deno eval`: eval runs with every permission whatever the flags say.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { decodeImage } from ${JSON.stringify(new URL("./decode.ts", import.meta.url).href)};
    for (const path of Deno.args) {
      const image = await decodeImage(await Deno.readFile(path));
      console.log(image.width + "x" + image.height);
    }`,
  );
  try {
    const root = new URL("../..", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--config", `${root}deno.json`, ...flags, script, ...paths],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    await Deno.remove(script);
  }
}

Deno.test("decodeImage decodes all eight formats with read permission only (no network, env or ffi)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths = await writeAll(dir);
    const result = await runDecoder(["--allow-read"], paths);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "24x16\n".repeat(paths.length));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodeImage never reads another format's decoder for a JPEG", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const jpeg = encodeJpeg({
      width: 16,
      height: 8,
      components: 3,
      sample: (x, y, c) => rgbToYcbcr(x * 10, y * 20, 90)[c],
    });
    await Deno.writeFile(`${dir}/a.jpg`, jpeg);
    // Reading the WebAssembly codecs' packages (by their real and their linked paths) is
    // denied: the JPEG must decode without touching one. (Module imports are not permission
    // checked, so this proves it for the .wasm files, the part that costs start-up time.)
    const modules = new URL("../../node_modules/", import.meta.url).pathname;
    const codecs = [
      ...[...Deno.readDirSync(modules + ".deno")]
        .filter((e) => /^(@jsquash\+|libheif-js@)/.test(e.name))
        .map((e) => `${modules}.deno/${e.name}`),
      `${modules}@jsquash`,
      `${modules}libheif-js`,
    ];
    assert.ok(codecs.length >= 5, `codec packages found: ${codecs}`);
    const denied = await runDecoder(
      ["--allow-read", `--deny-read=${codecs.join(",")}`],
      [`${dir}/a.jpg`],
    );
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(denied.stdout, "16x8\n");
    // And the denial is real: a WebP under the same denial cannot load its decoder.
    await Deno.writeFile(`${dir}/a.webp`, await encodeWebp(photo(8, 8), { lossless: true }));
    const webp = await runDecoder(
      ["--allow-read", `--deny-read=${codecs.join(",")}`],
      [`${dir}/a.webp`],
    );
    assert.notEqual(webp.code, 0);
    assert.match(webp.stderr, /Cannot load the decoder|NotCapable|denied/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
