/**
 * Which image format a byte string holds, judged from its leading bytes (magic numbers) only —
 * never from a file name, which clients get wrong (a WebP saved as `.jpg`, a web page saved as
 * `photo.png`).
 * @module
 */

/** Formats we can recognise. {@linkcode DECODABLE_FORMATS} are decoded; the rest are named so
 * an error can tell the user what they actually sent. */
export type ImageFormat =
  | "jpeg"
  | "png"
  | "gif"
  | "webp"
  | "bmp"
  | "tiff"
  | "heic"
  | "avif"
  | "ico"
  | "jpeg2000"
  | "jpegxl"
  | "psd"
  | "pdf"
  | "svg"
  | "html"
  | "xml"
  | "text"
  | "unknown";

/** Formats {@linkcode sniffImageFormat} can return that `decodeImage` decodes. */
export const DECODABLE_FORMATS: readonly ImageFormat[] = [
  "jpeg",
  "png",
  "webp",
  "gif",
  "bmp",
  "tiff",
  "heic",
  "avif",
];

/** How many leading bytes the text heuristics look at. */
const TEXT_SNIFF_BYTES_MAX = 512;

type Magic = readonly [offset: number, bytes: readonly number[], format: ImageFormat];

const ascii = (text: string): number[] => Array.from(text, (ch) => ch.charCodeAt(0));

const MAGICS: readonly Magic[] = [
  [0, [0xff, 0xd8, 0xff], "jpeg"],
  [0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "png"],
  [0, ascii("GIF87a"), "gif"],
  [0, ascii("GIF89a"), "gif"],
  [8, ascii("WEBP"), "webp"], // after "RIFF" + size; checked with the RIFF prefix below
  [0, ascii("BM"), "bmp"],
  [0, [0x49, 0x49, 0x2a, 0x00], "tiff"],
  [0, [0x4d, 0x4d, 0x00, 0x2a], "tiff"],
  [0, [0x00, 0x00, 0x01, 0x00], "ico"],
  [0, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20], "jpeg2000"],
  [0, [0xff, 0x4f, 0xff, 0x51], "jpeg2000"],
  [0, [0xff, 0x0a], "jpegxl"],
  [0, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20], "jpegxl"],
  [0, ascii("8BPS"), "psd"],
  [0, ascii("%PDF"), "pdf"],
];

/** ISO-BMFF brands (the `ftyp` box) of HEIF-family stills. */
const HEIC_BRANDS = new Set(["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"]);
const AVIF_BRANDS = new Set(["avif", "avis"]);

function startsWith(bytes: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((b, i) => bytes[offset + i] === b);
}

function isoBrand(bytes: Uint8Array): ImageFormat | undefined {
  if (!startsWith(bytes, 4, ascii("ftyp")) || bytes.length < 12) return undefined;
  const brand = String.fromCharCode(...bytes.subarray(8, 12));
  if (AVIF_BRANDS.has(brand)) return "avif";
  if (HEIC_BRANDS.has(brand)) return "heic";
  return undefined;
}

/** Text if the head decodes as UTF-8 without control characters other than whitespace. */
function textKind(bytes: Uint8Array): ImageFormat | undefined {
  const head = bytes.subarray(0, TEXT_SNIFF_BYTES_MAX);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(head);
  } catch {
    // A multi-byte character cut at the sniff boundary is still text; anything else is binary.
    if (head.length < TEXT_SNIFF_BYTES_MAX) return undefined;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(0, head.length - 3));
    } catch {
      return undefined;
    }
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return undefined;
  const lower = text.replace(/^\uFEFF/, "").trimStart().toLowerCase();
  if (lower.startsWith("<svg") || (lower.startsWith("<") && lower.includes("<svg"))) return "svg";
  if (lower.startsWith("<!doctype html") || lower.startsWith("<html")) return "html";
  if (lower.startsWith("<?xml")) return "xml";
  return "text";
}

/**
 * Names the format of `bytes` from its magic number.
 *
 * @param bytes the whole file, or at least its first 512 bytes
 * @returns the detected format; `"text"` for readable text, `"unknown"` for anything else
 * @example
 * ```ts
 * import { sniffImageFormat } from "./format.ts";
 * sniffImageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])); // "jpeg"
 * ```
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat {
  for (const [offset, magic, format] of MAGICS) {
    if (format === "webp" && !startsWith(bytes, 0, ascii("RIFF"))) continue;
    if (startsWith(bytes, offset, magic)) return format;
  }
  return isoBrand(bytes) ?? (bytes.length > 0 ? textKind(bytes) : undefined) ?? "unknown";
}
