/**
 * Walks a WebP's RIFF chunks without decoding pixels: the canvas size (VP8X) or the bitstream's
 * own size (VP8 / VP8L), the number of animation frames, the EXIF orientation, and whether the
 * data reaches the end of the chunk it needs.
 * @module
 */
import { ImageError } from "./errors.ts";
import { readExifOrientation } from "./_exif.ts";
import type { SizeCheck } from "./_size_check.ts";

/** What a WebP's chunks say, before any pixel is decoded. */
export interface WebpHeader {
  width: number;
  height: number;
  /** EXIF orientation 1–8 from an EXIF chunk (1 when absent or unreadable). */
  orientation: number;
  /** ANMF chunks; 0 for a still image. */
  frames: number;
  /** For an animation, the first frame: where it sits on the canvas and its bytes as a still. */
  firstFrame?: { x: number; y: number; still: Uint8Array };
}

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
const VP8X_FLAG_ANIMATION = 0x02;
const VP8X_FLAG_ALPHA = 0x10;
const ANMF_HEADER_BYTES = 16;

function truncated(at: number, where: string): ImageError {
  return new ImageError(
    "truncated",
    `The WebP ends after ${at} bytes, inside its ${where}: the file was cut off. ` +
      "Upload the complete file.",
    { format: "webp" },
  );
}

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The WebP is corrupt: ${what}. Re-save or re-export the image and upload it again.`,
    { format: "webp" },
  );
}

function invalidSize(width: number, height: number): ImageError {
  return new ImageError(
    "dimensions_invalid",
    `The WebP declares a size of ${width}×${height} pixels, which no image can have. ` +
      "Re-save it with an ordinary image editor and upload it again.",
    { format: "webp" },
  );
}

const fourcc = (bytes: Uint8Array, at: number) =>
  String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
const uint24 = (bytes: Uint8Array, at: number) =>
  bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);

interface Chunk {
  id: string;
  payload: Uint8Array;
  /** Offset of the chunk header. */
  at: number;
}

/** The chunks of `bytes[from, to)`; throws `truncated` if the last one is cut. */
function chunks(bytes: Uint8Array, from: number, to: number, where: string): Chunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const list: Chunk[] = [];
  let at = from;
  while (at + CHUNK_HEADER_BYTES <= to) {
    const length = view.getUint32(at + 4, true);
    const end = at + CHUNK_HEADER_BYTES + length;
    if (end > to) throw truncated(bytes.length, `${fourcc(bytes, at)} chunk (${where})`);
    list.push({ id: fourcc(bytes, at), payload: bytes.subarray(at + CHUNK_HEADER_BYTES, end), at });
    at = end + (length & 1);
  }
  return list;
}

/** The size a VP8 (lossy) or VP8L (lossless) bitstream declares. */
function bitstreamSize(chunk: Chunk): { width: number; height: number } {
  const p = chunk.payload;
  if (chunk.id === "VP8L") {
    if (p.length < 5) throw corrupt("its lossless header is too short");
    if (p[0] !== 0x2f) throw corrupt("its lossless bitstream lacks the 0x2F signature");
    const bits = p[1] | (p[2] << 8) | (p[3] << 16) | (p[4] << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (p.length < 10) throw corrupt("its lossy frame header is too short");
  if (p[3] !== 0x9d || p[4] !== 0x01 || p[5] !== 0x2a) {
    throw corrupt("its lossy bitstream lacks the VP8 start code");
  }
  return { width: (p[6] | (p[7] << 8)) & 0x3fff, height: (p[8] | (p[9] << 8)) & 0x3fff };
}

function orientationOf(exif: Chunk | undefined): number {
  if (exif === undefined) return 1;
  // Some writers keep JPEG's "Exif\0\0" prefix in front of the TIFF structure.
  const tiff = exif.payload[0] === 0x45 && exif.payload[1] === 0x78
    ? exif.payload.subarray(6)
    : exif.payload;
  return readExifOrientation(tiff) ?? 1;
}

/** A still WebP made of one animation frame's chunks (ALPH and VP8, or VP8L). */
function stillOf(frameChunks: Chunk[], width: number, height: number): Uint8Array {
  const parts = frameChunks.filter((c) => ["ALPH", "VP8 ", "VP8L"].includes(c.id));
  const alpha = parts.some((c) => c.id === "ALPH");
  const encoded = parts.map((c) => {
    const padded = new Uint8Array(CHUNK_HEADER_BYTES + c.payload.length + (c.payload.length & 1));
    padded.set(new TextEncoder().encode(c.id));
    new DataView(padded.buffer).setUint32(4, c.payload.length, true);
    padded.set(c.payload, CHUNK_HEADER_BYTES);
    return padded;
  });
  if (alpha) {
    const vp8x = new Uint8Array(CHUNK_HEADER_BYTES + 10);
    vp8x.set(new TextEncoder().encode("VP8X"));
    vp8x[4] = 10;
    vp8x[8] = VP8X_FLAG_ALPHA;
    vp8x.set([(width - 1) & 255, ((width - 1) >> 8) & 255, (width - 1) >> 16], 12);
    vp8x.set([(height - 1) & 255, ((height - 1) >> 8) & 255, (height - 1) >> 16], 15);
    encoded.unshift(vp8x);
  }
  const body = encoded.reduce((n, c) => n + c.length, 0);
  const still = new Uint8Array(RIFF_HEADER_BYTES + body);
  still.set(new TextEncoder().encode("RIFF"));
  new DataView(still.buffer).setUint32(4, 4 + body, true);
  still.set(new TextEncoder().encode("WEBP"), 8);
  let at = RIFF_HEADER_BYTES;
  for (const c of encoded) {
    still.set(c, at);
    at += c.length;
  }
  return still;
}

function firstFrameOf(anmf: Chunk, canvasWidth: number, canvasHeight: number) {
  const p = anmf.payload;
  if (p.length < ANMF_HEADER_BYTES) throw corrupt("its first animation frame header is too short");
  const x = uint24(p, 0) * 2;
  const y = uint24(p, 3) * 2;
  const width = uint24(p, 6) + 1;
  const height = uint24(p, 9) + 1;
  if (x + width > canvasWidth || y + height > canvasHeight) {
    throw corrupt(
      `its first frame (${width}×${height} at ${x},${y}) lies outside the ` +
        `${canvasWidth}×${canvasHeight} canvas`,
    );
  }
  const inner = chunks(p, ANMF_HEADER_BYTES, p.length, "first animation frame");
  const bitstream = inner.find((c) => c.id === "VP8 " || c.id === "VP8L");
  if (bitstream === undefined) throw corrupt("its first animation frame has no image data");
  const size = bitstreamSize(bitstream);
  if (size.width !== width || size.height !== height) {
    throw corrupt(
      `its first frame says ${width}×${height} but its data ${size.width}×${size.height}`,
    );
  }
  return { x, y, still: stillOf(inner, width, height) };
}

/**
 * Reads a WebP's chunk list.
 * @param bytes a whole file that starts with RIFF....WEBP
 * @param checkSize throws when the declared size is over the limits
 * @throws {ImageError} `truncated`, `corrupt` or `dimensions_invalid`
 */
export function readWebpHeader(bytes: Uint8Array, checkSize: SizeCheck): WebpHeader {
  if (bytes.length < RIFF_HEADER_BYTES + CHUNK_HEADER_BYTES) {
    throw truncated(bytes.length, "header");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const riffEnd = Math.min(8 + view.getUint32(4, true), bytes.length);
  const declaredEnd = 8 + view.getUint32(4, true);
  const list = chunks(bytes, RIFF_HEADER_BYTES, riffEnd, "RIFF");
  // libwebp refuses a file shorter than its RIFF size, even by a padding byte.
  if (declaredEnd > bytes.length) throw truncated(bytes.length, "last chunk");
  const first = list[0];
  if (first === undefined) throw truncated(bytes.length, "header");
  if (first.id === "VP8 " || first.id === "VP8L") {
    const { width, height } = bitstreamSize(first);
    if (width === 0 || height === 0) throw invalidSize(width, height);
    checkSize(width, height);
    return { width, height, orientation: 1, frames: 0 };
  }
  if (first.id !== "VP8X") throw corrupt(`its first chunk is "${first.id}", not VP8, VP8L or VP8X`);
  if (first.payload.length < 10) throw corrupt("its VP8X header is too short");
  const flags = first.payload[0];
  const width = uint24(first.payload, 4) + 1;
  const height = uint24(first.payload, 7) + 1;
  checkSize(width, height);
  const orientation = orientationOf(list.find((c) => c.id === "EXIF"));
  const frames = list.filter((c) => c.id === "ANMF");
  if (flags & VP8X_FLAG_ANIMATION) {
    if (frames.length === 0) throw corrupt("it is marked animated but has no frames");
    return {
      width,
      height,
      orientation,
      frames: frames.length,
      firstFrame: firstFrameOf(frames[0], width, height),
    };
  }
  const bitstream = list.find((c) => c.id === "VP8 " || c.id === "VP8L");
  if (bitstream === undefined) throw corrupt("it has no image data (no VP8 or VP8L chunk)");
  const size = bitstreamSize(bitstream);
  if (size.width !== width || size.height !== height) {
    throw corrupt(
      `its canvas is ${width}×${height} but its image data ${size.width}×${size.height}`,
    );
  }
  return { width, height, orientation, frames: 0 };
}
