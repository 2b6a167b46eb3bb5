/**
 * Test-only encoders for every decoded format, so tests and benchmarks make their images at run
 * time from any RGB pixels instead of committing copies of photos: WebP and AVIF with jSquash's
 * encoders, GIF with omggif's writer (after a fixed 3-3-2 bit palette, or exactly when the image
 * has at most 256 colours), TIFF with UTIF's writer, BMP written here, HEIC with `heif-enc`
 * (Debian's libheif-examples; no npm package encodes HEVC).
 * @module
 */
import { encodePng } from "./image_fixtures.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";

type Factory = (options: Record<string, unknown>) => Promise<Record<string, unknown>>;

async function emscripten(script: string, wasm: string, load: () => Promise<{ default: unknown }>) {
  const bytes = await Deno.readFile(new URL(wasm, import.meta.resolve(script)));
  const compiled = await WebAssembly.compile(bytes);
  const factory = (await load()).default as Factory;
  return await factory({
    noInitialRun: true,
    print: () => {},
    printErr: () => {},
    instantiateWasm: (imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance) => void) => {
      const instance = new WebAssembly.Instance(compiled, imports);
      receive(instance);
      return instance.exports;
    },
  });
}

/** RGBA with opaque alpha, or with `alpha(x, y)`. */
export function toRgba(image: RgbImage, alpha?: (x: number, y: number) => number): Uint8Array {
  const rgba = new Uint8Array(image.width * image.height * 4);
  for (let i = 0, p = 0; p < image.width * image.height; p++) {
    rgba[i++] = image.data[3 * p];
    rgba[i++] = image.data[3 * p + 1];
    rgba[i++] = image.data[3 * p + 2];
    rgba[i++] = alpha ? alpha(p % image.width, Math.floor(p / image.width)) : 255;
  }
  return rgba;
}

let webpEncoder: Promise<Record<string, unknown>> | undefined;

/** WebP options of libwebp's `WebPConfig` (jSquash's defaults are used for the rest). */
export interface WebpEncodeOptions {
  quality?: number;
  lossless?: boolean;
  /** Alpha per pixel (default opaque). */
  alpha?: (x: number, y: number) => number;
}

/** Encodes `image` as a still WebP. */
export async function encodeWebp(image: RgbImage, options: WebpEncodeOptions = {}) {
  webpEncoder ??= emscripten(
    "@jsquash/webp/codec/enc/webp_enc.js",
    "webp_enc.wasm",
    () => import("@jsquash/webp/codec/enc/webp_enc.js"),
  );
  const { defaultOptions } = await import("@jsquash/webp/meta.js");
  const encoder = await webpEncoder;
  const encode = encoder.encode as (...args: unknown[]) => Uint8Array | null;
  const out = encode(toRgba(image, options.alpha), image.width, image.height, {
    ...defaultOptions,
    quality: options.quality ?? 90,
    lossless: options.lossless ? 1 : 0,
    exact: options.lossless ? 1 : 0, // keep the colour under transparent pixels
  });
  if (!out) throw new Error("WebP encoding failed");
  return new Uint8Array(out);
}

let avifEncoder: Promise<Record<string, unknown>> | undefined;

/** Encodes `image` as AVIF (lossy, 4:4:4, speed 8 so tests stay quick). */
export async function encodeAvif(image: RgbImage, quality = 80): Promise<Uint8Array> {
  avifEncoder ??= emscripten(
    "@jsquash/avif/codec/enc/avif_enc.js",
    "avif_enc.wasm",
    () => import("@jsquash/avif/codec/enc/avif_enc.js"),
  );
  const { defaultOptions } = await import("@jsquash/avif/meta.js");
  const encoder = await avifEncoder;
  const encode = encoder.encode as (...args: unknown[]) => Uint8Array | null;
  const out = encode(toRgba(image), image.width, image.height, {
    ...defaultOptions,
    quality,
    speed: 8,
    subsample: 3,
  });
  if (!out) throw new Error("AVIF encoding failed");
  return new Uint8Array(out);
}

/**
 * Encodes `image` as a one-frame GIF. With at most 256 distinct colours the palette is exact;
 * otherwise each pixel is mapped to a fixed 3-3-2 bit palette (what `palette332` returns).
 */
export async function encodeGif(image: RgbImage): Promise<Uint8Array> {
  const { GifWriter } = (await import("omggif")).default as {
    GifWriter: new (buf: Uint8Array, w: number, h: number, opts: unknown) => {
      addFrame(x: number, y: number, w: number, h: number, idx: number[], o: unknown): void;
      end(): number;
    };
  };
  const { palette, indices } = indexColours(image);
  const out = new Uint8Array(1024 + image.width * image.height * 2 + palette.length * 4);
  const writer = new GifWriter(out, image.width, image.height, { palette });
  writer.addFrame(0, 0, image.width, image.height, indices, {});
  return out.slice(0, writer.end());
}

function indexColours(image: RgbImage): { palette: number[]; indices: number[] } {
  const seen = new Map<number, number>();
  const indices: number[] = [];
  for (let p = 0; p < image.width * image.height && seen.size <= 256; p++) {
    const rgb = (image.data[3 * p] << 16) | (image.data[3 * p + 1] << 8) | image.data[3 * p + 2];
    if (!seen.has(rgb)) seen.set(rgb, seen.size);
    indices.push(seen.get(rgb)!);
  }
  if (seen.size <= 256) {
    const palette = [...seen.keys()];
    let size = 2;
    while (size < palette.length) size *= 2;
    while (palette.length < size) palette.push(0);
    return { palette, indices };
  }
  return {
    palette: palette332().map(([r, g, b]) => (r << 16) | (g << 8) | b),
    indices: Array.from(
      { length: image.width * image.height },
      (_, p) =>
        (image.data[3 * p] >> 5 << 5) | (image.data[3 * p + 1] >> 5 << 2) |
        (image.data[3 * p + 2] >> 6),
    ),
  };
}

/** The fixed palette: 3 bits red, 3 green, 2 blue, each level at the middle of its range. */
export function palette332(): [number, number, number][] {
  return Array.from({ length: 256 }, (_, i) => [
    ((i >> 5) << 5) + 16,
    (((i >> 2) & 7) << 5) + 16,
    ((i & 3) << 6) + 32,
  ]);
}

/** What {@linkcode encodeGif} turns a pixel into when it has to quantise. */
export function quantise332(r: number, g: number, b: number): [number, number, number] {
  return palette332()[(r >> 5 << 5) | (g >> 5 << 2) | (b >> 6)];
}

/** Encodes `image` as an uncompressed RGBA TIFF. */
export async function encodeTiff(image: RgbImage): Promise<Uint8Array> {
  const UTIF = (await import("utif2")).default as {
    encodeImage(rgba: Uint8Array, w: number, h: number): ArrayBuffer;
  };
  return new Uint8Array(UTIF.encodeImage(toRgba(image), image.width, image.height));
}

/** BMP variants {@linkcode encodeBmp} writes. */
export type BmpKind = "24" | "24-top-down" | "32-bitfields" | "8-palette" | "8-rle";

/** Encodes `image` as a BMP; the palette kinds need at most 256 colours. */
export function encodeBmp(image: RgbImage, kind: BmpKind = "24"): Uint8Array {
  const { width, height } = image;
  const bits = kind.startsWith("24") ? 24 : kind.startsWith("32") ? 32 : 8;
  const palette = bits === 8 ? indexColours(image) : undefined;
  if (palette && palette.palette.length > 256) throw new Error("too many colours for a palette");
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  const rows: Uint8Array[] = [];
  for (let row = 0; row < height; row++) {
    const y = kind === "24-top-down" ? row : height - 1 - row;
    const line = new Uint8Array(stride);
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const [r, g, b] = image.data.subarray(3 * p, 3 * p + 3);
      if (bits === 24) line.set([b, g, r], 3 * x);
      else if (bits === 32) line.set([b, g, r, 0x80], 4 * x); // alpha byte present but unmasked
      else line[x] = palette!.indices[p];
    }
    rows.push(line);
  }
  let pixels: Uint8Array;
  if (kind === "8-rle") {
    const runs: number[] = [];
    for (let row = 0; row < height; row++) {
      const line = rows[row].subarray(0, width);
      for (let x = 0; x < width;) {
        let n = 1;
        while (x + n < width && n < 255 && line[x + n] === line[x]) n++;
        runs.push(n, line[x]);
        x += n;
      }
      runs.push(0, 0);
    }
    runs.push(0, 1);
    pixels = new Uint8Array(runs);
  } else {
    pixels = new Uint8Array(stride * height);
    rows.forEach((line, i) => pixels.set(line, i * stride));
  }
  const paletteBytes = bits === 8 ? 256 * 4 : 0;
  const masksBytes = bits === 32 ? 12 : 0;
  const pixelsAt = 14 + 40 + masksBytes + paletteBytes;
  const out = new Uint8Array(pixelsAt + pixels.length);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  view.setUint32(2, out.length, true);
  view.setUint32(10, pixelsAt, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, kind === "24-top-down" ? -height : height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, bits, true);
  view.setUint32(30, kind === "8-rle" ? 1 : bits === 32 ? 3 : 0, true);
  view.setUint32(34, pixels.length, true);
  if (bits === 32) [0xff0000, 0xff00, 0xff].forEach((m, i) => view.setUint32(54 + 4 * i, m, true));
  if (palette) {
    palette.palette.forEach((rgb, i) => {
      out.set([rgb & 255, (rgb >> 8) & 255, rgb >> 16, 0], 54 + 4 * i);
    });
  }
  out.set(pixels, pixelsAt);
  return out;
}

/** Whether `heif-enc` (Debian package libheif-examples) is installed. */
export function hasHeifEnc(): boolean {
  try {
    // heif-enc exits non-zero for --help; that it ran at all is what we ask.
    new Deno.Command("heif-enc", { args: ["--help"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Encodes `image` as HEIC with `heif-enc` (lossy, `quality`), through a temporary PNG. */
export async function encodeHeic(image: RgbImage, quality = 90): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "heic-fixture-" });
  try {
    const png = encodePng({
      width: image.width,
      height: image.height,
      colorType: 2,
      bitDepth: 8,
      sample: (x, y, c) => image.data[(y * image.width + x) * 3 + c],
    });
    await Deno.writeFile(`${dir}/in.png`, png);
    const result = await new Deno.Command("heif-enc", {
      args: ["-q", String(quality), "-p", "chroma=444", "-o", `${dir}/out.heic`, `${dir}/in.png`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      throw new Error(`heif-enc failed: ${new TextDecoder().decode(result.stderr)}`);
    }
    return await Deno.readFile(`${dir}/out.heic`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Every format but JPEG, as the service's tests post them: name (also the file extension) and an
 * encoder from RGB pixels (lossy formats at a photo-like quality).
 */
export const PHOTO_ENCODERS: readonly [
  string,
  (image: RgbImage) => Promise<Uint8Array> | Uint8Array,
][] = [
  ["png", (image) =>
    encodePng({
      width: image.width,
      height: image.height,
      colorType: 2,
      bitDepth: 8,
      sample: (x, y, c) => image.data[(y * image.width + x) * 3 + c],
    })],
  ["webp", (image) => encodeWebp(image, { quality: 90 })],
  ["gif", encodeGif],
  ["bmp", (image) => encodeBmp(image)],
  ["tiff", encodeTiff],
  ["heic", (image) => encodeHeic(image, 90)],
  ["avif", (image) => encodeAvif(image, 80)],
];
