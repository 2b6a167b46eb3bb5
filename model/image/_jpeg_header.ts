/**
 * Walks a JPEG's marker segments without decoding pixels, so limits and unsupported variants
 * are refused before the decoder allocates anything, and so a failed decode can be told apart
 * as "cut off" or "corrupt".
 * @module
 */
import { ImageError } from "./errors.ts";
import { isExifPayload, readExifOrientation } from "./_exif.ts";

/** What the segments before the first scan say about a JPEG. */
export interface JpegHeader {
  width: number;
  height: number;
  /** 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK. */
  components: number;
  /** EXIF orientation 1–8 (1 when absent or unreadable). */
  orientation: number;
  /** Adobe APP14 colour transform (0 RGB/CMYK, 1 YCbCr, 2 YCCK), if present. */
  adobeTransform: number | undefined;
  /** Offset of the first byte of entropy-coded data of the first scan. */
  scanDataStart: number;
}

/** What the rest of the file says: how many scans and whether it reaches its EOI marker. */
export interface JpegScans {
  scans: number;
  complete: boolean;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
const APP14 = 0xee;
/** SOF markers of the sequential and progressive Huffman-coded processes we decode. */
const SOF_SUPPORTED = new Set([0xc0, 0xc1, 0xc2]);
const SOF_UNSUPPORTED: ReadonlyMap<number, string> = new Map([
  [0xc3, "lossless"],
  [0xc5, "hierarchical"],
  [0xc6, "hierarchical progressive"],
  [0xc7, "hierarchical lossless"],
  [0xc9, "arithmetic-coded"],
  [0xca, "arithmetic-coded progressive"],
  [0xcb, "arithmetic-coded lossless"],
  [0xcd, "arithmetic-coded hierarchical"],
  [0xce, "arithmetic-coded hierarchical progressive"],
  [0xcf, "arithmetic-coded hierarchical lossless"],
]);
const ADOBE = [0x41, 0x64, 0x6f, 0x62, 0x65];

function isStandalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

function truncated(at: number, where: string): ImageError {
  return new ImageError(
    "truncated",
    `The JPEG ends after ${at} bytes, inside its ${where}: the file was cut off. ` +
      "Upload the complete file.",
    { format: "jpeg" },
  );
}

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The JPEG is corrupt: ${what}. Re-save or re-export the photo and upload it again.`,
    { format: "jpeg" },
  );
}

function unsupported(what: string): ImageError {
  return new ImageError(
    "unsupported_format",
    `This is a ${what} JPEG, which is not supported. Re-save it as a standard ` +
      "(baseline or progressive, 8-bit, RGB or grayscale) JPEG, or as PNG.",
    { format: "jpeg" },
  );
}

interface Frame {
  width: number;
  height: number;
  components: number;
}

function readFrame(marker: number, payload: Uint8Array): Frame {
  const variant = SOF_UNSUPPORTED.get(marker);
  if (variant !== undefined) throw unsupported(variant);
  if (payload.length < 6) throw corrupt("its frame header (SOF) is too short");
  const precision = payload[0];
  const height = (payload[1] << 8) | payload[2];
  const width = (payload[3] << 8) | payload[4];
  const components = payload[5];
  if (payload.length < 6 + 3 * components) {
    throw corrupt(`its frame header lists ${components} components but has no room for them`);
  }
  if (precision !== 8) throw unsupported(`${precision}-bit`);
  if (components !== 1 && components !== 3 && components !== 4) {
    throw unsupported(`${components}-component`);
  }
  if (width === 0 || height === 0) {
    throw new ImageError(
      "dimensions_invalid",
      `The JPEG declares a size of ${width}×${height} pixels` +
        (height === 0 ? " (a height deferred to a DNL marker, which is not supported)" : "") +
        ". Re-save it with an ordinary image editor and upload it again.",
      { format: "jpeg" },
    );
  }
  return { width, height, components };
}

/**
 * Reads the segments between SOI and the first scan.
 * @param bytes a whole file that starts with FF D8 FF
 * @throws {ImageError} `truncated`, `corrupt`, `unsupported_format` or `dimensions_invalid`
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== SOI) {
    throw corrupt("it does not start with the SOI marker");
  }
  let frame: Frame | undefined;
  let orientation: number | undefined;
  let adobeTransform: number | undefined;
  let at = 2;
  for (;;) {
    // Like libjpeg (and the decoder we use), tolerate stray bytes between segments.
    while (at < bytes.length && bytes[at] !== 0xff) at++;
    while (at < bytes.length && bytes[at] === 0xff) at++;
    if (at >= bytes.length) throw truncated(bytes.length, "header");
    const marker = bytes[at++];
    if (marker === 0x00 || isStandalone(marker) || marker === SOI) continue;
    if (marker === EOI) throw corrupt("it ends (EOI) before any image data");
    if (at + 2 > bytes.length) throw truncated(bytes.length, "header");
    const length = (bytes[at] << 8) | bytes[at + 1];
    if (length < 2) throw corrupt(`a segment declares a length of ${length} bytes`);
    if (at + length > bytes.length) throw truncated(bytes.length, "header");
    const payload = bytes.subarray(at + 2, at + length);
    at += length;
    if (marker === SOS) {
      if (frame === undefined) throw corrupt("image data (SOS) comes before the frame header");
      return { ...frame, orientation: orientation ?? 1, adobeTransform, scanDataStart: at };
    }
    if (SOF_SUPPORTED.has(marker) || SOF_UNSUPPORTED.has(marker)) {
      if (frame !== undefined) throw corrupt("it has more than one frame header (SOF)");
      frame = readFrame(marker, payload);
    } else if (marker === APP1 && orientation === undefined && isExifPayload(payload)) {
      orientation = readExifOrientation(payload.subarray(6)) ?? 1;
    } else if (
      marker === APP14 && adobeTransform === undefined && payload.length >= 12 &&
      ADOBE.every((b, i) => payload[i] === b)
    ) {
      adobeTransform = payload[11];
    }
  }
}

/**
 * Follows the entropy-coded data and the segments between scans up to EOI.
 * @param from {@linkcode JpegHeader.scanDataStart}
 * @param scansMax refuse files with more scans than this (each scan is a pass over the image)
 * @throws {ImageError} `too_large` when the scan count exceeds `scansMax`; `corrupt` for bad
 * segment lengths
 */
export function readJpegScans(bytes: Uint8Array, from: number, scansMax: number): JpegScans {
  let scans = 1;
  let at = from;
  for (;;) {
    // Entropy-coded data: 0xFF is followed by a stuffed 0x00, a restart marker or fill bytes.
    for (;;) {
      while (at < bytes.length && bytes[at] !== 0xff) at++;
      while (at < bytes.length && bytes[at] === 0xff) at++;
      if (at >= bytes.length) return { scans, complete: false };
      const next = bytes[at];
      if (next === 0x00 || isStandalone(next)) {
        at++;
        continue;
      }
      break;
    }
    const marker = bytes[at++];
    if (marker === EOI) return { scans, complete: true };
    if (at + 2 > bytes.length) return { scans, complete: false };
    const length = (bytes[at] << 8) | bytes[at + 1];
    if (length < 2) throw corrupt(`a segment declares a length of ${length} bytes`);
    if (at + length > bytes.length) return { scans, complete: false };
    at += length;
    if (marker === SOS && ++scans > scansMax) {
      throw new ImageError(
        "too_large",
        `The JPEG has more than ${scansMax} scans (progressive photos have about 10); ` +
          "decoding it would take too long. Re-save it as a standard JPEG.",
        { format: "jpeg" },
      );
    }
  }
}
