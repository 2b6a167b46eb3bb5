/**
 * Windows bitmaps (BMP), read by hand: the format is simple enough that a decoder package
 * would bring more risk than it saves. Header first (size, depth, compression, and whether the
 * pixel data fits in the file), pixels second.
 * @module
 */
import { ImageError } from "./errors.ts";
import type { RgbImage } from "./rgb_image.ts";
import type { SizeCheck } from "./_size_check.ts";

/** What a BMP's headers say, before any pixel is read. */
export interface BmpHeader {
  width: number;
  height: number;
  /** Rows stored top row first (a negative height in the header). */
  topDown: boolean;
  bitsPerPixel: number;
  /** 0 plain, 1 RLE8, 2 RLE4, 3/6 bit fields. */
  compression: number;
  pixelsAt: number;
  /** RGB palette entries (bits ≤ 8). */
  palette: Uint8Array;
  /** Channel masks for 16/32-bit pixels: red, green, blue. */
  masks: [number, number, number];
}

const FILE_HEADER_BYTES = 14;
const CORE_HEADER_BYTES = 12;
const INFO_HEADER_BYTES = 40;
const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const PALETTE_ENTRIES_MAX = 256;
const DEFAULT_MASKS: Record<number, [number, number, number]> = {
  16: [0x7c00, 0x03e0, 0x001f],
  32: [0xff0000, 0x00ff00, 0x0000ff],
};

function truncated(what: string): ImageError {
  return new ImageError(
    "truncated",
    `The BMP ends before ${what}: the file was cut off. Upload the complete file.`,
    { format: "bmp" },
  );
}

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The BMP is corrupt: ${what}. Re-save or re-export the image and upload it again.`,
    { format: "bmp" },
  );
}

function unsupported(what: string): ImageError {
  return new ImageError(
    "unsupported_format",
    `This BMP ${what}, which is not supported. Re-save it as a 24-bit BMP, or as JPEG or PNG.`,
    { format: "bmp" },
  );
}

/** Bytes per stored row: rows are padded to a multiple of 4 bytes. */
const rowBytes = (width: number, bits: number) => Math.floor((bits * width + 31) / 32) * 4;

/**
 * Reads the file and DIB headers and the palette.
 * @param checkSize throws when the declared size is over the limits
 * @throws {ImageError} `truncated`, `corrupt`, `unsupported_format` or `dimensions_invalid`
 */
export function readBmpHeader(bytes: Uint8Array, checkSize: SizeCheck): BmpHeader {
  if (bytes.length < FILE_HEADER_BYTES + 4) throw truncated("the end of its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelsAt = view.getUint32(10, true);
  const dibBytes = view.getUint32(14, true);
  if (dibBytes < CORE_HEADER_BYTES || dibBytes > 1024) {
    throw corrupt(`its information header claims ${dibBytes} bytes`);
  }
  if (FILE_HEADER_BYTES + dibBytes > bytes.length) throw truncated("the end of its header");
  const core = dibBytes < INFO_HEADER_BYTES;
  if (core && dibBytes !== CORE_HEADER_BYTES) throw unsupported("has an OS/2 2.x header");
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const rawHeight = core ? view.getInt16(20, true) : view.getInt32(22, true);
  const bitsPerPixel = view.getUint16(core ? 24 : 28, true);
  const compression = core ? BI_RGB : view.getUint32(30, true);
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) {
    throw new ImageError(
      "dimensions_invalid",
      `The BMP declares a size of ${width}×${rawHeight} pixels. ` +
        "Re-save it with an ordinary image editor and upload it again.",
      { format: "bmp" },
    );
  }
  checkSize(width, height);
  if (compression === 4 || compression === 5) {
    throw unsupported(`holds an embedded ${compression === 4 ? "JPEG" : "PNG"}`);
  }
  const rle = compression === BI_RLE8 || compression === BI_RLE4;
  const fields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (compression !== BI_RGB && !rle && !fields) {
    throw unsupported(`uses compression ${compression}`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) {
    throw unsupported(`has ${bitsPerPixel} bits per pixel`);
  }
  if (
    (compression === BI_RLE8 && bitsPerPixel !== 8) ||
    (compression === BI_RLE4 && bitsPerPixel !== 4) ||
    (fields && bitsPerPixel !== 16 && bitsPerPixel !== 32)
  ) {
    throw corrupt(`compression ${compression} does not fit ${bitsPerPixel} bits per pixel`);
  }
  if (rle && rawHeight < 0) throw corrupt("a run-length coded bitmap claims to be top-down");
  let masks = DEFAULT_MASKS[bitsPerPixel] ?? [0, 0, 0];
  let afterHeader = FILE_HEADER_BYTES + dibBytes;
  if (fields) {
    // Version 2+ headers hold the masks; a plain 40-byte header is followed by them.
    const masksAt = dibBytes >= INFO_HEADER_BYTES + 12
      ? FILE_HEADER_BYTES + INFO_HEADER_BYTES
      : afterHeader;
    if (masksAt + 12 > bytes.length) throw truncated("the end of its colour masks");
    masks = [0, 4, 8].map((o) => view.getUint32(masksAt + o, true)) as [number, number, number];
    if (dibBytes === INFO_HEADER_BYTES) {
      afterHeader += compression === BI_ALPHABITFIELDS ? 16 : 12;
    }
  }
  let palette = new Uint8Array(0);
  if (bitsPerPixel <= 8) {
    const used = core ? 0 : view.getUint32(46, true);
    const entries = Math.min(used === 0 ? 1 << bitsPerPixel : used, PALETTE_ENTRIES_MAX);
    const entryBytes = core ? 3 : 4;
    if (afterHeader + entries * entryBytes > bytes.length) {
      throw truncated("the end of its colour palette");
    }
    palette = new Uint8Array(3 * PALETTE_ENTRIES_MAX);
    for (let i = 0; i < entries; i++) {
      const at = afterHeader + i * entryBytes;
      palette.set([bytes[at + 2], bytes[at + 1], bytes[at]], 3 * i);
    }
  }
  if (pixelsAt >= bytes.length) throw truncated("its pixel data starts");
  if (!rle && pixelsAt + rowBytes(width, bitsPerPixel) * height > bytes.length) {
    throw truncated(`the end of its pixel data (${height} rows)`);
  }
  return {
    width,
    height,
    topDown: rawHeight < 0,
    bitsPerPixel,
    compression,
    pixelsAt,
    palette,
    masks,
  };
}

/** Reads one channel from a packed pixel and scales it to 8 bits. */
function channel(pixel: number, mask: number): number {
  if (mask === 0) return 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  let bits = 0;
  while (((mask >>> (shift + bits)) & 1) === 1 && bits < 32) bits++;
  const value = ((pixel & mask) >>> shift) & (bits >= 32 ? 0xffffffff : (2 ** bits - 1));
  if (bits >= 8) return Math.floor(value / 2 ** (bits - 8));
  return Math.round((value * 255) / (2 ** bits - 1));
}

function decodePacked(bytes: Uint8Array, header: BmpHeader, out: Uint8Array): void {
  const { width, height, bitsPerPixel: bits, palette, masks } = header;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stride = rowBytes(width, bits);
  for (let row = 0; row < height; row++) {
    const y = header.topDown ? row : height - 1 - row;
    const rowAt = header.pixelsAt + row * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++) {
      if (bits <= 8) {
        const bitAt = x * bits;
        const byte = bytes[rowAt + (bitAt >> 3)];
        const index = (byte >> (8 - bits - (bitAt & 7))) & ((1 << bits) - 1);
        out[o++] = palette[3 * index];
        out[o++] = palette[3 * index + 1];
        out[o++] = palette[3 * index + 2];
      } else if (bits === 24) {
        const at = rowAt + 3 * x;
        out[o++] = bytes[at + 2];
        out[o++] = bytes[at + 1];
        out[o++] = bytes[at];
      } else {
        const pixel = bits === 16
          ? view.getUint16(rowAt + 2 * x, true)
          : view.getUint32(rowAt + 4 * x, true);
        out[o++] = channel(pixel, masks[0]);
        out[o++] = channel(pixel, masks[1]);
        out[o++] = channel(pixel, masks[2]);
      }
    }
  }
}

/** Run-length coded 8- or 4-bit indices (always bottom-up); unwritten pixels take index 0. */
function decodeRle(bytes: Uint8Array, header: BmpHeader, out: Uint8Array): void {
  const { width, height, palette } = header;
  const four = header.compression === BI_RLE4;
  const indices = new Uint8Array(width * height);
  let x = 0;
  let y = 0; // counted from the bottom row
  let at = header.pixelsAt;
  const put = (index: number) => {
    if (x < width && y < height) indices[(height - 1 - y) * width + x] = index;
    x++;
  };
  for (;;) {
    if (at + 2 > bytes.length) throw truncated("the end-of-bitmap marker of its run-length data");
    const count = bytes[at];
    const value = bytes[at + 1];
    at += 2;
    if (count > 0) {
      for (let i = 0; i < count; i++) put(four ? (i & 1 ? value & 15 : value >> 4) : value);
      continue;
    }
    if (value === 0) {
      x = 0;
      y++;
    } else if (value === 1) {
      break;
    } else if (value === 2) {
      if (at + 2 > bytes.length) throw truncated("the end of its run-length data");
      x += bytes[at];
      y += bytes[at + 1];
      at += 2;
    } else {
      const literalBytes = four ? Math.ceil(value / 2) : value;
      if (at + literalBytes > bytes.length) throw truncated("the end of its run-length data");
      for (let i = 0; i < value; i++) {
        put(four ? (i & 1 ? bytes[at + (i >> 1)] & 15 : bytes[at + (i >> 1)] >> 4) : bytes[at + i]);
      }
      at += literalBytes + (literalBytes & 1);
    }
    if (y >= height) break;
  }
  for (let i = 0, o = 0; i < indices.length; i++) {
    const p = 3 * indices[i];
    out[o++] = palette[p];
    out[o++] = palette[p + 1];
    out[o++] = palette[p + 2];
  }
}

/**
 * Decodes the pixels `header` describes (alpha, if any, is dropped).
 * @throws {ImageError} `truncated` when run-length data stops early
 */
export function decodeBmpPixels(bytes: Uint8Array, header: BmpHeader): RgbImage {
  const data = new Uint8Array(header.width * header.height * 3);
  if (header.compression === BI_RLE8 || header.compression === BI_RLE4) {
    decodeRle(bytes, header, data);
  } else decodePacked(bytes, header, data);
  return { width: header.width, height: header.height, data };
}
