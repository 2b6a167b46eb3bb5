/**
 * Reads a PNG's IHDR and walks its chunk list without inflating anything, so limits are
 * checked from the header and a failed decode can be told apart as "cut off" or "corrupt".
 * @module
 */
import { ImageError } from "./errors.ts";

/** What IHDR says about a PNG. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

const SIGNATURE_BYTES = 8;
const IHDR_END = SIGNATURE_BYTES + 8 + 13 + 4;
const CHUNK_OVERHEAD_BYTES = 12;
/** PNG caps dimensions (and chunk lengths) at 2^31 - 1. */
const PNG_INT_MAX = 0x7fffffff;
const IEND = 0x49454e44;
/** Allowed bit depths per colour type (PNG spec, table 11.1). */
const BIT_DEPTHS: ReadonlyMap<number, readonly number[]> = new Map([
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
]);

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The PNG is corrupt: ${what}. Re-save or re-export the image and upload it again.`,
    { format: "png" },
  );
}

/**
 * Validates the signature and IHDR.
 * @throws {ImageError} `truncated`, `corrupt` or `dimensions_invalid`
 */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < IHDR_END) {
    throw new ImageError(
      "truncated",
      `The PNG ends after ${bytes.length} bytes, inside its header: the file was cut off. ` +
        "Upload the complete file.",
      { format: "png" },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13 || view.getUint32(12) !== 0x49484452) {
    throw corrupt("its first chunk is not a 13-byte IHDR header");
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const [bitDepth, colorType, compression, filter, interlace] = bytes.subarray(24, 29);
  if (width === 0 || height === 0 || width > PNG_INT_MAX || height > PNG_INT_MAX) {
    throw new ImageError(
      "dimensions_invalid",
      `The PNG declares a size of ${width}×${height} pixels, which no image can have. ` +
        "Re-save it with an ordinary image editor and upload it again.",
      { format: "png" },
    );
  }
  if (!(BIT_DEPTHS.get(colorType)?.includes(bitDepth) ?? false)) {
    throw corrupt(`its header gives colour type ${colorType} with bit depth ${bitDepth}`);
  }
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw corrupt(
      `its header gives compression ${compression}, filter ${filter}, interlace ${interlace}`,
    );
  }
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

/** True when the chunk list reaches IEND before the data runs out. */
export function pngReachesEnd(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = SIGNATURE_BYTES;
  while (at + CHUNK_OVERHEAD_BYTES <= bytes.length) {
    const length = view.getUint32(at);
    if (length > PNG_INT_MAX) throw corrupt(`a chunk declares a length of ${length} bytes`);
    if (view.getUint32(at + 4) === IEND) return true;
    at += CHUNK_OVERHEAD_BYTES + length;
  }
  return false;
}
