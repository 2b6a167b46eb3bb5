/**
 * Reads a TIFF's first image directory (IFD0) with every count and offset checked against the
 * file, so the pixel decoder (UTIF) is handed a directory we built, never one it walks itself:
 * UTIF follows IFD chains and sub-directories without cycle or count guards.
 * @module
 */
import { ImageError } from "./errors.ts";
import type { SizeCheck } from "./_size_check.ts";

/** What IFD0 says, before any pixel is decoded. */
export interface TiffHeader {
  width: number;
  height: number;
  /** The Orientation tag 1–8 (1 when absent or out of range). */
  orientation: number;
  /** IFD0 in UTIF's shape: `t<tag>` → values (numbers, or bytes for BYTE/UNDEFINED). */
  directory: Record<string, unknown>;
}

/** IFDs of real files hold a few dozen entries; more means garbage we should not walk. */
const IFD_ENTRIES_MAX = 1000;
const TYPE_BYTES: ReadonlyMap<number, number> = new Map([
  [1, 1],
  [2, 1],
  [3, 2],
  [4, 4],
  [5, 8],
  [6, 1],
  [7, 1],
  [8, 2],
  [9, 4],
  [10, 8],
  [11, 4],
  [12, 8],
  [13, 4],
]);
const TAG_WIDTH = 256;
const TAG_HEIGHT = 257;
const TAG_BITS = 258;
const TAG_ORIENTATION = 274;
const TAG_SAMPLES = 277;
const TAG_STRIP_OFFSETS = 273;
const TAG_STRIP_BYTES = 279;
const TAG_TILE_OFFSETS = 324;
const TAG_TILE_BYTES = 325;
/** Tags up to this one (sizes, depths, strips, tiles) are needed to decode anything. */
const TAG_BYTES_LAST_ESSENTIAL = TAG_TILE_BYTES;
/** Sub-directory pointers (SubIFDs, EXIF, GPS, interoperability): never followed. */
const POINTER_TAGS = new Set([330, 34665, 34853, 40965]);
const SAMPLES_MAX = 5;
const BITS_SUPPORTED = new Set([1, 2, 4, 8, 16, 32]);

function truncated(what: string): ImageError {
  return new ImageError(
    "truncated",
    `The TIFF ends before ${what}: the file was cut off. Upload the complete file.`,
    { format: "tiff" },
  );
}

function corrupt(what: string): ImageError {
  return new ImageError(
    "corrupt",
    `The TIFF is corrupt: ${what}. Re-save or re-export the image and upload it again.`,
    { format: "tiff" },
  );
}

function unsupported(what: string): ImageError {
  return new ImageError(
    "unsupported_format",
    `This TIFF ${what}, which is not supported. Re-save it as an ordinary 8-bit RGB TIFF, ` +
      "or as JPEG or PNG.",
    { format: "tiff" },
  );
}

function readValues(
  view: DataView,
  bytes: Uint8Array,
  type: number,
  count: number,
  at: number,
  little: boolean,
): unknown[] | Uint8Array | string[] {
  if (type === 1 || type === 7) return bytes.slice(at, at + count);
  if (type === 2) {
    const text = bytes.subarray(at, at + count);
    const end = text.indexOf(0);
    return [String.fromCharCode(...text.subarray(0, end < 0 ? text.length : end).slice(0, 1024))];
  }
  const values: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const o = at + i * TYPE_BYTES.get(type)!;
    switch (type) {
      case 3:
        values.push(view.getUint16(o, little));
        break;
      case 4:
      case 13:
        values.push(view.getUint32(o, little));
        break;
      case 5:
        values.push([view.getUint32(o, little), view.getUint32(o + 4, little)]);
        break;
      case 6:
        values.push(view.getInt8(o));
        break;
      case 8:
        values.push(view.getInt16(o, little));
        break;
      case 9:
        values.push(view.getInt32(o, little));
        break;
      case 10:
        values.push([view.getInt32(o, little), view.getInt32(o + 4, little)]);
        break;
      case 11:
        values.push(view.getFloat32(o, little));
        break;
      case 12:
        values.push(view.getFloat64(o, little));
        break;
    }
  }
  return values;
}

function numbers(directory: Record<string, unknown>, tag: number): number[] | undefined {
  const values = directory[`t${tag}`];
  return Array.isArray(values) && values.every((v) => typeof v === "number") ? values : undefined;
}

/** Every strip or tile must lie inside the file, else the file was cut. */
function checkDataInside(directory: Record<string, unknown>, length: number): void {
  const tiled = directory[`t${TAG_TILE_OFFSETS}`] !== undefined;
  const offsets = numbers(directory, tiled ? TAG_TILE_OFFSETS : TAG_STRIP_OFFSETS);
  const counts = numbers(directory, tiled ? TAG_TILE_BYTES : TAG_STRIP_BYTES);
  if (offsets === undefined || offsets.length === 0) {
    throw corrupt("its first image has no strip or tile offsets");
  }
  if (counts === undefined || counts.length < offsets.length) {
    throw corrupt("its first image lacks the byte counts of its strips or tiles");
  }
  offsets.forEach((offset, i) => {
    if (offset + counts[i] > length) {
      throw truncated(
        `the end of its image data (${offset + counts[i]} bytes needed, ${length} present)`,
      );
    }
  });
}

/**
 * Reads IFD0 of a classic (not Big) TIFF.
 * @param bytes a whole file that starts with II*\0 or MM\0*
 * @param checkSize throws when the declared size is over the limits
 * @throws {ImageError} `truncated`, `corrupt`, `unsupported_format` or `dimensions_invalid`
 */
export function readTiffHeader(bytes: Uint8Array, checkSize: SizeCheck): TiffHeader {
  if (bytes.length < 8) throw truncated("its header ends");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[0] === 0x49;
  const ifd = view.getUint32(4, little);
  if (ifd < 8) throw corrupt(`its first directory offset is ${ifd}`);
  if (ifd + 2 > bytes.length) throw truncated("its first image directory");
  const entries = view.getUint16(ifd, little);
  if (entries === 0 || entries > IFD_ENTRIES_MAX) {
    throw corrupt(`its first directory claims ${entries} entries`);
  }
  if (ifd + 2 + entries * 12 > bytes.length) throw truncated("the end of its first directory");
  const directory: Record<string, unknown> = {};
  const cutTags: number[] = [];
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    const tag = view.getUint16(at, little);
    const type = view.getUint16(at + 2, little);
    const count = view.getUint32(at + 4, little);
    const size = TYPE_BYTES.get(type);
    if (size === undefined || count === 0 || POINTER_TAGS.has(tag)) continue;
    const valueBytes = size * count;
    const valueAt = valueBytes <= 4 ? at + 8 : view.getUint32(at + 8, little);
    if (valueAt + valueBytes > bytes.length) {
      // Missing essentials (offsets, depths) are reported once the size has been checked.
      cutTags.push(tag);
      continue;
    }
    directory[`t${tag}`] = readValues(view, bytes, type, count, valueAt, little);
  }
  const width = numbers(directory, TAG_WIDTH)?.[0];
  const height = numbers(directory, TAG_HEIGHT)?.[0];
  if (width === undefined || height === undefined) {
    throw corrupt("its first directory has no image width or height");
  }
  if (width === 0 || height === 0) {
    throw new ImageError(
      "dimensions_invalid",
      `The TIFF declares a size of ${width}×${height} pixels. ` +
        "Re-save it with an ordinary image editor and upload it again.",
      { format: "tiff" },
    );
  }
  checkSize(width, height);
  const samples = numbers(directory, TAG_SAMPLES)?.[0] ?? 1;
  const bits = numbers(directory, TAG_BITS) ?? [1];
  if (samples < 1 || samples > SAMPLES_MAX) throw unsupported(`has ${samples} samples per pixel`);
  if (bits.some((b) => !BITS_SUPPORTED.has(b))) {
    throw unsupported(`has ${bits.join("/")} bits per sample`);
  }
  if (cutTags.some((tag) => tag <= TAG_BYTES_LAST_ESSENTIAL)) {
    throw truncated(`the values of its tag ${cutTags[0]}`);
  }
  checkDataInside(directory, bytes.length);
  const orientation = numbers(directory, TAG_ORIENTATION)?.[0] ?? 1;
  return {
    width,
    height,
    orientation: orientation >= 1 && orientation <= 8 ? orientation : 1,
    directory,
  };
}
