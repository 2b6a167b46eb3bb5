/**
 * Test-only image writers, so tests build every fixture from bytes instead of committing
 * binary files: a small JPEG encoder (baseline, or progressive by spectral selection; 1, 3 or 4
 * components; optional 2×2 luma subsampling; APPn segments), an EXIF orientation segment
 * builder and a PNG encoder covering every colour type, bit depth, palette, tRNS and Adam7
 * interlacing.
 *
 * Written from the JPEG (ITU T.81, Annex K tables) and PNG specifications, independently of the
 * decoder under test, so a shared misunderstanding cannot make a test pass by accident.
 * @module
 */
import { zlibSync } from "fflate";

// ---------------------------------------------------------------------------------------------
// JPEG

/** An APPn or COM segment to place after SOI. `marker` is the second marker byte, e.g. 0xe1. */
export interface JpegSegment {
  marker: number;
  payload: Uint8Array;
}

/** What {@linkcode encodeJpeg} writes. */
export interface JpegFixtureOptions {
  width: number;
  height: number;
  /** 1 (grayscale), 3 (YCbCr or RGB) or 4 (CMYK or YCCK). */
  components: 1 | 3 | 4;
  /** Stored sample of component `c` at (x, y), 0..255, in the file's own colour space. */
  sample: (x: number, y: number, c: number) => number;
  /** 1..100 (IJG scaling). @default 90 */
  quality?: number;
  /** Luma (first component) sampling factor in both directions; 2 gives 4:2:0. @default 1 */
  lumaSampling?: 1 | 2;
  /** Segments written after SOI, in order. @default [] */
  segments?: JpegSegment[];
  /** SOF2 with a DC scan and one AC scan per component (spectral selection only). @default false */
  progressive?: boolean;
}

const ZIGZAG = [
  0,
  1,
  8,
  16,
  9,
  2,
  3,
  10,
  17,
  24,
  32,
  25,
  18,
  11,
  4,
  5,
  12,
  19,
  26,
  33,
  40,
  48,
  41,
  34,
  27,
  20,
  13,
  6,
  7,
  14,
  21,
  28,
  35,
  42,
  49,
  56,
  57,
  50,
  43,
  36,
  29,
  22,
  15,
  23,
  30,
  37,
  44,
  51,
  58,
  59,
  52,
  45,
  38,
  31,
  39,
  46,
  53,
  60,
  61,
  54,
  47,
  55,
  62,
  63,
];
const QUANT_LUMA = [
  16,
  11,
  10,
  16,
  24,
  40,
  51,
  61,
  12,
  12,
  14,
  19,
  26,
  58,
  60,
  55,
  14,
  13,
  16,
  24,
  40,
  57,
  69,
  56,
  14,
  17,
  22,
  29,
  51,
  87,
  80,
  62,
  18,
  22,
  37,
  56,
  68,
  109,
  103,
  77,
  24,
  35,
  55,
  64,
  81,
  104,
  113,
  92,
  49,
  64,
  78,
  87,
  103,
  121,
  120,
  101,
  72,
  92,
  95,
  98,
  112,
  100,
  103,
  99,
];
const QUANT_CHROMA = [
  17,
  18,
  24,
  47,
  99,
  99,
  99,
  99,
  18,
  21,
  26,
  66,
  99,
  99,
  99,
  99,
  24,
  26,
  56,
  99,
  99,
  99,
  99,
  99,
  47,
  66,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
  99,
];
const DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_VALUES = [
  0x01,
  0x02,
  0x03,
  0x00,
  0x04,
  0x11,
  0x05,
  0x12,
  0x21,
  0x31,
  0x41,
  0x06,
  0x13,
  0x51,
  0x61,
  0x07,
  0x22,
  0x71,
  0x14,
  0x32,
  0x81,
  0x91,
  0xa1,
  0x08,
  0x23,
  0x42,
  0xb1,
  0xc1,
  0x15,
  0x52,
  0xd1,
  0xf0,
  0x24,
  0x33,
  0x62,
  0x72,
  0x82,
  0x09,
  0x0a,
  0x16,
  0x17,
  0x18,
  0x19,
  0x1a,
  0x25,
  0x26,
  0x27,
  0x28,
  0x29,
  0x2a,
  0x34,
  0x35,
  0x36,
  0x37,
  0x38,
  0x39,
  0x3a,
  0x43,
  0x44,
  0x45,
  0x46,
  0x47,
  0x48,
  0x49,
  0x4a,
  0x53,
  0x54,
  0x55,
  0x56,
  0x57,
  0x58,
  0x59,
  0x5a,
  0x63,
  0x64,
  0x65,
  0x66,
  0x67,
  0x68,
  0x69,
  0x6a,
  0x73,
  0x74,
  0x75,
  0x76,
  0x77,
  0x78,
  0x79,
  0x7a,
  0x83,
  0x84,
  0x85,
  0x86,
  0x87,
  0x88,
  0x89,
  0x8a,
  0x92,
  0x93,
  0x94,
  0x95,
  0x96,
  0x97,
  0x98,
  0x99,
  0x9a,
  0xa2,
  0xa3,
  0xa4,
  0xa5,
  0xa6,
  0xa7,
  0xa8,
  0xa9,
  0xaa,
  0xb2,
  0xb3,
  0xb4,
  0xb5,
  0xb6,
  0xb7,
  0xb8,
  0xb9,
  0xba,
  0xc2,
  0xc3,
  0xc4,
  0xc5,
  0xc6,
  0xc7,
  0xc8,
  0xc9,
  0xca,
  0xd2,
  0xd3,
  0xd4,
  0xd5,
  0xd6,
  0xd7,
  0xd8,
  0xd9,
  0xda,
  0xe1,
  0xe2,
  0xe3,
  0xe4,
  0xe5,
  0xe6,
  0xe7,
  0xe8,
  0xe9,
  0xea,
  0xf1,
  0xf2,
  0xf3,
  0xf4,
  0xf5,
  0xf6,
  0xf7,
  0xf8,
  0xf9,
  0xfa,
];

type HuffmanCodes = Map<number, [code: number, length: number]>;

function huffmanCodes(bits: number[], values: number[]): HuffmanCodes {
  const codes: HuffmanCodes = new Map();
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < bits[length - 1]; i++) codes.set(values[k++], [code++, length]);
    code <<= 1;
  }
  return codes;
}

class BitWriter {
  readonly bytes: number[] = [];
  #buffer = 0;
  #count = 0;
  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.#buffer = (this.#buffer << 1) | ((value >> i) & 1);
      if (++this.#count === 8) this.#flushByte();
    }
  }
  finish(): void {
    while (this.#count !== 0) this.write(1, 1);
  }
  #flushByte(): void {
    this.bytes.push(this.#buffer);
    if (this.#buffer === 0xff) this.bytes.push(0); // byte stuffing
    this.#buffer = 0;
    this.#count = 0;
  }
}

function scaledQuant(table: number[], quality: number): number[] {
  const scale = quality < 50 ? 5000 / quality : 200 - quality * 2;
  return table.map((q) => Math.min(255, Math.max(1, Math.floor((q * scale + 50) / 100))));
}

const COS = Array.from(
  { length: 64 },
  (_, i) => Math.cos(((2 * (i >> 3) + 1) * (i & 7) * Math.PI) / 16),
);

function forwardDct(block: number[]): number[] {
  const rows = new Array<number>(64);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let sum = 0;
      for (let x = 0; x < 8; x++) sum += block[y * 8 + x] * COS[x * 8 + u];
      rows[y * 8 + u] = sum * (u === 0 ? Math.SQRT1_2 : 1) / 2;
    }
  }
  const out = new Array<number>(64);
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let sum = 0;
      for (let y = 0; y < 8; y++) sum += rows[y * 8 + u] * COS[y * 8 + v];
      out[v * 8 + u] = sum * (v === 0 ? Math.SQRT1_2 : 1) / 2;
    }
  }
  return out;
}

function magnitudeCategory(value: number): number {
  let abs = Math.abs(value);
  let size = 0;
  while (abs > 0) {
    size++;
    abs >>= 1;
  }
  return size;
}

function writeCoefficient(writer: BitWriter, value: number, size: number): void {
  writer.write(value < 0 ? value + (1 << size) - 1 : value, size);
}

function segment(marker: number, payload: number[] | Uint8Array): number[] {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...payload];
}

/** Encodes a baseline (SOF0) JPEG; see {@linkcode JpegFixtureOptions}. */
export function encodeJpeg(options: JpegFixtureOptions): Uint8Array {
  const { width, height, components, sample } = options;
  const quality = options.quality ?? 90;
  const lumaSampling = options.lumaSampling ?? 1;
  const progressive = options.progressive ?? false;
  const quant = [scaledQuant(QUANT_LUMA, quality), scaledQuant(QUANT_CHROMA, quality)];
  const dc = huffmanCodes(DC_BITS, DC_VALUES);
  const ac = huffmanCodes(AC_BITS, AC_VALUES);
  const out: number[] = [0xff, 0xd8];
  for (const s of options.segments ?? []) out.push(...segment(s.marker, s.payload));
  for (let t = 0; t < 2; t++) out.push(...segment(0xdb, [t, ...ZIGZAG.map((z) => quant[t][z])]));
  const sof = [8, height >> 8, height & 0xff, width >> 8, width & 0xff, components];
  for (let c = 0; c < components; c++) {
    const factor = c === 0 ? lumaSampling : 1;
    sof.push(c + 1, (factor << 4) | factor, c === 0 ? 0 : 1);
  }
  out.push(...segment(progressive ? 0xc2 : 0xc0, sof));
  out.push(...segment(0xc4, [0x00, ...DC_BITS, ...DC_VALUES, 0x10, ...AC_BITS, ...AC_VALUES]));

  const clampX = (x: number) => Math.min(width - 1, x);
  const clampY = (y: number) => Math.min(height - 1, y);
  const cache = new Map<string, number[]>();
  // Quantised zigzag coefficients of block (bx, by) of component c, in that component's grid.
  const coefficientsOf = (c: number, bx: number, by: number): number[] => {
    const key = `${c}:${bx}:${by}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const step = c === 0 ? 1 : lumaSampling;
    const block = new Array<number>(64);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        let sum = 0;
        for (let dy = 0; dy < step; dy++) {
          for (let dx = 0; dx < step; dx++) {
            sum += sample(clampX((bx * 8 + x) * step + dx), clampY((by * 8 + y) * step + dy), c);
          }
        }
        block[y * 8 + x] = sum / (step * step) - 128;
      }
    }
    const table = quant[c === 0 ? 0 : 1];
    const coefficients = forwardDct(block);
    const zz = ZIGZAG.map((z) => Math.round(coefficients[z] / table[z]));
    cache.set(key, zz);
    return zz;
  };
  const writeDc = (writer: BitWriter, diff: number) => {
    const size = magnitudeCategory(diff);
    writer.write(...dc.get(size)!);
    writeCoefficient(writer, diff, size);
  };
  // AC coefficients 1..63 with run lengths; a trailing zero run is one EOB (EOBRUN 1 when
  // progressive, which codes identically).
  const writeAc = (writer: BitWriter, zz: number[]) => {
    let run = 0;
    for (let k = 1; k < 64; k++) {
      if (zz[k] === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        writer.write(...ac.get(0xf0)!);
        run -= 16;
      }
      const size = magnitudeCategory(zz[k]);
      writer.write(...ac.get((run << 4) | size)!);
      writeCoefficient(writer, zz[k], size);
      run = 0;
    }
    if (run > 0) writer.write(...ac.get(0x00)!);
  };
  const parts = [new Uint8Array(out)];
  const scan = (selectors: number[], spectral: [number, number], body: (w: BitWriter) => void) => {
    const header: number[] = [selectors.length];
    for (const c of selectors) header.push(c + 1, 0x00);
    parts.push(new Uint8Array(segment(0xda, [...header, spectral[0], spectral[1], 0])));
    const writer = new BitWriter();
    body(writer);
    writer.finish();
    // Spreading millions of entropy bytes into push() would overflow the stack.
    parts.push(new Uint8Array(writer.bytes));
  };
  const mcuColumns = Math.ceil(width / (8 * lumaSampling));
  const mcuRows = Math.ceil(height / (8 * lumaSampling));
  // Interleaved MCUs: the luma blocks of each MCU, then one block of each chroma component.
  const forEachMcuBlock = (visit: (c: number, bx: number, by: number) => void) => {
    for (let my = 0; my < mcuRows; my++) {
      for (let mx = 0; mx < mcuColumns; mx++) {
        for (let by = 0; by < lumaSampling; by++) {
          for (let bx = 0; bx < lumaSampling; bx++) {
            visit(0, mx * lumaSampling + bx, my * lumaSampling + by);
          }
        }
        for (let c = 1; c < components; c++) visit(c, mx, my);
      }
    }
  };
  const all = Array.from({ length: components }, (_, c) => c);
  if (!progressive) {
    scan(all, [0, 63], (writer) => {
      const previousDc = new Array<number>(components).fill(0);
      forEachMcuBlock((c, bx, by) => {
        const zz = coefficientsOf(c, bx, by);
        writeDc(writer, zz[0] - previousDc[c]);
        previousDc[c] = zz[0];
        writeAc(writer, zz);
      });
    });
  } else {
    scan(all, [0, 0], (writer) => {
      const previousDc = new Array<number>(components).fill(0);
      forEachMcuBlock((c, bx, by) => {
        const zz = coefficientsOf(c, bx, by);
        writeDc(writer, zz[0] - previousDc[c]);
        previousDc[c] = zz[0];
      });
    });
    // One non-interleaved AC scan per component covers only the blocks inside the component.
    for (const c of all) {
      const step = c === 0 ? 1 : lumaSampling;
      const columns = Math.ceil(Math.ceil(width / step) / 8);
      const rows = Math.ceil(Math.ceil(height / step) / 8);
      scan([c], [1, 63], (writer) => {
        for (let by = 0; by < rows; by++) {
          for (let bx = 0; bx < columns; bx++) writeAc(writer, coefficientsOf(c, bx, by));
        }
      });
    }
  }
  parts.push(new Uint8Array([0xff, 0xd9]));
  return concatBytes(parts);
}

/** JFIF-style full-range RGB → YCbCr, as JPEG files store colour. */
export function rgbToYcbcr(r: number, g: number, b: number): [number, number, number] {
  return [
    0.299 * r + 0.587 * g + 0.114 * b,
    128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
    128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
  ];
}

/** Adobe APP14 segment; transform 0 = RGB/CMYK as stored, 1 = YCbCr, 2 = YCCK. */
export function adobeSegment(transform: 0 | 1 | 2): JpegSegment {
  const payload = new Uint8Array([0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, transform]);
  return { marker: 0xee, payload };
}

/** APP1 Exif segment around a TIFF structure (see {@linkcode exifTiff}). */
export function exifSegment(tiff: Uint8Array): JpegSegment {
  const payload = new Uint8Array(6 + tiff.length);
  payload.set([0x45, 0x78, 0x69, 0x66, 0, 0]);
  payload.set(tiff, 6);
  return { marker: 0xe1, payload };
}

/** Knobs to write well-formed and deliberately malformed EXIF orientation entries. */
export interface ExifTiffOptions {
  littleEndian?: boolean;
  /** Extra IFD0 entries before the orientation entry (each a dummy ASCII tag). @default 0 */
  entriesBefore?: number;
  /** Field type of the orientation entry; 3 is SHORT. @default 3 */
  type?: number;
  /** Overrides the IFD0 offset written in the TIFF header. */
  ifdOffset?: number;
  /** Overrides the IFD0 entry count. */
  entryCount?: number;
}

/** A TIFF structure whose IFD0 holds one Orientation (0x0112) entry with `orientation`. */
export function exifTiff(orientation: number, options: ExifTiffOptions = {}): Uint8Array {
  const little = options.littleEndian ?? false;
  const before = options.entriesBefore ?? 0;
  const entries = before + 1;
  const bytes = new Uint8Array(8 + 2 + entries * 12 + 4);
  const view = new DataView(bytes.buffer);
  bytes.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  view.setUint16(2, 42, little);
  view.setUint32(4, options.ifdOffset ?? 8, little);
  view.setUint16(8, options.entryCount ?? entries, little);
  for (let i = 0; i < entries; i++) {
    const at = 10 + i * 12;
    const isOrientation = i === before;
    view.setUint16(at, isOrientation ? 0x0112 : 0x010e, little);
    view.setUint16(at + 2, isOrientation ? options.type ?? 3 : 2, little);
    view.setUint32(at + 4, isOrientation ? 1 : 4, little);
    if (isOrientation) view.setUint16(at + 8, orientation, little);
    else bytes.set([0x61, 0x62, 0x63, 0], at + 8);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// PNG

/** What {@linkcode encodePng} writes. */
export interface PngFixtureOptions {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Sample `c` of pixel (x, y) at the file's bit depth (a palette index for colour type 3). */
  sample: (x: number, y: number, c: number) => number;
  /** RGB triples for colour type 3. */
  palette?: [number, number, number][];
  /** Raw tRNS chunk payload. */
  transparency?: Uint8Array;
  /** Adam7 interlacing. @default false */
  interlaced?: boolean;
  /** Zero-length chunks with these 4-letter types are inserted before IDAT. @default [] */
  extraChunkTypes?: string[];
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set(new TextEncoder().encode(type), 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return chunk;
}

/** The 8-byte PNG signature. */
export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An IHDR chunk for the given header fields. */
export function ihdrChunk(
  width: number,
  height: number,
  bitDepth = 8,
  colorType = 2,
  interlace = 0,
): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data.set([bitDepth, colorType, 0, 0, interlace], 8);
  return pngChunk("IHDR", data);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Packs and filters one sub-image (a whole image or an Adam7 pass), cycling filter types. */
function filteredRows(
  options: PngFixtureOptions,
  xs: number[],
  ys: number[],
  out: number[],
): void {
  const channels = CHANNELS[options.colorType];
  const bitsPerPixel = channels * options.bitDepth;
  const bytesPerPixel = Math.max(1, bitsPerPixel >> 3);
  const rowBytes = Math.ceil((xs.length * bitsPerPixel) / 8);
  let previous = new Uint8Array(rowBytes);
  ys.forEach((y, rowIndex) => {
    const raw = new Uint8Array(rowBytes);
    let bit = 0;
    for (const x of xs) {
      for (let c = 0; c < channels; c++) {
        const value = options.sample(x, y, c);
        if (options.bitDepth === 16) {
          raw[bit >> 3] = value >> 8;
          raw[(bit >> 3) + 1] = value & 0xff;
        } else if (options.bitDepth === 8) raw[bit >> 3] = value;
        else raw[bit >> 3] |= value << (8 - options.bitDepth - (bit & 7));
        bit += options.bitDepth;
      }
    }
    const filter = rowIndex % 5;
    out.push(filter);
    for (let i = 0; i < rowBytes; i++) {
      const a = i >= bytesPerPixel ? raw[i - bytesPerPixel] : 0;
      const b = previous[i];
      const c = i >= bytesPerPixel ? previous[i - bytesPerPixel] : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      out.push((raw[i] - predictor) & 0xff);
    }
    previous = raw;
  });
}

/** Encodes a PNG; see {@linkcode PngFixtureOptions}. */
export function encodePng(options: PngFixtureOptions): Uint8Array {
  const { width, height } = options;
  const range = (start: number, end: number, step: number) => {
    const values: number[] = [];
    for (let i = start; i < end; i += step) values.push(i);
    return values;
  };
  const raw: number[] = [];
  if (options.interlaced) {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const xs = range(x0, width, dx);
      const ys = range(y0, height, dy);
      if (xs.length > 0 && ys.length > 0) filteredRows(options, xs, ys, raw);
    }
  } else filteredRows(options, range(0, width, 1), range(0, height, 1), raw);
  const parts = [
    PNG_SIGNATURE,
    ihdrChunk(width, height, options.bitDepth, options.colorType, options.interlaced ? 1 : 0),
  ];
  for (const type of options.extraChunkTypes ?? []) parts.push(pngChunk(type, new Uint8Array()));
  if (options.palette) parts.push(pngChunk("PLTE", new Uint8Array(options.palette.flat())));
  if (options.transparency) parts.push(pngChunk("tRNS", options.transparency));
  parts.push(pngChunk("IDAT", zlibSync(new Uint8Array(raw))));
  parts.push(pngChunk("IEND", new Uint8Array()));
  return concatBytes(parts);
}
