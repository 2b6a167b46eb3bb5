/**
 * Decode times. `deno bench -A model/image/decode_bench.ts` for deno's table (mean, p75, p99);
 * `deno run -A model/image/decode_bench.ts` prints the median of repeated runs per case, since
 * `deno bench` reports no median.
 *
 * Real JPEGs where we have them (the course dataset's 64×64 crops and 250×250 LFW photos, read
 * from their zip files in memory; face-api's 1920×1280 sample), re-encodings of the sample's
 * pixels for the sizes nobody ships (1024×1024, the 40-megapixel limit), and the refusal paths
 * that must stay cheap however large the claimed image.
 * @module
 */
import { unzipSync } from "fflate";
import { quantileSorted } from "../../internal/mod.ts";
import { decodeImage, IMAGE_PIXELS_MAX } from "./decode.ts";
import { ImageError } from "./errors.ts";
import {
  concatBytes,
  encodeJpeg,
  encodePng,
  ihdrChunk,
  PNG_SIGNATURE,
  pngChunk,
  rgbToYcbcr,
} from "../../testing/image_fixtures.ts";
import { COURSE_DATA_DIR } from "../../testing/datasets.ts";

const ROOT = new URL("../../", import.meta.url);
const sampleBytes = await Deno.readFile(
  new URL("node_modules/@vladmandic/face-api/demo/sample1.jpg", ROOT),
);
const sample = await decodeImage(sampleBytes);

/** The sample's pixels, tiled, so any size has photo content. */
function tiled(x: number, y: number): [number, number, number] {
  const at = ((y % sample.height) * sample.width + (x % sample.width)) * 3;
  return [sample.data[at], sample.data[at + 1], sample.data[at + 2]];
}

function photoJpeg(width: number, height: number): Uint8Array {
  return encodeJpeg({
    width,
    height,
    components: 3,
    lumaSampling: 2,
    quality: 90,
    sample: (x, y, c) => rgbToYcbcr(...tiled(x, y))[c],
  });
}

/** The first entry ending in `suffix` of a dataset zip, or undefined without the dataset. */
async function fromDataset(zipName: string, suffix: string): Promise<Uint8Array | undefined> {
  try {
    const entries = unzipSync(await Deno.readFile(new URL(zipName, COURSE_DATA_DIR)), {
      filter: (file) => file.name.endsWith(suffix) && !file.name.startsWith("__MACOSX"),
    });
    return Object.values(entries)[0];
  } catch {
    return undefined;
  }
}

const small = await fromDataset("face_images_100.zip", "/test_00.jpg");
const lfw = await fromDataset("lfw_gallery_100.zip", "/test_0.jpg");
const jpegs: [string, Uint8Array][] = [
  [
    small ? "64×64 course face crop" : "64×64 (re-encoded sample, no dataset)",
    small ?? photoJpeg(64, 64),
  ],
  [
    lfw ? "250×250 LFW photo" : "250×250 (re-encoded sample, no dataset)",
    lfw ?? photoJpeg(250, 250),
  ],
  ["1024×1024 re-encoded sample", photoJpeg(1024, 1024)],
  ["1920×1280 face-api sample1.jpg", sampleBytes],
];
interface Case {
  name: string;
  group: string;
  run: () => Promise<void>;
  /** Fewer iterations for the multi-second cases. */
  runs?: number;
}
const cases: Case[] = [];
for (const [name, bytes] of jpegs) {
  cases.push({
    name: `decode JPEG ${name} (${bytes.length} B)`,
    group: "jpeg",
    run: async () => void await decodeImage(bytes),
  });
}

const limitJpeg = photoJpeg(7680, 5200); // 39.9 MP, just under IMAGE_PIXELS_MAX
if (7680 * 5200 > IMAGE_PIXELS_MAX) throw new Error("limit fixture exceeds IMAGE_PIXELS_MAX");
cases.push({
  name: `decode JPEG 7680×5200 at the pixel limit (${limitJpeg.length} B)`,
  group: "limit",
  runs: 5,
  run: async () => void await decodeImage(limitJpeg),
});

const png1024 = encodePng({
  width: 1024,
  height: 1024,
  colorType: 2,
  bitDepth: 8,
  sample: (x, y, c) => tiled(x, y)[c],
});
cases.push({
  name: `decode PNG 1024×1024 RGB (${png1024.length} B)`,
  group: "png",
  run: async () => void await decodeImage(png1024),
});

async function refused(bytes: Uint8Array): Promise<void> {
  try {
    await decodeImage(bytes);
  } catch (error) {
    if (error instanceof ImageError) return;
    throw error;
  }
  throw new Error("expected an ImageError");
}

const hugePngHeader = concatBytes([
  PNG_SIGNATURE,
  ihdrChunk(30000, 30000),
  pngChunk("IDAT", new Uint8Array(64)),
  pngChunk("IEND", new Uint8Array()),
]);
const claimsTooMuch = photoJpeg(64, 64).slice();
const sof = claimsTooMuch.findIndex((b, i) => b === 0xff && claimsTooMuch[i + 1] === 0xc0);
claimsTooMuch.set([0x17, 0x70, 0x17, 0x70], sof + 5); // 6000×6000 from ~3 KB of data
const cutSample = sampleBytes.subarray(0, sampleBytes.length >> 1);
const text = new TextEncoder().encode("this is not an image\n".repeat(50));
for (
  const [name, bytes] of [
    ["PNG header claiming 30000×30000", hugePngHeader],
    ["3 KB JPEG claiming 6000×6000", claimsTooMuch],
    ["1920×1280 JPEG cut in half", cutSample],
    ["text file", text],
  ] as const
) {
  cases.push({ name: `refuse ${name}`, group: "refuse", run: () => refused(bytes) });
}

for (const { name, group, run, runs } of cases) {
  Deno.bench(name, { group, ...(runs ? { n: runs, warmup: 1 } : {}) }, run);
}

/** Runs each case (after one warm-up) and prints the median; the machine is shared, so the
 * median is steadier than the mean. */
async function printMedians(runsDefault: number): Promise<void> {
  console.log(`| case | runs | median ms | min ms | max ms |\n| --- | --- | --- | --- | --- |`);
  for (const { name, run, runs } of cases) {
    await run();
    const timesMs: number[] = [];
    for (let i = 0; i < (runs ?? runsDefault); i++) {
      const started = performance.now();
      await run();
      timesMs.push(performance.now() - started);
    }
    timesMs.sort((a, b) => a - b);
    const median = quantileSorted(timesMs, 0.5);
    const fmt = (ms: number) => ms < 1 ? ms.toFixed(3) : ms.toFixed(1);
    console.log(
      `| ${name} | ${timesMs.length} | ${fmt(median)} | ${fmt(timesMs[0])} | ${
        fmt(timesMs.at(-1)!)
      } |`,
    );
  }
}

if (import.meta.main) await printMedians(Number(Deno.args[0] ?? 31));
