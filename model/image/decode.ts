/**
 * Bytes in, RGB pixels out — for any bytes. Every input either becomes an {@linkcode RgbImage}
 * or an {@linkcode ImageError} that says what was wrong; nothing crashes, and every size that
 * costs memory or time is checked from the header before the pixel decoder runs.
 *
 * Formats, judged from the bytes: JPEG and PNG (imagescript's decoders, compiled at start-up),
 * and, each loaded on its first image: WebP (libwebp), GIF (first frame) and BMP (our own
 * code), TIFF (first image, UTIF), HEIC (libheif) and AVIF (libavif).
 *
 * Colour decisions (matching what face-api users get from `tf.node.decodeImage(bytes, 3)`):
 * alpha is dropped (not composited; a transparent GIF pixel keeps its palette colour), palette
 * and grayscale images are expanded to RGB, 16-bit PNG samples keep their high byte, CMYK/YCCK
 * JPEGs (Adobe APP14) are converted to RGB with the naive `(255 - C)(255 - K) / 255` formula (no
 * ICC profile), EXIF orientation is applied (JPEG, WebP, TIFF), and so are HEIC's and AVIF's
 * `irot`/`imir` transformations (their EXIF orientation is ignored, as the HEIF standard says).
 * @module
 */
import type { RgbImage } from "./rgb_image.ts";
import { ImageError } from "./errors.ts";
import { DECODABLE_FORMATS, type ImageFormat, sniffImageFormat } from "./format.ts";
import { readJpegHeader, readJpegScans } from "./_jpeg_header.ts";
import { pngReachesEnd, readPngHeader } from "./_png_header.ts";
import { applyOrientation, swapsAxes } from "./_orientation.ts";
import { readWebpHeader, type WebpHeader } from "./_webp_header.ts";
import { decodeGifPixels, type GifHeader, readGifHeader } from "./_gif.ts";
import { readTiffHeader, type TiffHeader } from "./_tiff_header.ts";
import { type BmpHeader, decodeBmpPixels, readBmpHeader } from "./_bmp.ts";
import { type HeifHeader, readHeifHeader } from "./_heif_header.ts";
import {
  CodecLoadError,
  decodeAvifPixels,
  type DecodedPixels,
  decodeHeicPixels,
  decodeTiffPixels,
  decodeWebpPixels,
} from "./_format_codecs.ts";
import {
  decodeJpegPixels,
  decodePngPixels,
  JPEG_PIXELS_CMYK32,
  JPEG_PIXELS_L8,
  JPEG_PIXELS_RGB24,
} from "./_codecs.ts";

export { prepareDecoders } from "./_codecs.ts";

/** Default cap on decoded pixels (width × height): 40 megapixels, a large phone photo. */
export const IMAGE_PIXELS_MAX = 40_000_000;
/** Default cap on encoded bytes: 32 MiB. */
export const IMAGE_BYTES_MAX = 32 * 1024 * 1024;
/** Default cap on JPEG scans; each is a pass over the whole image, progressive files have ~10. */
export const JPEG_SCANS_MAX = 100;
/**
 * Default cap on the frames of an animated GIF or WebP. Only the first is decoded, but the
 * header walk that counts them (and finds the first) visits every one.
 */
export const IMAGE_FRAMES_MAX = 1000;

/** The formats {@linkcode decodeImage} decodes, judged from the bytes. */
export type DecodedFormat = "jpeg" | "png" | "webp" | "gif" | "bmp" | "tiff" | "heic" | "avif";

/** Limits for {@linkcode decodeImage} and {@linkcode probeImage}. */
export interface DecodeImageOptions {
  /** Refuse images with more pixels (width × height) than this. @default {IMAGE_PIXELS_MAX} */
  pixelsMax?: number;
  /** Refuse inputs longer than this many bytes. @default {IMAGE_BYTES_MAX} */
  bytesMax?: number;
  /** Refuse JPEGs with more scans than this. @default {JPEG_SCANS_MAX} */
  jpegScansMax?: number;
  /** Refuse animated GIFs/WebPs with more frames than this. @default {IMAGE_FRAMES_MAX} */
  framesMax?: number;
}

/** What the header of a decodable image says, before any pixel is decoded. */
export interface ImageInfo {
  /** The format detected from the bytes. */
  format: DecodedFormat;
  /** Width as displayed, after EXIF orientation. */
  width: number;
  /** Height as displayed, after EXIF orientation. */
  height: number;
  /**
   * Orientation 1–8 (EXIF numbering) that decoding applies: EXIF's in JPEG, WebP and TIFF; the
   * `irot`/`imir` transformations of HEIC and AVIF; always 1 for PNG, GIF and BMP.
   */
  orientation: number;
  /** Frames in an animated GIF or WebP (only the first is decoded); 1 otherwise. */
  frames: number;
}

interface Limits {
  pixelsMax: number;
  bytesMax: number;
  jpegScansMax: number;
  framesMax: number;
}

/** What each format's header reader found, for its pixel decoder. */
type Parsed =
  | { format: "jpeg"; components: number }
  | { format: "png" }
  | { format: "webp"; header: WebpHeader }
  | { format: "gif"; header: GifHeader }
  | { format: "bmp"; header: BmpHeader }
  | { format: "tiff"; header: TiffHeader }
  | { format: "heic" | "avif"; header: HeifHeader };

interface Probe extends ImageInfo {
  /** Whether the data reaches its end marker (EOI / IEND / the last box). */
  complete: boolean;
  storedWidth: number;
  storedHeight: number;
  parsed: Parsed;
}

/** The formats decoded, as the messages name them. */
export const DECODED_FORMAT_NAMES = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF";
const WHAT_TO_UPLOAD = `Upload a photo (${DECODED_FORMAT_NAMES}).`;
const DECODED: readonly ImageFormat[] = DECODABLE_FORMATS;
const FORMAT_NAMES: Record<ImageFormat, string> = {
  jpeg: "a JPEG image",
  png: "a PNG image",
  gif: "a GIF image",
  webp: "a WebP image",
  bmp: "a BMP image",
  tiff: "a TIFF image",
  heic: "a HEIC/HEIF image (as iPhones save by default)",
  avif: "an AVIF image",
  ico: "an icon (ICO) file",
  jpeg2000: "a JPEG 2000 image",
  jpegxl: "a JPEG XL image",
  psd: "a Photoshop (PSD) document",
  pdf: "a PDF document",
  svg: "an SVG drawing",
  html: "a web page (HTML)",
  xml: "an XML document",
  text: "a text file",
  unknown: "of no kind we recognise",
};
const SIGNATURE_PREFIXES: readonly [ImageFormat, readonly number[]][] = [
  ["jpeg", [0xff, 0xd8, 0xff]],
  ["png", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
];

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function resolveLimits(options: DecodeImageOptions): Limits {
  return {
    pixelsMax: positiveInteger("pixelsMax", options.pixelsMax, IMAGE_PIXELS_MAX),
    bytesMax: positiveInteger("bytesMax", options.bytesMax, IMAGE_BYTES_MAX),
    jpegScansMax: positiveInteger("jpegScansMax", options.jpegScansMax, JPEG_SCANS_MAX),
    framesMax: positiveInteger("framesMax", options.framesMax, IMAGE_FRAMES_MAX),
  };
}

/** A file shorter than its format's signature that matches as far as it goes was cut off. */
function cutSignature(bytes: Uint8Array): ImageFormat | undefined {
  for (const [format, signature] of SIGNATURE_PREFIXES) {
    if (bytes.length < signature.length && bytes.every((b, i) => b === signature[i])) {
      return format;
    }
  }
  return undefined;
}

function checkBytes(bytes: Uint8Array, limits: Limits): DecodedFormat {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `decodeImage needs a Uint8Array, got ${Object.prototype.toString.call(bytes)}`,
    );
  }
  if (bytes.length === 0) {
    throw new ImageError("empty", `The image has 0 bytes. ${WHAT_TO_UPLOAD}`, {
      format: "unknown",
    });
  }
  const format = sniffImageFormat(bytes);
  if (bytes.length > limits.bytesMax) {
    throw new ImageError(
      "too_large",
      `The image has ${bytes.length} bytes, more than the limit of ${limits.bytesMax}. ` +
        "Upload a smaller or more compressed photo.",
      { format },
    );
  }
  const cut = cutSignature(bytes);
  if (cut !== undefined) {
    throw new ImageError(
      "truncated",
      `The file has only ${bytes.length} bytes, the start of ${FORMAT_NAMES[cut]}: it was ` +
        "cut off. Upload the complete file.",
      { format: cut },
    );
  }
  if (!DECODED.includes(format)) {
    throw new ImageError(
      "unsupported_format",
      `The file is ${FORMAT_NAMES[format]}, not a photo format we decode (file names are not ` +
        `trusted, only the content). Convert it to ${DECODED_FORMAT_NAMES} and upload that.`,
      { format },
    );
  }
  return format as DecodedFormat;
}

function checkPixels(format: ImageFormat, width: number, height: number, limits: Limits): void {
  if (width * height > limits.pixelsMax) {
    throw new ImageError(
      "too_large",
      `The image is ${width}×${height} = ${width * height} pixels, more than the limit of ` +
        `${limits.pixelsMax}. Scale it down (a face needs far fewer pixels) and upload it again.`,
      { format },
    );
  }
}

function tooManyFrames(format: DecodedFormat, frames: number, limits: Limits): void {
  if (frames > limits.framesMax) {
    throw new ImageError(
      "too_large",
      `The animation has ${frames} frames, more than the limit of ${limits.framesMax}; only ` +
        "the first is used. Upload a still image (the frame with the face).",
      { format },
    );
  }
}

/** One orientation (EXIF numbering) doing what `transforms` do one after the other. */
function composeOrientations(transforms: number[]): number {
  if (transforms.length <= 1) return transforms[0] ?? 1;
  const probe = { width: 3, height: 2, data: new Uint8Array(18).map((_, i) => i) };
  const target = transforms.reduce(applyOrientation, probe);
  for (let orientation = 1; orientation <= 8; orientation++) {
    const candidate = applyOrientation(probe, orientation);
    if (candidate.width === target.width && candidate.data.every((v, i) => v === target.data[i])) {
      return orientation;
    }
  }
  return 1; // unreachable: the eight orientations form a group
}

/** A header's stored size, turned into the probe every format shares. */
function probeOf(
  parsed: Parsed,
  storedWidth: number,
  storedHeight: number,
  orientation: number,
  extra: { frames?: number; complete?: boolean } = {},
): Probe {
  const swap = swapsAxes(orientation);
  return {
    format: parsed.format,
    width: swap ? storedHeight : storedWidth,
    height: swap ? storedWidth : storedHeight,
    storedWidth,
    storedHeight,
    orientation,
    frames: extra.frames ?? 1,
    complete: extra.complete ?? true,
    parsed,
  };
}

function probeJpeg(bytes: Uint8Array, limits: Limits): Probe {
  const format = "jpeg";
  const header = readJpegHeader(bytes);
  checkPixels(format, header.width, header.height, limits);
  if (header.components === 4 && header.adobeTransform === undefined) {
    throw new ImageError(
      "unsupported_format",
      "This is a 4-channel (CMYK) JPEG without the Adobe marker that says how to read its " +
        "colours. Convert it to an RGB JPEG or PNG and upload that.",
      { format },
    );
  }
  const { complete } = readJpegScans(bytes, header, limits.jpegScansMax);
  if (!complete) {
    // jpeg-decoder fails on every JPEG without its EOI marker; say so before it spends ~40 ms
    // per megapixel finding out.
    throw new ImageError(
      "truncated",
      `The JPEG stops after ${bytes.length} bytes, before its end marker: the file was cut ` +
        "off. Upload the complete file.",
      { format },
    );
  }
  const parsed: Parsed = { format, components: header.components };
  return probeOf(parsed, header.width, header.height, header.orientation, { complete });
}

function probeHeif(bytes: Uint8Array, format: "heic" | "avif", limits: Limits): Probe {
  const header = readHeifHeader(bytes, format);
  checkPixels(format, header.width, header.height, limits);
  if (!header.complete) {
    throw new ImageError(
      "truncated",
      `The ${format.toUpperCase()} file's last box runs past its ${bytes.length} bytes: the ` +
        "file was cut off. Upload the complete file.",
      { format },
    );
  }
  const orientation = composeOrientations(header.transforms);
  return probeOf({ format, header }, header.width, header.height, orientation);
}

function probeWithLimits(bytes: Uint8Array, limits: Limits): Probe {
  const format = checkBytes(bytes, limits);
  switch (format) {
    case "jpeg":
      return probeJpeg(bytes, limits);
    case "png": {
      const header = readPngHeader(bytes);
      checkPixels(format, header.width, header.height, limits);
      return probeOf({ format }, header.width, header.height, 1, {
        complete: pngReachesEnd(bytes),
      });
    }
    case "webp": {
      const header = readWebpHeader(bytes, (w, h) => checkPixels(format, w, h, limits));
      tooManyFrames(format, header.frames, limits);
      return probeOf({ format, header }, header.width, header.height, header.orientation, {
        frames: Math.max(1, header.frames),
      });
    }
    case "gif": {
      const header = readGifHeader(
        bytes,
        limits.framesMax,
        (w, h) => checkPixels(format, w, h, limits),
      );
      return probeOf({ format, header }, header.width, header.height, 1, {
        frames: header.frames,
      });
    }
    case "bmp": {
      const header = readBmpHeader(bytes, (w, h) => checkPixels(format, w, h, limits));
      return probeOf({ format, header }, header.width, header.height, 1);
    }
    case "tiff": {
      const header = readTiffHeader(bytes, (w, h) => checkPixels(format, w, h, limits));
      return probeOf({ format, header }, header.width, header.height, header.orientation);
    }
    case "heic":
    case "avif":
      return probeHeif(bytes, format, limits);
  }
}

/**
 * Reads an image's format, size and orientation from its header, applying the same checks as
 * {@linkcode decodeImage} except the pixel decoding itself. Cheap: use it to refuse an upload
 * before queueing it.
 *
 * @param bytes the whole encoded file
 * @param options limits; see {@linkcode DecodeImageOptions}
 * @returns the format and the size as displayed
 * @throws {ImageError} for empty, unsupported, truncated, corrupt, oversized or zero-sized input
 * @throws {RangeError} when an option is not a positive integer
 * @example
 * ```ts
 * import { probeImage } from "./decode.ts";
 * const info = probeImage(await Deno.readFile("photo.jpg"));
 * console.log(info.format, info.width, info.height);
 * ```
 */
export function probeImage(bytes: Uint8Array, options: DecodeImageOptions = {}): ImageInfo {
  const { format, width, height, orientation, frames } = probeWithLimits(
    bytes,
    resolveLimits(options),
  );
  return { format, width, height, orientation, frames };
}

const DISPLAY_NAMES: Record<DecodedFormat, string> = {
  jpeg: "JPEG",
  png: "PNG",
  webp: "WebP",
  gif: "GIF",
  bmp: "BMP",
  tiff: "TIFF",
  heic: "HEIC",
  avif: "AVIF",
};

function decodeFailure(probe: Probe, cause: unknown): ImageError {
  const name = DISPLAY_NAMES[probe.format];
  if (!probe.complete) {
    return new ImageError(
      "truncated",
      `The ${name} stops before its end marker and its data cannot be decoded: the file was ` +
        "cut off. Upload the complete file.",
      { format: probe.format, cause },
    );
  }
  return new ImageError(
    "corrupt",
    `The ${name}'s compressed pixel data is corrupt (${
      cause instanceof Error ? cause.message : String(cause)
    }). Re-save or re-export the photo and upload it again.`,
    { format: probe.format, cause },
  );
}

function mismatch(probe: Probe, width: number, height: number): ImageError {
  return new ImageError(
    "corrupt",
    `The ${DISPLAY_NAMES[probe.format]} header says ${probe.storedWidth}×${probe.storedHeight} ` +
      `but its data decodes to ${width}×${height}. Re-save the image and upload it again.`,
    { format: probe.format },
  );
}

function jpegToRgb(samples: Uint8Array, format: number, pixels: number): Uint8Array | undefined {
  const rgb = new Uint8Array(pixels * 3);
  if (format === JPEG_PIXELS_RGB24 && samples.length >= pixels * 3) {
    rgb.set(samples.subarray(0, pixels * 3));
  } else if (format === JPEG_PIXELS_L8 && samples.length >= pixels) {
    for (let i = 0, o = 0; i < pixels; i++) {
      const v = samples[i];
      rgb[o++] = v;
      rgb[o++] = v;
      rgb[o++] = v;
    }
  } else if (format === JPEG_PIXELS_CMYK32 && samples.length >= pixels * 4) {
    // jpeg-decoder has already undone Adobe's inversion: samples are ink amounts, 255 = full.
    for (let i = 0, o = 0; i < pixels * 4; i += 4) {
      const white = 255 - samples[i + 3];
      rgb[o++] = Math.round(((255 - samples[i]) * white) / 255);
      rgb[o++] = Math.round(((255 - samples[i + 1]) * white) / 255);
      rgb[o++] = Math.round(((255 - samples[i + 2]) * white) / 255);
    }
  } else return undefined;
  return rgb;
}

async function decodeJpeg(bytes: Uint8Array, probe: Probe): Promise<RgbImage> {
  const decoded = await decodeJpegPixels(bytes);
  if (decoded.width !== probe.storedWidth || decoded.height !== probe.storedHeight) {
    throw mismatch(probe, decoded.width, decoded.height);
  }
  const data = jpegToRgb(decoded.samples, decoded.format, decoded.width * decoded.height);
  if (data === undefined) {
    throw decodeFailure(probe, new Error(`unexpected pixel layout ${decoded.format}`));
  }
  return { width: decoded.width, height: decoded.height, data };
}

/** RGB from RGBA or RGB pixels; alpha is dropped (not composited), as the PNG path does. */
function toRgb(pixels: { channels: 3 | 4; data: Uint8Array }, count: number): Uint8Array {
  if (pixels.channels === 3) return pixels.data.slice(0, count * 3);
  const data = new Uint8Array(count * 3);
  const rgba = pixels.data;
  for (let i = 0, o = 0; o < data.length; i += 4) {
    data[o++] = rgba[i];
    data[o++] = rgba[i + 1];
    data[o++] = rgba[i + 2];
  }
  return data;
}

function exactSize(probe: Probe, pixels: DecodedPixels): RgbImage {
  const { width, height } = pixels;
  if (width !== probe.storedWidth || height !== probe.storedHeight) {
    throw mismatch(probe, width, height);
  }
  if (pixels.data.length < width * height * pixels.channels) {
    throw decodeFailure(probe, new Error(`the decoder returned ${pixels.data.length} bytes`));
  }
  return { width, height, data: toRgb(pixels, width * height) };
}

async function decodePng(bytes: Uint8Array, probe: Probe): Promise<RgbImage> {
  const { width, height, rgba } = await decodePngPixels(bytes);
  return exactSize(probe, { width, height, channels: 4, data: rgba });
}

async function decodeWebp(probe: Probe, header: WebpHeader, bytes: Uint8Array) {
  if (header.firstFrame === undefined) return exactSize(probe, await decodeWebpPixels(bytes));
  // An animation: its first frame, placed where it belongs on the (black) canvas.
  const { x, y, still } = header.firstFrame;
  const frame = await decodeWebpPixels(still);
  const canvas = new Uint8Array(probe.storedWidth * probe.storedHeight * 3);
  const rgb = toRgb(frame, frame.width * frame.height);
  for (let row = 0; row < frame.height; row++) {
    canvas.set(
      rgb.subarray(row * frame.width * 3, (row + 1) * frame.width * 3),
      ((y + row) * probe.storedWidth + x) * 3,
    );
  }
  return { width: probe.storedWidth, height: probe.storedHeight, data: canvas };
}

/** HEIF-family decoders may crop (`clap`), never grow past the header's size. */
function withinHeader(probe: Probe, pixels: DecodedPixels, rotated: boolean): RgbImage {
  const [wMax, hMax] = rotated && swapsAxes(probe.orientation)
    ? [probe.storedHeight, probe.storedWidth]
    : [probe.storedWidth, probe.storedHeight];
  if (pixels.width > wMax || pixels.height > hMax || pixels.width < 1 || pixels.height < 1) {
    throw mismatch(probe, pixels.width, pixels.height);
  }
  return {
    width: pixels.width,
    height: pixels.height,
    data: toRgb(pixels, pixels.width * pixels.height),
  };
}

/** The stored image, before orientation, and whether the decoder already applied it. */
async function decodeStored(
  bytes: Uint8Array,
  probe: Probe,
  limits: Limits,
): Promise<{ image: RgbImage; oriented: boolean }> {
  const parsed = probe.parsed;
  switch (parsed.format) {
    case "jpeg":
      return { image: await decodeJpeg(bytes, probe), oriented: false };
    case "png":
      return { image: await decodePng(bytes, probe), oriented: false };
    case "webp":
      return { image: await decodeWebp(probe, parsed.header, bytes), oriented: false };
    case "gif":
      return { image: decodeGifPixels(parsed.header), oriented: false };
    case "bmp":
      return { image: decodeBmpPixels(bytes, parsed.header), oriented: false };
    case "tiff":
      return {
        image: exactSize(probe, await decodeTiffPixels(bytes, parsed.header.directory)),
        oriented: false,
      };
    case "avif":
      return { image: withinHeader(probe, await decodeAvifPixels(bytes), false), oriented: false };
    case "heic":
      // libheif applies the rotation, mirroring and crop itself.
      return {
        image: withinHeader(probe, await decodeHeicPixels(bytes, limits.pixelsMax), true),
        oriented: true,
      };
  }
}

/**
 * Decodes a JPEG, PNG, WebP, GIF (first frame), BMP, TIFF (first image), HEIC or AVIF to 8-bit
 * RGB, the format being decided from the bytes, never from a file name. Each format's decoder
 * is loaded on the first image of that format. Sizes are checked from the header first, so an oversized image is refused in
 * microseconds without allocating its pixels.
 *
 * @param bytes the whole encoded file
 * @param options limits; see {@linkcode DecodeImageOptions}
 * @returns the image as displayed (EXIF orientation applied), alpha dropped
 * @throws {ImageError} for any input that is not a decodable image within the limits
 * @throws {RangeError} when an option is not a positive integer
 * @example
 * ```ts
 * import { decodeImage } from "./decode.ts";
 * import { ImageError } from "./errors.ts";
 * try {
 *   const image = await decodeImage(await Deno.readFile("photo.jpg"));
 *   console.log(image.width, image.height);
 * } catch (error) {
 *   if (error instanceof ImageError) console.log(error.code, error.message);
 *   else throw error;
 * }
 * ```
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<RgbImage> {
  const limits = resolveLimits(options);
  const probe = probeWithLimits(bytes, limits);
  let stored: { image: RgbImage; oriented: boolean };
  try {
    stored = await decodeStored(bytes, probe, limits);
  } catch (error) {
    if (error instanceof ImageError || error instanceof CodecLoadError) throw error;
    throw decodeFailure(probe, error);
  }
  return stored.oriented ? stored.image : applyOrientation(stored.image, probe.orientation);
}
