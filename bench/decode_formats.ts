/**
 * Decode time per photo format for the same pixels: one large photo from the shared
 * faces-public set (2048×1991) and one 64×64 course face, each encoded here as JPEG (the
 * original file), PNG, WebP (lossy q90 and lossless), GIF, BMP, TIFF, HEIC (q90, needs
 * `heif-enc`) and AVIF (q80). Prints a Markdown table: encoded size, the first decode in this
 * process (which includes loading that format's decoder), and the median of N warm decodes.
 *
 *     deno run -A bench/decode_formats.ts [RUNS_LARGE=15] [RUNS_SMALL=101]
 * @module
 */
import { unzipSync } from "fflate";
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";
import { encodePng } from "../testing/image_fixtures.ts";
import {
  encodeAvif,
  encodeBmp,
  encodeGif,
  encodeHeic,
  encodeTiff,
  encodeWebp,
  hasHeifEnc,
} from "../testing/photo_encoders.ts";
import { COURSE_DATA_DIR, FACES_PUBLIC_DIR } from "../testing/datasets.ts";

const LARGE_PHOTO = new URL(
  "facenet-pytorch/test_images/shea_whigham.jpg",
  FACES_PUBLIC_DIR,
);
const COURSE_ZIP = new URL("face_images_100.zip", COURSE_DATA_DIR);

const runsLarge = Number(Deno.args[0] ?? 15);
const runsSmall = Number(Deno.args[1] ?? 101);

async function readOr(url: URL, what: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(url);
  } catch {
    console.error(`${what} not found at ${url.pathname}: skipped`);
    return undefined;
  }
}

function asPng(image: RgbImage): Uint8Array {
  return encodePng({
    width: image.width,
    height: image.height,
    colorType: 2,
    bitDepth: 8,
    sample: (x, y, c) => image.data[(y * image.width + x) * 3 + c],
  });
}

type Encoder = [string, (image: RgbImage) => Promise<Uint8Array> | Uint8Array];
const ENCODERS: Encoder[] = [
  ["PNG", asPng],
  ["WebP q90", (image) => encodeWebp(image, { quality: 90 })],
  ["WebP lossless", (image) => encodeWebp(image, { lossless: true })],
  ["GIF (256 colours)", encodeGif],
  ["BMP 24-bit", (image) => encodeBmp(image)],
  ["TIFF (uncompressed)", encodeTiff],
  ...(hasHeifEnc() ? [["HEIC q90", (image: RgbImage) => encodeHeic(image, 90)] as Encoder] : []),
  ["AVIF q80", (image) => encodeAvif(image, 80)],
];

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

/** Cases for one source: the original JPEG, then each re-encoding of its pixels. */
async function casesFor(jpeg: Uint8Array): Promise<[string, Uint8Array][]> {
  const pixels = await decodeImage(jpeg);
  const cases: [string, Uint8Array][] = [["JPEG (original file)", jpeg]];
  for (const [name, encode] of ENCODERS) cases.push([name, await encode(pixels)]);
  return cases;
}

const sources: [string, Uint8Array, number][] = [];
const large = await readOr(LARGE_PHOTO, "the faces-public photo");
if (large) sources.push(["2048×1991 faces-public shea_whigham.jpg", large, runsLarge]);
const zip = await readOr(COURSE_ZIP, "the course dataset");
if (zip) {
  const entries = unzipSync(zip, { filter: (f) => f.name.endsWith("/test_00.jpg") });
  const small = Object.values(entries)[0];
  if (small) sources.push(["64×64 course face test_00.jpg", small, runsSmall]);
}

// Prepare every source's files first, so the "first decode" column is each decoder's first use.
const prepared: [string, [string, Uint8Array][], number][] = [];
for (const [label, jpeg, runs] of sources) prepared.push([label, await casesFor(jpeg), runs]);

const firstMs = new Map<string, number>();
for (const [label, cases, runs] of prepared) {
  console.log(`\n${label}, median of ${runs} decodes\n`);
  console.log("| format | bytes | first decode ms (loads decoder) | median ms | min ms |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [name, bytes] of cases) {
    const cold = await timeMs(() => decodeImage(bytes));
    const coldShown = firstMs.has(name) ? "" : fmt(cold);
    firstMs.set(name, cold);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await timeMs(() => decodeImage(bytes)));
    times.sort((a, b) => a - b);
    console.log(
      `| ${name} | ${bytes.length} | ${coldShown} | ${fmt(times[times.length >> 1])} | ${
        fmt(times[0])
      } |`,
    );
  }
}
