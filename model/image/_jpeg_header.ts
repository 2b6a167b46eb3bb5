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
  /** The frame's components in order, with their sampling factors. */
  frameComponents: FrameComponent[];
  /** SOF2: scans refine coefficients instead of coding each block once. */
  progressive: boolean;
  /** Shortest code length of each Huffman table defined so far, keyed by class * 16 + id. */
  huffmanBitsMin: Map<number, number>;
  /** Offset of the first SOS segment's length field. */
  firstScanAt: number;
}

/** One component of the frame header. */
export interface FrameComponent {
  id: number;
  horizontal: number;
  vertical: number;
}

/** What the rest of the file says: how many scans and whether it reaches its EOI marker. */
export interface JpegScans {
  scans: number;
  complete: boolean;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DHT = 0xc4;
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
  frameComponents: FrameComponent[];
  progressive: boolean;
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
  const frameComponents: FrameComponent[] = [];
  for (let i = 0; i < components; i++) {
    const sampling = payload[7 + 3 * i];
    frameComponents.push({
      id: payload[6 + 3 * i],
      horizontal: sampling >> 4,
      vertical: sampling & 15,
    });
  }
  return { width, height, components, frameComponents, progressive: marker === 0xc2 };
}

/** Records the shortest code length of each table in a DHT payload; stops at malformed data. */
function readHuffmanTables(payload: Uint8Array, bitsMin: Map<number, number>): void {
  let at = 0;
  while (at + 17 <= payload.length) {
    const key = payload[at];
    const counts = payload.subarray(at + 1, at + 17);
    const symbols = counts.reduce((n, c) => n + c, 0);
    if (at + 17 + symbols > payload.length) return;
    const shortest = counts.findIndex((c) => c > 0);
    if (shortest < 0) bitsMin.delete(key);
    else bitsMin.set(key, shortest + 1);
    at += 17 + symbols;
  }
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
  const huffmanBitsMin = new Map<number, number>();
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
    if (marker === SOS) {
      if (frame === undefined) throw corrupt("image data (SOS) comes before the frame header");
      return {
        ...frame,
        orientation: orientation ?? 1,
        adobeTransform,
        huffmanBitsMin,
        firstScanAt: at,
      };
    }
    const payload = bytes.subarray(at + 2, at + length);
    at += length;
    if (marker === DHT) readHuffmanTables(payload, huffmanBitsMin);
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
 * A lower bound on the entropy-coded bits a scan needs: every block codes at least one DC
 * symbol and, in sequential scans, at least one AC symbol. The decoder pads missing data with
 * zero bits, so without this check a 1 KB file claiming 40 megapixels decodes "successfully"
 * into a flat image after seconds of work.
 */
function scanBitsMin(header: JpegHeader, scan: Uint8Array): number {
  const count = scan[0];
  if (scan.length < 1 + 2 * count + 3) return 0;
  const [spectralStart, , approximation] = scan.subarray(1 + 2 * count, 4 + 2 * count);
  const successive = approximation >> 4;
  if (header.progressive && spectralStart !== 0) return 0; // AC scans can code EOB runs
  const hMax = Math.max(...header.frameComponents.map((c) => c.horizontal));
  const vMax = Math.max(...header.frameComponents.map((c) => c.vertical));
  const mcus = Math.ceil(header.width / (8 * hMax)) * Math.ceil(header.height / (8 * vMax));
  let bits = 0;
  for (let i = 0; i < count; i++) {
    const component = header.frameComponents.find((c) => c.id === scan[1 + 2 * i]);
    if (component === undefined || component.horizontal < 1 || component.vertical < 1) return 0;
    const blocks = count > 1 ? mcus * component.horizontal * component.vertical : Math.ceil(
      Math.ceil((header.width * component.horizontal) / hMax) / 8,
    ) * Math.ceil(Math.ceil((header.height * component.vertical) / vMax) / 8);
    const tables = scan[2 + 2 * i];
    const dcBits = header.huffmanBitsMin.get(tables >> 4) ?? 0;
    const acBits = header.progressive ? 0 : header.huffmanBitsMin.get(16 + (tables & 15)) ?? 0;
    bits += blocks * (header.progressive && successive > 0 ? 1 : dcBits + acBits);
  }
  return bits;
}

/**
 * Follows every scan's entropy-coded data and the segments between scans up to EOI.
 * @param header what {@linkcode readJpegHeader} returned; its Huffman tables are updated
 * @param scansMax refuse files with more scans than this (each scan is a pass over the image)
 * @throws {ImageError} `too_large` when the scan count exceeds `scansMax`; `truncated` when a
 * scan holds fewer bits than its blocks need; `corrupt` for bad segment lengths
 */
export function readJpegScans(bytes: Uint8Array, header: JpegHeader, scansMax: number): JpegScans {
  let scans = 0;
  let at = header.firstScanAt;
  let marker = SOS;
  for (;;) {
    if (at + 2 > bytes.length) return { scans, complete: false };
    const length = (bytes[at] << 8) | bytes[at + 1];
    if (length < 2) throw corrupt(`a segment declares a length of ${length} bytes`);
    if (at + length > bytes.length) return { scans, complete: false };
    const payload = bytes.subarray(at + 2, at + length);
    at += length;
    if (marker === DHT) readHuffmanTables(payload, header.huffmanBitsMin);
    if (marker === SOS) {
      if (++scans > scansMax) throw tooManyScans(scansMax);
      const { end, dataBytes } = skipEntropyData(bytes, at);
      if (dataBytes * 8 < scanBitsMin(header, payload)) throw shortScan(header, dataBytes);
      at = end;
    }
    // Find the next marker, skipping stray bytes and fill bytes as the decoder does.
    while (at < bytes.length && bytes[at] !== 0xff) at++;
    while (at < bytes.length && bytes[at] === 0xff) at++;
    if (at >= bytes.length) return { scans, complete: false };
    marker = bytes[at++];
    if (marker === EOI) return { scans, complete: true };
    if (marker === 0x00 || isStandalone(marker)) {
      at = skipEntropyData(bytes, at).end;
      continue;
    }
  }
}

/**
 * Skips entropy-coded data, where 0xFF is followed by a stuffed 0x00, a restart marker or fill.
 * @returns the offset of the next real marker's 0xFF (or the end) and the data bytes passed
 */
function skipEntropyData(bytes: Uint8Array, from: number): { end: number; dataBytes: number } {
  let at = from;
  let dataBytes = 0;
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) {
      at++;
      dataBytes++;
      continue;
    }
    let next = at + 1;
    while (next < bytes.length && bytes[next] === 0xff) next++;
    if (next >= bytes.length) return { end: bytes.length, dataBytes };
    const code = bytes[next];
    if (code === 0x00) dataBytes++;
    else if (!isStandalone(code)) return { end: at, dataBytes };
    at = next + 1;
  }
  return { end: at, dataBytes };
}

function tooManyScans(scansMax: number): ImageError {
  return new ImageError(
    "too_large",
    `The JPEG has more than ${scansMax} scans (progressive photos have about 10); ` +
      "decoding it would take too long. Re-save it as a standard JPEG.",
    { format: "jpeg" },
  );
}

function shortScan(header: JpegHeader, dataBytes: number): ImageError {
  return new ImageError(
    "truncated",
    `The JPEG's header promises ${header.width}×${header.height} pixels, but its image data ` +
      `(${dataBytes} bytes) is too short to hold them: the file was cut off or its header is ` +
      "damaged. Upload the complete, original file.",
    { format: "jpeg" },
  );
}
