/**
 * Bytes in, RGB pixels out — for any bytes. Every input either becomes an {@linkcode RgbImage}
 * or an {@linkcode ImageError} that says what was wrong; nothing crashes, and every size that
 * costs memory or time is checked from the header before the pixel decoder runs.
 *
 * Colour decisions (matching what face-api users get from `tf.node.decodeImage(bytes, 3)`):
 * alpha is dropped (not composited), palette and grayscale images are expanded to RGB, 16-bit
 * PNG samples keep their high byte, CMYK/YCCK JPEGs (Adobe APP14) are converted to RGB with the
 * naive `(255 - C)(255 - K) / 255` formula (no ICC profile), and EXIF orientation is applied.
 * @module
 */
import type { RgbImage } from "./rgb_image.ts";
import { ImageError } from "./errors.ts";
import { type ImageFormat, sniffImageFormat } from "./format.ts";
import { readJpegHeader, readJpegScans } from "./_jpeg_header.ts";
import { pngReachesEnd, readPngHeader } from "./_png_header.ts";
import { applyOrientation, swapsAxes } from "./_orientation.ts";
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

/** Limits for {@linkcode decodeImage} and {@linkcode probeImage}. */
export interface DecodeImageOptions {
  /** Refuse images with more pixels (width × height) than this. @default {IMAGE_PIXELS_MAX} */
  pixelsMax?: number;
  /** Refuse inputs longer than this many bytes. @default {IMAGE_BYTES_MAX} */
  bytesMax?: number;
  /** Refuse JPEGs with more scans than this. @default {JPEG_SCANS_MAX} */
  jpegScansMax?: number;
}

/** What the header of a decodable image says, before any pixel is decoded. */
export interface ImageInfo {
  /** The format detected from the bytes. */
  format: "jpeg" | "png";
  /** Width as displayed, after EXIF orientation. */
  width: number;
  /** Height as displayed, after EXIF orientation. */
  height: number;
  /** EXIF orientation 1–8 that decoding applies (always 1 for PNG). */
  orientation: number;
}

interface Limits {
  pixelsMax: number;
  bytesMax: number;
  jpegScansMax: number;
}

interface Probe extends ImageInfo {
  /** Whether the data reaches its end marker (EOI / IEND). */
  complete: boolean;
  storedWidth: number;
  storedHeight: number;
  components: number;
}

const WHAT_TO_UPLOAD = "Upload a JPEG or PNG photo.";
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
  unknown: "not in any image format we recognise",
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

function checkBytes(bytes: Uint8Array, limits: Limits): "jpeg" | "png" {
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
  if (format !== "jpeg" && format !== "png") {
    throw new ImageError(
      "unsupported_format",
      `The file is ${FORMAT_NAMES[format]}, not a JPEG or PNG (file names are not trusted, ` +
        `only the content). Convert it to JPEG or PNG and upload that.`,
      { format },
    );
  }
  return format;
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

function probeWithLimits(bytes: Uint8Array, limits: Limits): Probe {
  const format = checkBytes(bytes, limits);
  if (format === "png") {
    const header = readPngHeader(bytes);
    checkPixels(format, header.width, header.height, limits);
    return {
      format,
      width: header.width,
      height: header.height,
      storedWidth: header.width,
      storedHeight: header.height,
      orientation: 1,
      components: header.colorType === 0 || header.colorType === 4 ? 1 : 3,
      complete: pngReachesEnd(bytes),
    };
  }
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
  const swap = swapsAxes(header.orientation);
  return {
    format,
    width: swap ? header.height : header.width,
    height: swap ? header.width : header.height,
    storedWidth: header.width,
    storedHeight: header.height,
    orientation: header.orientation,
    components: header.components,
    complete,
  };
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
  const { format, width, height, orientation } = probeWithLimits(bytes, resolveLimits(options));
  return { format, width, height, orientation };
}

function decodeFailure(probe: Probe, cause: unknown): ImageError {
  const name = probe.format === "jpeg" ? "JPEG" : "PNG";
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
    `The ${probe.format.toUpperCase()} header says ${probe.storedWidth}×${probe.storedHeight} ` +
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

async function decodePng(bytes: Uint8Array, probe: Probe): Promise<RgbImage> {
  const { width, height, rgba } = await decodePngPixels(bytes);
  if (width !== probe.storedWidth || height !== probe.storedHeight) {
    throw mismatch(probe, width, height);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; i < rgba.length; i += 4) {
    data[o++] = rgba[i];
    data[o++] = rgba[i + 1];
    data[o++] = rgba[i + 2];
  }
  return { width, height, data };
}

/**
 * Decodes a JPEG or PNG to 8-bit RGB, the format being decided from the bytes, never from a
 * file name. Sizes are checked from the header first, so an oversized image is refused in
 * microseconds without allocating its pixels.
 *
 * @param bytes the whole encoded file
 * @param options limits; see {@linkcode DecodeImageOptions}
 * @returns the image as displayed (EXIF orientation applied), alpha dropped
 * @throws {ImageError} for any input that is not a decodable JPEG/PNG within the limits
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
  const probe = probeWithLimits(bytes, resolveLimits(options));
  let stored: RgbImage;
  try {
    stored = probe.format === "jpeg"
      ? await decodeJpeg(bytes, probe)
      : await decodePng(bytes, probe);
  } catch (error) {
    if (error instanceof ImageError) throw error;
    if (error instanceof Error && error.message.startsWith("Cannot load imagescript")) throw error;
    throw decodeFailure(probe, error);
  }
  return applyOrientation(stored, probe.orientation);
}
