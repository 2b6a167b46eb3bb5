import assert from "node:assert/strict";
import { zlibSync } from "fflate";
import { decodeImage, IMAGE_PIXELS_MAX, probeImage } from "./decode.ts";
import { ImageError, type ImageErrorCode } from "./errors.ts";
import type { ImageFormat } from "./format.ts";
import { assertRgbImage, type RgbImage } from "./rgb_image.ts";
import {
  adobeSegment,
  concatBytes,
  encodeJpeg,
  encodePng,
  exifSegment,
  exifTiff,
  type ExifTiffOptions,
  ihdrChunk,
  type JpegSegment,
  PNG_SIGNATURE,
  pngChunk,
  rgbToYcbcr,
} from "../../testing/image_fixtures.ts";

const SAMPLE_JPEG_URL = new URL(
  "../../node_modules/@vladmandic/face-api/demo/sample1.jpg",
  import.meta.url,
);

async function rejectsWith(
  promise: Promise<unknown>,
  code: ImageErrorCode,
  format?: ImageFormat,
): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageError, `expected ImageError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (format !== undefined) assert.equal(error.format, format);
    return error;
  }
  assert.fail(`expected ImageError ${code}, but decoding succeeded`);
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const at = (y * image.width + x) * 3;
  return Array.from(image.data.subarray(at, at + 3));
}

function maxError(image: RgbImage, expected: (x: number, y: number) => number[]): number {
  let worst = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const want = expected(x, y);
      pixel(image, x, y).forEach((v, c) => worst = Math.max(worst, Math.abs(v - want[c])));
    }
  }
  return worst;
}

const gradient = (x: number, y: number) => [x * 6, y * 10, (x + y) * 3];

function colourJpeg(
  width: number,
  height: number,
  rgb: (x: number, y: number) => number[],
  segments: JpegSegment[] = [],
  lumaSampling: 1 | 2 = 1,
): Uint8Array {
  return encodeJpeg({
    width,
    height,
    components: 3,
    quality: 95,
    lumaSampling,
    segments,
    sample: (x, y, c) => {
      const [r, g, b] = rgb(x, y);
      return rgbToYcbcr(r, g, b)[c];
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Decoding what should decode

Deno.test("decodeImage decodes a YCbCr JPEG to the colours it was encoded from", async () => {
  const image = await decodeImage(colourJpeg(40, 24, gradient));
  assertRgbImage(image);
  assert.equal(image.width, 40);
  assert.equal(image.height, 24);
  assert.ok(maxError(image, gradient) <= 4, `max error ${maxError(image, gradient)}`);
});

Deno.test("decodeImage decodes a 4:2:0 subsampled JPEG whose size is not a multiple of 16", async () => {
  const image = await decodeImage(colourJpeg(37, 21, gradient, [], 2));
  assert.equal(image.width, 37);
  assert.equal(image.height, 21);
  assert.ok(maxError(image, gradient) <= 12, `max error ${maxError(image, gradient)}`);
});

Deno.test("decodeImage decodes a progressive JPEG to the same pixels as its baseline twin", async () => {
  const encode = (progressive: boolean) =>
    encodeJpeg({
      width: 75,
      height: 41,
      components: 3,
      lumaSampling: 2,
      progressive,
      segments: [exifSegment(exifTiff(8))],
      sample: (x, y, c) => {
        const [r, g, b] = gradient(x, y);
        return rgbToYcbcr(r, g, b)[c];
      },
    });
  const baseline = await decodeImage(encode(false));
  const progressive = await decodeImage(encode(true));
  assert.deepEqual([progressive.width, progressive.height], [41, 75]);
  assert.deepEqual(progressive.data, baseline.data);
});

Deno.test("decodeImage decodes a real camera JPEG at its header's size", async () => {
  const bytes = await Deno.readFile(SAMPLE_JPEG_URL);
  const info = probeImage(bytes);
  const image = await decodeImage(bytes);
  assertRgbImage(image);
  assert.deepEqual([image.width, image.height], [info.width, info.height]);
  const mean = image.data.reduce((s, v) => s + v, 0) / image.data.length;
  assert.ok(mean > 30 && mean < 225, `a photo is neither black nor white (mean ${mean})`);
});

Deno.test("decodeImage expands a grayscale JPEG to equal R, G and B", async () => {
  const gray = (x: number, y: number) => (x * 16 + y * 3) & 255;
  const bytes = encodeJpeg({ width: 16, height: 16, components: 1, quality: 100, sample: gray });
  const image = await decodeImage(bytes);
  assert.ok(maxError(image, (x, y) => [gray(x, y), gray(x, y), gray(x, y)]) <= 2);
});

// Ink amounts (0 = none, 255 = full) of flat 8×8 blocks and the RGB a print preview shows.
const INKS: [cmyk: number[], rgb: number[]][] = [
  [[0, 255, 255, 0], [255, 0, 0]],
  [[255, 0, 0, 0], [0, 255, 255]],
  [[255, 255, 0, 0], [0, 0, 255]],
  [[0, 0, 0, 0], [255, 255, 255]],
  [[0, 0, 0, 255], [0, 0, 0]],
  [[0, 0, 0, 128], [127, 127, 127]],
  [[50, 100, 150, 30], [181, 137, 93]],
];

function cmykJpeg(transform: 0 | 2): Uint8Array {
  return encodeJpeg({
    width: 8 * INKS.length,
    height: 8,
    components: 4,
    quality: 100,
    segments: [adobeSegment(transform)],
    sample: (x, _y, c) => {
      const ink = INKS[x >> 3][0];
      // Adobe writes CMYK inverted; YCCK stores the ink CMY as if it were RGB, K inverted.
      if (transform === 0 || c === 3) return 255 - ink[c];
      return rgbToYcbcr(ink[0], ink[1], ink[2])[c];
    },
  });
}

Deno.test("decodeImage converts an Adobe CMYK JPEG to the right RGB colours", async () => {
  const image = await decodeImage(cmykJpeg(0));
  INKS.forEach(([_, rgb], i) => {
    const got = pixel(image, i * 8 + 4, 4);
    got.forEach((v, c) => assert.ok(Math.abs(v - rgb[c]) <= 2, `ink ${i}: ${got} vs ${rgb}`));
  });
});

Deno.test("decodeImage converts an Adobe YCCK JPEG to the right RGB colours", async () => {
  const image = await decodeImage(cmykJpeg(2));
  INKS.forEach(([_, rgb], i) => {
    const got = pixel(image, i * 8 + 4, 4);
    got.forEach((v, c) => assert.ok(Math.abs(v - rgb[c]) <= 3, `ink ${i}: ${got} vs ${rgb}`));
  });
});

Deno.test("decodeImage reads a 3-component JPEG marked Adobe transform 0 as plain RGB", async () => {
  const bytes = encodeJpeg({
    width: 24,
    height: 8,
    components: 3,
    quality: 100,
    segments: [adobeSegment(0)],
    sample: (x, _y, c) => gradient(x, 0)[c],
  });
  const image = await decodeImage(bytes);
  assert.ok(maxError(image, (x) => gradient(x, 0)) <= 3);
});

// ---------------------------------------------------------------------------------------------
// EXIF orientation

const BLOCK_COLOURS: Record<string, number[]> = {
  A: [220, 30, 30],
  B: [30, 200, 30],
  C: [30, 30, 220],
  D: [230, 230, 40],
  E: [40, 220, 220],
  F: [200, 40, 200],
};
const STORED_LAYOUT = ["ABC", "DEF"];
// What a viewer shows for each EXIF orientation of the stored layout above (EXIF 2.3, 4.6.4).
const DISPLAYED_LAYOUTS: Record<number, string[]> = {
  1: ["ABC", "DEF"],
  2: ["CBA", "FED"],
  3: ["FED", "CBA"],
  4: ["DEF", "ABC"],
  5: ["AD", "BE", "CF"],
  6: ["DA", "EB", "FC"],
  7: ["FC", "EB", "DA"],
  8: ["CF", "BE", "AD"],
};

function blocksJpeg(segments: JpegSegment[]): Uint8Array {
  return colourJpeg(24, 16, (x, y) => BLOCK_COLOURS[STORED_LAYOUT[y >> 3][x >> 3]], segments);
}

function layoutOf(image: RgbImage): string[] {
  const rows: string[] = [];
  for (let by = 0; by < image.height / 8; by++) {
    let row = "";
    for (let bx = 0; bx < image.width / 8; bx++) {
      const got = pixel(image, bx * 8 + 4, by * 8 + 4);
      const [name] = Object.entries(BLOCK_COLOURS)
        .map(([n, c]) => [n, c.reduce((s, v, i) => s + Math.abs(v - got[i]), 0)] as const)
        .sort((a, b) => a[1] - b[1])[0];
      row += name;
    }
    rows.push(row);
  }
  return rows;
}

for (const littleEndian of [false, true]) {
  Deno.test(`decodeImage applies EXIF orientations 1-8 (${littleEndian ? "II" : "MM"} byte order)`, async () => {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const tiff = exifTiff(orientation, { littleEndian, entriesBefore: orientation % 3 });
      const bytes = blocksJpeg([exifSegment(tiff)]);
      const image = await decodeImage(bytes);
      assert.deepEqual(
        layoutOf(image),
        DISPLAYED_LAYOUTS[orientation],
        `orientation ${orientation}`,
      );
      const info = probeImage(bytes);
      assert.deepEqual([info.width, info.height, info.orientation], [
        image.width,
        image.height,
        orientation,
      ]);
    }
  });
}

Deno.test("decodeImage ignores malformed EXIF and keeps the stored orientation", async () => {
  const malformed: [string, Uint8Array][] = [
    ["no TIFF header", new Uint8Array([1, 2, 3])],
    ["bad byte order", exifTiff(6).map((b, i) => i < 2 ? 0x58 : b)],
    ["IFD offset past the end", exifTiff(6, { ifdOffset: 5000 })],
    ["IFD offset inside the header", exifTiff(6, { ifdOffset: 2 })],
    ["entry count larger than the data", exifTiff(6, { entriesBefore: 1, entryCount: 60000 })],
    ["entry count 0", exifTiff(6, { entryCount: 0 })],
    ["orientation of type ASCII", exifTiff(6, { type: 2 } as ExifTiffOptions)],
    ["orientation 0", exifTiff(0)],
    ["orientation 9", exifTiff(9)],
    ["cut mid-entry", exifTiff(6, { entriesBefore: 2 }).subarray(0, 30)],
  ];
  for (const [what, tiff] of malformed) {
    const image = await decodeImage(blocksJpeg([exifSegment(tiff)]));
    assert.deepEqual(layoutOf(image), STORED_LAYOUT, what);
  }
});

Deno.test("decodeImage uses only the first EXIF segment and ignores XMP in APP1", async () => {
  const xmp = { marker: 0xe1, payload: new TextEncoder().encode("http://ns.adobe.com/xap/1.0/\0") };
  const bytes = blocksJpeg([xmp, exifSegment(exifTiff(3)), exifSegment(exifTiff(6))]);
  assert.deepEqual(layoutOf(await decodeImage(bytes)), DISPLAYED_LAYOUTS[3]);
});

// ---------------------------------------------------------------------------------------------
// PNG variants

const rgbAt = (x: number, y: number) => [(x * 20 + y * 3) & 255, (y * 17) & 255, (x * y) & 255];

Deno.test("decodeImage decodes 8- and 16-bit RGB and RGBA PNGs, dropping alpha", async () => {
  for (const [colorType, bitDepth] of [[2, 8], [6, 8], [2, 16], [6, 16]] as const) {
    const bytes = encodePng({
      width: 13,
      height: 7,
      colorType,
      bitDepth,
      sample: (x, y, c) => {
        // Alpha is 0 on even columns: those colours must survive (dropped, not composited).
        const v = c === 3 ? ((x & 1) ? 255 : 0) : rgbAt(x, y)[c];
        return bitDepth === 16 ? v * 257 : v;
      },
    });
    const image = await decodeImage(bytes);
    assert.equal(maxError(image, rgbAt), 0, `colour type ${colorType}, ${bitDepth}-bit`);
  }
});

Deno.test("decodeImage expands grayscale PNGs of every bit depth, with and without alpha", async () => {
  const cases = [[0, 1], [0, 2], [0, 4], [0, 8], [0, 16], [4, 8], [4, 16]] as const;
  for (const [colorType, bitDepth] of cases) {
    const levels = 2 ** Math.min(bitDepth, 8);
    const level = (x: number, y: number) => (x + 3 * y) % levels;
    const bytes = encodePng({
      width: 11,
      height: 5,
      colorType,
      bitDepth,
      sample: (x, y, c) => {
        if (c === 1) return 0; // fully transparent, and still dropped
        return bitDepth === 16 ? level(x, y) * 257 : level(x, y);
      },
    });
    const gray = (x: number, y: number) => Math.round((level(x, y) * 255) / (levels - 1));
    const image = await decodeImage(bytes);
    assert.equal(
      maxError(image, (x, y) => [gray(x, y), gray(x, y), gray(x, y)]),
      0,
      `colour type ${colorType}, ${bitDepth}-bit`,
    );
  }
});

Deno.test("decodeImage keeps the high byte of 16-bit PNG samples", async () => {
  const samples = [0x80ff, 0x7f80, 0xffff, 0x00ff];
  const bytes = encodePng({
    width: 4,
    height: 1,
    colorType: 0,
    bitDepth: 16,
    sample: (x) => samples[x],
  });
  const image = await decodeImage(bytes);
  assert.deepEqual([0, 1, 2, 3].map((x) => pixel(image, x, 0)[0]), [128, 127, 255, 0]);
});

Deno.test("decodeImage maps palette PNGs (1-8 bit, with tRNS) to their palette colours", async () => {
  const palette: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [10, 20, 30],
  ];
  for (const bitDepth of [2, 4, 8] as const) {
    const bytes = encodePng({
      width: 9,
      height: 3,
      colorType: 3,
      bitDepth,
      palette,
      transparency: new Uint8Array([0, 128]),
      sample: (x, y) => (x + y) % 4,
    });
    const image = await decodeImage(bytes);
    assert.equal(maxError(image, (x, y) => palette[(x + y) % 4]), 0, `${bitDepth}-bit palette`);
  }
  const oneBit = encodePng({
    width: 10,
    height: 2,
    colorType: 3,
    bitDepth: 1,
    palette: palette.slice(0, 2),
    sample: (x) => x & 1,
  });
  assert.equal(maxError(await decodeImage(oneBit), (x) => palette[x & 1]), 0, "1-bit palette");
});

Deno.test("decodeImage decodes Adam7-interlaced PNGs", async () => {
  for (const [colorType, bitDepth] of [[2, 8], [0, 1], [6, 16]] as const) {
    const bytes = encodePng({
      width: 11,
      height: 9,
      colorType,
      bitDepth,
      interlaced: true,
      sample: (x, y, c) =>
        colorType === 0 ? (x + y) & 1 : bitDepth === 16 ? rgbAt(x, y)[c % 3] * 257 : rgbAt(x, y)[c],
    });
    const image = await decodeImage(bytes);
    const want = colorType === 0
      ? (x: number, y: number) => Array(3).fill(((x + y) & 1) * 255)
      : rgbAt;
    assert.equal(maxError(image, want), 0, `interlaced colour type ${colorType}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Refusing what should not decode

Deno.test("decodeImage refuses zero bytes as empty", async () => {
  const error = await rejectsWith(decodeImage(new Uint8Array()), "empty", "unknown");
  assert.match(error.message, /0 bytes/);
});

Deno.test("decodeImage refuses a text file named .jpg as unsupported text", async () => {
  const bytes = new TextEncoder().encode("name,label\ntest_000,Paul\n");
  const error = await rejectsWith(decodeImage(bytes), "unsupported_format", "text");
  assert.match(error.message, /text file.*JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF/);
});

Deno.test("decodeImage names the formats it does not decode and lists those it does", async () => {
  const cases: [ImageFormat, Uint8Array][] = [
    ["ico", new Uint8Array([0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0])],
    ["jpeg2000", new Uint8Array([0xff, 0x4f, 0xff, 0x51, 0, 0x2f, 0, 0])],
    ["psd", concatBytes([new TextEncoder().encode("8BPS"), new Uint8Array(22)])],
    ["pdf", new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")],
    ["html", new TextEncoder().encode("<!DOCTYPE html><html><body>403</body></html>")],
    ["svg", new TextEncoder().encode('<?xml version="1.0"?>\n<svg xmlns="x"></svg>')],
    ["unknown", new Uint8Array([0, 1, 2, 3, 0xfe, 0x80, 7, 0])],
  ];
  for (const [format, bytes] of cases) {
    const error = await rejectsWith(decodeImage(bytes), "unsupported_format", format);
    assert.match(error.message, /Convert it to JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF/);
  }
});

Deno.test("decodeImage reads the header of every decoded format, so a stub is cut off, not unsupported", async () => {
  const riff = concatBytes([
    new TextEncoder().encode("RIFF"),
    new Uint8Array([0x24, 0, 0, 0]),
    new TextEncoder().encode("WEBPVP8 "),
    new Uint8Array(20),
  ]);
  const ftyp = (brand: string) =>
    concatBytes([new Uint8Array([0, 0, 0, 0x18]), new TextEncoder().encode(`ftyp${brand}`)]);
  const cases: [ImageFormat, Uint8Array][] = [
    ["gif", concatBytes([new TextEncoder().encode("GIF89a"), new Uint8Array([1, 0, 1, 0, 0])])],
    ["webp", riff],
    ["bmp", concatBytes([new TextEncoder().encode("BM"), new Uint8Array(52)])],
    ["tiff", new Uint8Array([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0])],
    ["heic", ftyp("heic")],
    ["avif", ftyp("avif")],
  ];
  for (const [format, bytes] of cases) {
    await assert.rejects(decodeImage(bytes), (error) => {
      assert.ok(error instanceof ImageError, String(error));
      assert.equal(error.format, format);
      assert.ok(["truncated", "corrupt"].includes(error.code), `${format}: ${error.code}`);
      return true;
    });
  }
});

Deno.test("decodeImage reports a JPEG cut at any point as truncated", async () => {
  const bytes = colourJpeg(64, 48, gradient, [exifSegment(exifTiff(6))]);
  const scanStart = bytes.findLastIndex((b, i) => b === 0xff && bytes[i + 1] === 0xda);
  const cuts = [
    1,
    2,
    3,
    10,
    30,
    scanStart + 3,
    scanStart + 20,
    bytes.length - 50,
    bytes.length - 1,
  ];
  for (const length of cuts) {
    const error = await rejectsWith(decodeImage(bytes.subarray(0, length)), "truncated", "jpeg");
    assert.match(error.message, /cut off/, `cut at ${length}`);
  }
});

Deno.test("decodeImage reports a PNG cut in its header or its pixel data as truncated", async () => {
  const bytes = encodePng({
    width: 32,
    height: 32,
    colorType: 2,
    bitDepth: 8,
    sample: (x, y, c) => rgbAt(x, y)[c],
  });
  for (const length of [4, 8, 20, 32, 40, Math.floor(bytes.length / 2), bytes.length - 20]) {
    await rejectsWith(decodeImage(bytes.subarray(0, length)), "truncated", "png");
  }
});

Deno.test("decodeImage refuses a 30000×30000 PNG header as too large before decoding", async () => {
  // The IDAT is garbage: reaching the decoder would report "corrupt", not "too_large".
  const bytes = concatBytes([
    PNG_SIGNATURE,
    ihdrChunk(30000, 30000),
    pngChunk("IDAT", new Uint8Array(64).fill(0xab)),
    pngChunk("IEND", new Uint8Array()),
  ]);
  const error = await rejectsWith(decodeImage(bytes), "too_large", "png");
  assert.match(error.message, /30000×30000 = 900000000 pixels/);
  assert.match(error.message, new RegExp(String(IMAGE_PIXELS_MAX)));
  assert.throws(() => probeImage(bytes), (e) => e instanceof ImageError && e.code === "too_large");
});

Deno.test("decodeImage applies pixelsMax and bytesMax options", async () => {
  const bytes = colourJpeg(40, 24, gradient);
  await rejectsWith(decodeImage(bytes, { pixelsMax: 40 * 24 - 1 }), "too_large", "jpeg");
  await rejectsWith(decodeImage(bytes, { bytesMax: bytes.length - 1 }), "too_large", "jpeg");
  const image = await decodeImage(bytes, { pixelsMax: 40 * 24, bytesMax: bytes.length });
  assert.equal(image.width, 40);
});

Deno.test("decodeImage refuses a JPEG whose header claims 65535×65535 as too large", async () => {
  const bytes = colourJpeg(16, 16, gradient).slice();
  const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
  bytes.fill(0xff, sof + 5, sof + 9);
  await rejectsWith(decodeImage(bytes), "too_large", "jpeg");
});

Deno.test("decodeImage refuses zero-sized headers as dimensions_invalid", async () => {
  const png = concatBytes([
    PNG_SIGNATURE,
    ihdrChunk(0, 10),
    pngChunk("IDAT", zlibSync(new Uint8Array(1))),
    pngChunk("IEND", new Uint8Array()),
  ]);
  await rejectsWith(decodeImage(png), "dimensions_invalid", "png");
  const jpeg = colourJpeg(16, 16, gradient).slice();
  const sof = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xc0);
  jpeg.fill(0, sof + 5, sof + 7); // height 0 = "defined later by DNL"
  const error = await rejectsWith(decodeImage(jpeg), "dimensions_invalid", "jpeg");
  assert.match(error.message, /DNL/);
});

Deno.test("decodeImage refuses JPEG variants the decoder cannot read as unsupported", async () => {
  const withMarker = (marker: number, patch?: (sof: number, b: Uint8Array) => void) => {
    const bytes = colourJpeg(16, 16, gradient).slice();
    const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
    bytes[sof + 1] = marker;
    patch?.(sof, bytes);
    return bytes;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["arithmetic", withMarker(0xc9), /arithmetic-coded/],
    ["lossless", withMarker(0xc3), /lossless/],
    ["12-bit", withMarker(0xc1, (sof, b) => b[sof + 4] = 12), /12-bit/],
    ["2 components", withMarker(0xc0, (sof, b) => b[sof + 9] = 2), /2-component/],
  ];
  for (const [what, bytes, message] of cases) {
    const error = await rejectsWith(decodeImage(bytes), "unsupported_format", "jpeg");
    assert.match(error.message, message, what);
  }
  const cmyk = encodeJpeg({ width: 8, height: 8, components: 4, sample: () => 9 });
  const error = await rejectsWith(decodeImage(cmyk), "unsupported_format", "jpeg");
  assert.match(error.message, /Adobe/);
});

Deno.test("decodeImage refuses a JPEG with more scans than jpegScansMax", async () => {
  const bytes = colourJpeg(16, 16, gradient);
  const sos = bytes.findLastIndex((b, i) => b === 0xff && bytes[i + 1] === 0xda);
  const scan = bytes.subarray(sos, bytes.length - 2); // SOS header and its data
  const crafted = concatBytes([bytes.subarray(0, sos), ...Array(5).fill(scan), bytes.slice(-2)]);
  const error = await rejectsWith(decodeImage(crafted, { jpegScansMax: 4 }), "too_large", "jpeg");
  assert.match(error.message, /more than 4 scans/);
  assert.equal(probeImage(crafted, { jpegScansMax: 5 }).format, "jpeg");
});

Deno.test("decodeImage refuses a small JPEG whose header claims more pixels than its data holds", async () => {
  // The decoder would pad the missing data with zero bits and spend seconds on a flat image.
  const bytes = colourJpeg(64, 64, gradient, [], 2).slice();
  const sof = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
  bytes.set([0x17, 0x70, 0x17, 0x70], sof + 5); // 6000×6000, within the pixel limit
  const error = await rejectsWith(decodeImage(bytes), "truncated", "jpeg");
  assert.match(error.message, /promises 6000×6000 pixels/);
});

Deno.test("decodeImage reports damaged but complete files as corrupt", async () => {
  const jpeg = colourJpeg(32, 32, gradient).slice();
  const dht = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xc4);
  jpeg.fill(0xfe, dht + 5, dht + 21); // impossible Huffman code counts
  await rejectsWith(decodeImage(jpeg), "corrupt", "jpeg");

  const badLength = colourJpeg(16, 16, gradient).slice();
  badLength.set([0x00, 0x01], 4); // first segment length 1
  await rejectsWith(decodeImage(badLength), "corrupt", "jpeg");

  const noFrame = concatBytes([new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2]), new Uint8Array(9)]);
  await rejectsWith(decodeImage(noFrame), "corrupt", "jpeg");

  const png = encodePng({ width: 8, height: 8, colorType: 2, bitDepth: 8, sample: () => 7 })
    .slice();
  png[png.length - 20] ^= 0xff; // inside IDAT: the CRC no longer matches
  await rejectsWith(decodeImage(png), "corrupt", "png");

  const badDepth = concatBytes([
    PNG_SIGNATURE,
    ihdrChunk(4, 4, 3, 2),
    pngChunk("IEND", new Uint8Array()),
  ]);
  await rejectsWith(decodeImage(badDepth), "corrupt", "png");
});

Deno.test("decodeImage rejects invalid limit options as a programmer error", async () => {
  const bytes = colourJpeg(8, 8, gradient);
  await assert.rejects(decodeImage(bytes, { pixelsMax: 0 }), RangeError);
  await assert.rejects(decodeImage(bytes, { bytesMax: 1.5 }), RangeError);
  await assert.rejects(decodeImage(bytes, { jpegScansMax: -1 }), RangeError);
});
