/**
 * Reads the EXIF Orientation tag from a JPEG APP1 "Exif" payload. Cameras write malformed EXIF
 * often enough that any inconsistency means "no orientation", never an error: the pixels are
 * still good.
 * @module
 */

const TAG_ORIENTATION = 0x0112;
const TYPE_SHORT = 3;
const TYPE_LONG = 4;
const IFD_ENTRY_BYTES = 12;
/** IFD0 of real files holds a few dozen entries; more means garbage we should not walk. */
const IFD_ENTRIES_MAX = 1000;

/** The 6-byte prefix of an APP1 segment that carries EXIF. */
const EXIF_PREFIX = [0x45, 0x78, 0x69, 0x66, 0x00, 0x00];

/** True when an APP1 payload is EXIF (as opposed to XMP and others). */
export function isExifPayload(payload: Uint8Array): boolean {
  return payload.length >= EXIF_PREFIX.length && EXIF_PREFIX.every((b, i) => payload[i] === b);
}

/**
 * The Orientation (1–8) in IFD0 of a TIFF structure, or `undefined` when the structure is
 * malformed, the tag is absent, or its value is out of range.
 * @param tiff the bytes after the "Exif\0\0" prefix
 */
export function readExifOrientation(tiff: Uint8Array): number | undefined {
  if (tiff.length < 8) return undefined;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = view.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const little = order === 0x4949;
  if (view.getUint16(2, little) !== 42) return undefined;
  const ifdOffset = view.getUint32(4, little);
  if (ifdOffset < 8 || ifdOffset + 2 > tiff.length) return undefined;
  const entries = view.getUint16(ifdOffset, little);
  // An IFD that does not fit its own count is garbage, even if our tag happens to fit.
  if (entries > IFD_ENTRIES_MAX || ifdOffset + 2 + entries * IFD_ENTRY_BYTES > tiff.length) {
    return undefined;
  }
  for (let i = 0; i < entries; i++) {
    const at = ifdOffset + 2 + i * IFD_ENTRY_BYTES;
    if (view.getUint16(at, little) !== TAG_ORIENTATION) continue;
    const type = view.getUint16(at + 2, little);
    const count = view.getUint32(at + 4, little);
    if (count < 1) return undefined;
    const value = type === TYPE_SHORT
      ? view.getUint16(at + 8, little)
      : type === TYPE_LONG
      ? view.getUint32(at + 8, little)
      : 0;
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}
