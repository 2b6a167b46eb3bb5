/**
 * GIF, read by hand: a walk over the blocks without decompressing anything (the canvas size,
 * the number of frames, whether the first frame's data is complete), then an LZW decoder for
 * the first frame alone. Written here rather than taken from a package because the packaged
 * decoders follow code-table chains without a bound, and damaged data can make those chains
 * cycle: a hang, not an error.
 * @module
 */
import { ImageError } from "./errors.ts";
import type { RgbImage } from "./rgb_image.ts";
import type { SizeCheck } from "./_size_check.ts";

/** What a GIF's blocks say, before any pixel is decoded. */
export interface GifHeader {
  width: number;
  height: number;
  /** Image descriptors counted. */
  frames: number;
  /** The first frame: what its image descriptor says and its compressed data. */
  firstFrame: GifFrame;
}

/** One frame's image descriptor, colour table and LZW data (sub-blocks joined). */
export interface GifFrame {
  x: number;
  y: number;
  width: number;
  height: number;
  interlaced: boolean;
  /** RGB triples: the local colour table, else the global one (empty if neither). */
  palette: Uint8Array;
  minCodeSize: number;
  data: Uint8Array;
}

const HEADER_BYTES = 13;
const EXTENSION = 0x21;
const IMAGE = 0x2c;
const TRAILER = 0x3b;
/** LZW codes are at most 12 bits wide. */
const CODES_MAX = 4096;

/**
 * The first frame's descriptor and data. Transparency is ignored: like the PNG path, alpha is
 * dropped and a transparent pixel keeps its palette colour.
 */
function frameAt(bytes: Uint8Array, at: number, end: number, globalPalette: Uint8Array): GifFrame {
  const flags = bytes[at + 9];
  const paletteBytes = flags & 0x80 ? 3 * (2 << (flags & 7)) : 0;
  const dataAt = at + 10 + paletteBytes;
  const chunks: Uint8Array[] = [];
  for (let p = dataAt + 1; p < end && bytes[p] !== 0; p += 1 + bytes[p]) {
    chunks.push(bytes.subarray(p + 1, p + 1 + bytes[p]));
  }
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((o, c) => (data.set(c, o), o + c.length), 0);
  return {
    x: bytes[at + 1] | (bytes[at + 2] << 8),
    y: bytes[at + 3] | (bytes[at + 4] << 8),
    width: bytes[at + 5] | (bytes[at + 6] << 8),
    height: bytes[at + 7] | (bytes[at + 8] << 8),
    interlaced: (flags & 0x40) !== 0,
    palette: paletteBytes ? bytes.subarray(at + 10, dataAt) : globalPalette,
    minCodeSize: bytes[dataAt],
    data,
  };
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
  const globalPalette = bytes.subarray(HEADER_BYTES, Math.min(at, bytes.length));
  let frames = 0;
  let first: GifFrame | undefined;
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
      if (frames === 1) first = frameAt(bytes, at, end, globalPalette);
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

/** Reads LZW codes of a growing width from the joined sub-block data, least significant first. */
class CodeReader {
  #at = 0;
  #bits = 0;
  #held = 0;
  constructor(readonly data: Uint8Array) {}

  /** The next `width`-bit code, or -1 when the data runs out. */
  read(width: number): number {
    while (this.#held < width) {
      if (this.#at >= this.data.length) return -1;
      this.#bits |= this.data[this.#at++] << this.#held;
      this.#held += 8;
    }
    const code = this.#bits & ((1 << width) - 1);
    this.#bits >>>= width;
    this.#held -= width;
    return code;
  }
}

/**
 * Decompresses a frame's palette indices. Every loop is bounded: each code's string is written
 * from a length stored when the entry was made (so a chain can never cycle), and decoding stops
 * at the end-of-information code, at the end of the data, at an impossible code, or when the
 * frame is full. Pixels the data does not reach stay index 0.
 * @throws {ImageError} `corrupt` for a minimum code size outside GIF's 1–11
 */
function decodeIndices(frame: GifFrame): Uint8Array {
  const out = new Uint8Array(frame.width * frame.height);
  const min = frame.minCodeSize;
  if (min < 1 || min > 11) throw corrupt(`its first frame declares an LZW code size of ${min}`);
  const clear = 1 << min;
  const end = clear + 1;
  const prefix = new Uint16Array(CODES_MAX);
  const suffix = new Uint8Array(CODES_MAX);
  const first = new Uint8Array(CODES_MAX);
  const length = new Uint16Array(CODES_MAX);
  for (let i = 0; i < clear; i++) {
    suffix[i] = first[i] = i;
    length[i] = 1;
  }
  const reader = new CodeReader(frame.data);
  let width = min + 1;
  let next = end + 1;
  let previous = -1;
  let written = 0;
  while (written < out.length) {
    const code = reader.read(width);
    if (code < 0 || code === end) break;
    if (code === clear) {
      width = min + 1;
      next = end + 1;
      previous = -1;
      continue;
    }
    if (previous < 0) {
      if (code >= clear) break; // the first code after a clear must be a plain index
    } else if (next < CODES_MAX) {
      if (code > next) break; // a code that does not exist yet: the data is damaged
      // The new entry is the previous string plus the first index of this code's string
      // (of the previous string itself when the code is the entry being made).
      prefix[next] = previous;
      suffix[next] = code === next ? first[previous] : first[code];
      first[next] = first[previous];
      length[next] = length[previous] + 1;
      next++;
      if (next === 1 << width && width < 12) width++;
    } else if (code >= CODES_MAX) break;
    const count = Math.min(length[code], out.length - written);
    let chase = code;
    for (let i = length[code] - 1; i >= 0; i--) {
      if (i < count) out[written + i] = suffix[chase];
      chase = prefix[chase];
    }
    written += count;
    previous = code;
  }
  return out;
}

/** Row order of an interlaced frame: every 8th row from 0, every 8th from 4, every 4th from 2, odd. */
function interlacedRows(height: number): number[] {
  const rows: number[] = [];
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]]) {
    for (let y = start; y < height; y += step) rows.push(y);
  }
  return rows;
}

/**
 * Decodes the first frame onto the canvas (black where the frame does not reach).
 * @throws {ImageError} `corrupt` for an impossible LZW code size
 */
export function decodeGifPixels(header: GifHeader): RgbImage {
  const frame = header.firstFrame;
  const indices = decodeIndices(frame);
  const data = new Uint8Array(header.width * header.height * 3);
  const rows = frame.interlaced ? interlacedRows(frame.height) : undefined;
  const colours = frame.palette.length / 3;
  for (let stored = 0; stored < frame.height; stored++) {
    const y = frame.y + (rows ? rows[stored] : stored);
    let o = (y * header.width + frame.x) * 3;
    for (let x = 0; x < frame.width; x++) {
      const index = indices[stored * frame.width + x];
      if (index < colours) {
        data[o] = frame.palette[3 * index];
        data[o + 1] = frame.palette[3 * index + 1];
        data[o + 2] = frame.palette[3 * index + 2];
      }
      o += 3;
    }
  }
  return { width: header.width, height: header.height, data };
}
