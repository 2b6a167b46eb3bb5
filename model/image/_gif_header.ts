/**
 * Walks a GIF's blocks without decompressing anything: the canvas size, the number of frames,
 * and whether the first frame's data is complete.
 * @module
 */
import { ImageError } from "./errors.ts";

/** Called with the declared size as soon as it is known, so limits apply before anything else. */
export type SizeCheck = (width: number, height: number) => void;

/** What a GIF's blocks say, before any pixel is decoded. */
export interface GifHeader {
  width: number;
  height: number;
  /** Image descriptors counted. */
  frames: number;
  /** The first frame alone as a GIF: header, colour table, its graphic control, its image. */
  firstFrame: Uint8Array;
}

const HEADER_BYTES = 13;
const EXTENSION = 0x21;
const IMAGE = 0x2c;
const TRAILER = 0x3b;
const GRAPHIC_CONTROL = 0xf9;
const TRANSPARENCY_FLAG = 0x01;

/**
 * A GIF of just the first frame, so the pixel decoder never walks (or chokes on) the rest. The
 * transparency flag is cleared: like the PNG path, alpha is dropped and a transparent pixel
 * keeps its palette colour.
 */
function firstFrameGif(
  bytes: Uint8Array,
  tableEnd: number,
  control: Uint8Array | undefined,
  image: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(tableEnd + (control?.length ?? 0) + image.length + 1);
  out.set(bytes.subarray(0, tableEnd));
  let at = tableEnd;
  if (control) {
    out.set(control, at);
    out[at + 3] &= ~TRANSPARENCY_FLAG;
    out[at + 7] = 0;
    at += control.length;
  }
  out.set(image, at);
  out[at + image.length] = TRAILER;
  return out;
}

function truncated(at: number, where: string): ImageError {
  return new ImageError(
    "truncated",
    `The GIF ends after ${at} bytes, inside its ${where}: the file was cut off. ` +
      "Upload the complete file.",
    { format: "gif" },
  );
}

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The GIF is corrupt: ${what}. Re-save or re-export the image and upload it again.`,
    { format: "gif" },
  );
}

/** Skips a chain of data sub-blocks; returns the offset after the terminator, or -1 if cut. */
function skipSubBlocks(bytes: Uint8Array, from: number): number {
  let at = from;
  while (at < bytes.length) {
    const size = bytes[at];
    if (size === 0) return at + 1;
    at += 1 + size;
  }
  return -1;
}

/**
 * Reads the logical screen and counts image descriptors.
 * @param bytes a whole file that starts with GIF87a or GIF89a
 * @param framesMax stop counting (and refuse) past this many frames
 * @param checkSize throws when the canvas is over the limits
 * @throws {ImageError} `truncated` when the first frame's data is cut off; `corrupt` for an
 * unknown block or a first frame outside the canvas; `dimensions_invalid` for a zero size;
 * `too_large` for more than `framesMax` frames
 */
export function readGifHeader(
  bytes: Uint8Array,
  framesMax: number,
  checkSize: SizeCheck,
): GifHeader {
  if (bytes.length < HEADER_BYTES) throw truncated(bytes.length, "header");
  const width = bytes[6] | (bytes[7] << 8);
  const height = bytes[8] | (bytes[9] << 8);
  if (width === 0 || height === 0) {
    throw new ImageError(
      "dimensions_invalid",
      `The GIF declares a size of ${width}×${height} pixels. ` +
        "Re-save it with an ordinary image editor and upload it again.",
      { format: "gif" },
    );
  }
  checkSize(width, height);
  const flags = bytes[10];
  let at = HEADER_BYTES + (flags & 0x80 ? 3 * (2 << (flags & 7)) : 0);
  const tableEnd = at;
  let frames = 0;
  let control: Uint8Array | undefined;
  let first: Uint8Array | undefined;
  const result = () => ({ width, height, frames, firstFrame: first! });
  while (at < bytes.length) {
    const block = bytes[at];
    if (block === TRAILER) return result();
    if (block === EXTENSION) {
      const end = skipSubBlocks(bytes, at + 2);
      if (end < 0) {
        if (frames === 0) throw truncated(bytes.length, "extension block");
        return result(); // a cut after the first frame loses only later frames
      }
      if (frames === 0 && bytes[at + 1] === GRAPHIC_CONTROL && bytes[at + 2] === 4) {
        control = bytes.subarray(at, at + 8);
      }
      at = end;
    } else if (block === IMAGE) {
      if (at + 10 > bytes.length) {
        if (frames === 0) throw truncated(bytes.length, "first frame's header");
        return result();
      }
      if (++frames > framesMax) {
        throw new ImageError(
          "too_large",
          `The GIF has more than ${framesMax} frames; only the first is used, but walking ` +
            "them all costs too much. Upload a still image (the frame with the face).",
          { format: "gif" },
        );
      }
      const x = bytes[at + 1] | (bytes[at + 2] << 8);
      const y = bytes[at + 3] | (bytes[at + 4] << 8);
      const w = bytes[at + 5] | (bytes[at + 6] << 8);
      const h = bytes[at + 7] | (bytes[at + 8] << 8);
      if (frames === 1 && (w === 0 || h === 0 || x + w > width || y + h > height)) {
        throw corrupt(
          `its first frame (${w}×${h} at ${x},${y}) lies outside its ${width}×${height} canvas`,
        );
      }
      const local = bytes[at + 9];
      // Local colour table, then the LZW minimum code size byte, then the data sub-blocks.
      const dataAt = at + 10 + (local & 0x80 ? 3 * (2 << (local & 7)) : 0) + 1;
      const end = dataAt > bytes.length ? -1 : skipSubBlocks(bytes, dataAt);
      if (end < 0) {
        if (frames === 1) throw truncated(bytes.length, "first frame's data");
        return result();
      }
      if (frames === 1) first = firstFrameGif(bytes, tableEnd, control, bytes.subarray(at, end));
      at = end;
    } else if (frames > 0) {
      return result(); // junk after a decodable frame: decoders stop there too
    } else {
      throw corrupt(`it has an unknown block type 0x${block.toString(16)} before its first frame`);
    }
  }
  if (frames === 0) throw truncated(bytes.length, "blocks, before any frame");
  return result();
}
