/**
 * Reads the boxes of a HEIF-family file (HEIC, AVIF) without decoding pixels: the primary
 * item's size (its `ispe` property), its rotation and mirroring (`irot`, `imir`, in the order
 * they apply), and whether every top-level box fits in the file.
 * @module
 */
import { ImageError } from "./errors.ts";

/** What the boxes say about the primary image, before any pixel is decoded. */
export interface HeifHeader {
  /** Coded width (before rotation). */
  width: number;
  /** Coded height (before rotation). */
  height: number;
  /**
   * The primary item's transformations in order, each as the EXIF orientation (2, 3, 4, 6 or
   * 8) that performs it.
   */
  transforms: number[];
  /** False when a top-level box runs past the end of the file (it was cut off). */
  complete: boolean;
}

/** Boxes nest a few levels deep in real files; more is garbage we should not walk. */
const BOXES_MAX = 10_000;
/** Item-property associations per item in real files: a handful. */
const ASSOCIATIONS_MAX = 255;

interface Box {
  type: string;
  /** The box's payload (after its header). */
  body: Uint8Array;
}

type HeifFormat = "heic" | "avif";

function errorsFor(format: HeifFormat) {
  const name = format === "avif" ? "AVIF" : "HEIC";
  return {
    truncated: (where: string) =>
      new ImageError(
        "truncated",
        `The ${name} file ends inside its ${where}: the file was cut off. ` +
          "Upload the complete file.",
        { format },
      ),
    corrupt: (what: string) =>
      new ImageError(
        "corrupt",
        `The ${name} file is corrupt: ${what}. Re-save or re-export the photo and upload it ` +
          "again.",
        { format },
      ),
  };
}

const fourcc = (bytes: Uint8Array, at: number) =>
  String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);

/**
 * The boxes in `bytes`; `cut` says what to do when one claims to run past the end.
 * @returns the boxes, and whether one ran past the end
 */
function boxes(bytes: Uint8Array, budget: { left: number }): { list: Box[]; cut: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const list: Box[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    if (--budget.left < 0) return { list, cut: false };
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > bytes.length) return { list, cut: true };
      const big = view.getBigUint64(at + 8);
      size = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
      header = 16;
    } else if (size === 0) {
      size = bytes.length - at;
    }
    if (size < header) return { list, cut: false };
    const type = fourcc(bytes, at + 4);
    if (at + size > bytes.length) {
      list.push({ type, body: bytes.subarray(at + header) });
      return { list, cut: true };
    }
    list.push({ type, body: bytes.subarray(at + header, at + size) });
    at += size;
  }
  return { list, cut: at < bytes.length };
}

function child(list: Box[], type: string): Box | undefined {
  return list.find((b) => b.type === type);
}

/** The property indices (1-based, into ipco) associated with `itemId`, in order. */
function associations(ipma: Uint8Array, itemId: number): number[] {
  const view = new DataView(ipma.buffer, ipma.byteOffset, ipma.byteLength);
  if (ipma.length < 8) return [];
  const version = ipma[0];
  const wideIndex = (ipma[3] & 1) === 1;
  const entries = view.getUint32(4);
  let at = 8;
  for (let e = 0; e < entries && at < ipma.length; e++) {
    const idBytes = version < 1 ? 2 : 4;
    if (at + idBytes + 1 > ipma.length) return [];
    const id = version < 1 ? view.getUint16(at) : view.getUint32(at);
    const count = ipma[at + idBytes];
    at += idBytes + 1;
    const indexBytes = wideIndex ? 2 : 1;
    if (at + count * indexBytes > ipma.length) return [];
    if (id === itemId) {
      const indices: number[] = [];
      for (let i = 0; i < Math.min(count, ASSOCIATIONS_MAX); i++) {
        const raw = wideIndex ? view.getUint16(at + 2 * i) : ipma[at + i];
        indices.push(wideIndex ? raw & 0x7fff : raw & 0x7f);
      }
      return indices;
    }
    at += count * indexBytes;
  }
  return [];
}

/** `irot` turns the image counter-clockwise by angle × 90°; `imir` mirrors it. */
function transformOf(box: Box): number | undefined {
  if (box.body.length < 1) return undefined;
  if (box.type === "irot") return [1, 8, 3, 6][box.body[0] & 3];
  if (box.type === "imir") return (box.body[0] & 1) === 0 ? 2 : 4;
  return undefined;
}

/**
 * Reads the primary item's properties.
 * @param bytes a whole file that starts with an `ftyp` box of a HEIC or AVIF brand
 * @param format which of the two the brand said, for the messages
 * @throws {ImageError} `truncated` (cut before the size is known), `corrupt` or
 * `dimensions_invalid`
 */
export function readHeifHeader(bytes: Uint8Array, format: HeifFormat): HeifHeader {
  const { truncated, corrupt } = errorsFor(format);
  const budget = { left: BOXES_MAX };
  const top = boxes(bytes, budget);
  const meta = child(top.list, "meta");
  if (meta === undefined) {
    if (top.cut) throw truncated("header, before its image description (meta box)");
    throw corrupt(
      "it has no image description (meta box); an image sequence without a still " +
        "image is not supported",
    );
  }
  // meta is a full box: 4 bytes of version and flags before its children.
  const metaBoxes = boxes(meta.body.subarray(4), budget);
  if (metaBoxes.cut && top.list.at(-1) === meta) throw truncated("image description (meta box)");
  const pitm = child(metaBoxes.list, "pitm");
  const iprp = child(metaBoxes.list, "iprp");
  if (pitm === undefined || pitm.body.length < 6) throw corrupt("it names no primary image");
  if (iprp === undefined) throw corrupt("it has no image properties (iprp box)");
  const pitmView = new DataView(pitm.body.buffer, pitm.body.byteOffset, pitm.body.byteLength);
  const primary = pitm.body[0] === 0
    ? pitmView.getUint16(4)
    : pitm.body.length >= 8
    ? pitmView.getUint32(4)
    : -1;
  const iprpBoxes = boxes(iprp.body, budget).list;
  const ipco = child(iprpBoxes, "ipco");
  const ipmas = iprpBoxes.filter((b) => b.type === "ipma");
  if (ipco === undefined || ipmas.length === 0) {
    throw corrupt("its image properties lack a property list or associations");
  }
  const properties = boxes(ipco.body, budget).list;
  const indices = ipmas.flatMap((ipma) => associations(ipma.body, primary));
  const mine = indices.filter((i) => i >= 1 && i <= properties.length).map((i) =>
    properties[i - 1]
  );
  const ispe = mine.find((p) => p.type === "ispe");
  if (ispe === undefined || ispe.body.length < 12) {
    throw corrupt("its primary image has no size (ispe property)");
  }
  const ispeView = new DataView(ispe.body.buffer, ispe.body.byteOffset, ispe.body.byteLength);
  const width = ispeView.getUint32(4);
  const height = ispeView.getUint32(8);
  if (width === 0 || height === 0) {
    throw new ImageError(
      "dimensions_invalid",
      `The ${format.toUpperCase()} file declares a size of ${width}×${height} pixels. ` +
        "Re-save it with an ordinary image editor and upload it again.",
      { format },
    );
  }
  const transforms = mine.map(transformOf).filter((t): t is number => t !== undefined && t !== 1);
  return { width, height, transforms, complete: !top.cut };
}
