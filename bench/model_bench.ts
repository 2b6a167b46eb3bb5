/**
 * `deno task bench:model [--json] [--save FILE] [--runs N] [--warmup N] [--configs a,b]
 * [--cases a,b]`:
 * our face pipeline against the reference library (face-api 1.7.15 on tfjs-WASM, one thread),
 * per stage (decode, detect, landmarks, embed, match) and whole image, on a 64×64 course crop, a
 * 250×250 LFW photo and a 1024×1024 photo, side by side in one run.
 *
 * Each configuration (web 1 and 2 threads, native 1 and 2 threads, reference) runs in its own
 * subprocess, one after the other: onnxruntime-web's thread count is process-wide, and separate
 * processes keep one runtime's memory and worker threads out of another's figures.
 *
 * Every sample records wall time and process CPU time (`process.cpuUsage()`, all threads). The
 * machine this was written on is shared, so wall medians move with other people's load; for
 * one-thread configurations CPU time is the figure that load does not inflate (it still rises
 * somewhat from cache and memory-bandwidth contention). The load average is printed at start and
 * end so a reader can judge a run.
 *
 * Stages are timed one by one on the same inputs the whole pipeline sees, interleaved per
 * iteration (decode, detect, landmarks, embed, match, whole) so slow drifts in load hit every
 * stage alike. Landmarks and embed are summed over the image's faces and include the crop.
 * The reference has no JPEG decoder of its own in this setting (its node demos use tfjs-node's,
 * which needs a download), so both sides decode with ours; the reference's decode adds the
 * tensor it is fed.
 * @module
 */
import { unzipSync } from "fflate";
import process from "node:process";
import { type CommandLine, commandLineOrExit, integerFlag, UsageError } from "../internal/cli.ts";
import { median } from "../internal/mod.ts";
import { computeDescriptor } from "../model/embed.ts";
import { type Box, clipBox, cropImage } from "../model/face_geometry.ts";
import { createGallery, encodeGallery, type GalleryEntry } from "../model/gallery/gallery.ts";
import { matchEmbedding } from "../model/gallery/match.ts";
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";
// The test fixtures' JPEG encoder: imagescript 1.3.1 encodes JPEG only through its native addon
// (its WASM codec build is an empty stub), and a benchmark input should not depend on FFI.
import { encodeJpeg, rgbToYcbcr } from "../testing/image_fixtures.ts";
import { COURSE_DATA_DIR } from "../testing/datasets.ts";
import { detectLandmarks } from "../model/landmarks.ts";
import { loadModel, modelDir } from "../model/model_store.ts";
import { type DetectorStrategy, EMBEDDER_MODEL, Recognizer } from "../model/recognizer.ts";
import { createSession } from "../model/runtime/session.ts";

// ---------------------------------------------------------------------------------------------
// What runs

/** One process's setup. */
interface Config {
  readonly id: string;
  readonly label: string;
  readonly kind: "ours" | "reference";
  readonly backend?: "web" | "native";
  readonly threads?: number;
}

const CONFIGS: readonly Config[] = [
  { id: "web-1", label: "web 1T", kind: "ours", backend: "web", threads: 1 },
  { id: "web-2", label: "web 2T", kind: "ours", backend: "web", threads: 2 },
  { id: "native-1", label: "native 1T", kind: "ours", backend: "native", threads: 1 },
  { id: "native-2", label: "native 2T", kind: "ours", backend: "native", threads: 2 },
  { id: "reference", label: "face-api", kind: "reference" },
];
const REFERENCE_ID = "reference";

/** How the reference library detects: its SSD, or its tiny detector at an input size. */
type ReferenceDetector =
  | { readonly net: "ssd" }
  | { readonly net: "tiny"; readonly inputSize: number };

/** One image, the detector our side uses on it, and the reference pipeline it is set against. */
interface Case {
  readonly id: string;
  readonly label: string;
  readonly image: "64" | "250" | "1024";
  /** `ssd` is the like-for-like comparison; `auto` is what our service does. */
  readonly detector: DetectorStrategy;
  readonly reference: ReferenceDetector;
}

/** Tiny detector input size for the 64×64 crop (our `auto` strategy picks the same). */
const TINY_INPUT_SIZE_SMALL = 128;
/** face-api's tiny detector at its own default input size, its fast option. */
const REFERENCE_TINY: ReferenceDetector = { net: "tiny", inputSize: 416 };

const CASES: readonly Case[] = [
  {
    id: "64-ssd",
    label: "64×64 course crop, SSD",
    image: "64",
    detector: "ssd",
    reference: { net: "ssd" },
  },
  {
    id: "250-ssd",
    label: "250×250 LFW photo, SSD",
    image: "250",
    detector: "ssd",
    reference: { net: "ssd" },
  },
  {
    id: "1024-ssd",
    label: "1024×1024 photo, SSD",
    image: "1024",
    detector: "ssd",
    reference: { net: "ssd" },
  },
  {
    id: "64-auto",
    label: "64×64 course crop, auto (tiny@128; reference: tiny@128)",
    image: "64",
    detector: "auto",
    reference: { net: "tiny", inputSize: TINY_INPUT_SIZE_SMALL },
  },
  {
    id: "64-blaze",
    label: "64×64 course crop, BlazeFace (reference: tiny@128, face-api's best here)",
    image: "64",
    detector: "blaze",
    reference: { net: "tiny", inputSize: TINY_INPUT_SIZE_SMALL },
  },
  {
    id: "250-auto",
    label: "250×250 LFW photo, auto = BlazeFace (reference: face-api's SSD pipeline)",
    image: "250",
    detector: "auto",
    reference: { net: "ssd" },
  },
  {
    id: "250-auto-tiny",
    label: "250×250 LFW photo, auto = BlazeFace (reference: face-api's tiny@416 pipeline)",
    image: "250",
    detector: "auto",
    reference: REFERENCE_TINY,
  },
  {
    id: "1024-auto",
    label: "1024×1024 photo, auto = BlazeFace (reference: face-api's SSD pipeline)",
    image: "1024",
    detector: "auto",
    reference: { net: "ssd" },
  },
  {
    id: "250-tiny",
    label: "250×250 LFW photo, tiny@416 (face-api's fast option)",
    image: "250",
    detector: "tiny",
    reference: REFERENCE_TINY,
  },
  {
    id: "1024-tiny",
    label: "1024×1024 photo, tiny@416 (face-api's fast option)",
    image: "1024",
    detector: "tiny",
    reference: REFERENCE_TINY,
  },
];

const STAGES = ["decode", "detect", "landmarks", "embed", "match", "whole"] as const;
type Stage = typeof STAGES[number];

/** Fewer measured runs than this and a median says little; the CLI refuses them. */
const RUNS_MIN = 15;
/** Default measured runs per stage and case. */
const RUNS_DEFAULT = 15;
/** Default whole-pipeline warm-up runs per case (onnxruntime's arenas grow over ~10 runs). */
const WARMUP_DEFAULT = 10;
/** Upper bound on runs and warm-ups, so a typo cannot book the shared machine for hours. */
const RUNS_MAX = 1000;
/** People in the benchmark gallery (one embedding each). */
const GALLERY_PEOPLE = 100;
/** Seed of the gallery's pseudo-random embeddings. */
const GALLERY_SEED = 546;
/** The square cut from face-api's sample1.jpg (1920×1280): all three faces, full height. */
const SAMPLE_CROP: Box = { x: 400, y: 0, width: 1280, height: 1280 };
const LARGE_SIDE = 1024;
/** The SSD threshold both sides use. */
const MIN_CONFIDENCE = 0.5;
const RESULT_PREFIX = "MODEL_BENCH_RESULT ";

const ROOT = new URL("../", import.meta.url);
const DATASET_DIR = COURSE_DATA_DIR;
const SAMPLE1 = new URL("node_modules/@vladmandic/face-api/demo/sample1.jpg", ROOT);

// ---------------------------------------------------------------------------------------------
// Measuring

/** One timed call. */
interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** Medians and spread of one stage's samples. */
interface Summary {
  wallMsMedian: number;
  wallMsMin: number;
  cpuMsMedian: number;
  cpuMsMin: number;
  runs: number;
  wallMs: number[];
  cpuMs: number[];
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function summarize(samples: readonly Sample[]): Summary {
  const wallMs = samples.map((s) => round3(s.wallMs));
  const cpuMs = samples.map((s) => round3(s.cpuMs));
  return {
    wallMsMedian: median(wallMs),
    wallMsMin: Math.min(...wallMs),
    cpuMsMedian: median(cpuMs),
    cpuMsMin: Math.min(...cpuMs),
    runs: samples.length,
    wallMs,
    cpuMs,
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

// ---------------------------------------------------------------------------------------------
// Inputs (made by the parent, passed to children as files)

async function fromZip(zipName: string, entry: string): Promise<Uint8Array> {
  const zipUrl = new URL(zipName, DATASET_DIR);
  let zip: Uint8Array;
  try {
    zip = await Deno.readFile(zipUrl);
  } catch (error) {
    throw new Error(
      `cannot read ${zipUrl.pathname} (${error}): the benchmark needs the course dataset; ` +
        `set FR_DATASET_DIR to its folder`,
    );
  }
  const files = unzipSync(zip, { filter: (f) => f.name === entry });
  if (!files[entry]) throw new Error(`${zipUrl.pathname} has no entry ${entry}`);
  return files[entry];
}

/** Bilinear resample (pixel centres aligned), float64, deterministic. */
function resizeBilinear(image: RgbImage, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (xx: number, yy: number) => image.data[(yy * image.width + xx) * 3 + c];
        const top = p(x0, y0) * (1 - wx) + p(x1, y0) * wx;
        const bottom = p(x0, y1) * (1 - wx) + p(x1, y1) * wx;
        data[(y * width + x) * 3 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, data };
}

/** The 1024×1024 JPEG: the faces of face-api's sample1.jpg, cropped square, resized, re-encoded. */
async function largeJpeg(): Promise<Uint8Array> {
  const sample = await decodeImage(await Deno.readFile(SAMPLE1));
  const square = resizeBilinear(cropImage(sample, SAMPLE_CROP), LARGE_SIDE, LARGE_SIDE);
  const ycc = new Float64Array(LARGE_SIDE * LARGE_SIDE * 3);
  for (let i = 0; i < LARGE_SIDE * LARGE_SIDE; i++) {
    ycc.set(rgbToYcbcr(square.data[3 * i], square.data[3 * i + 1], square.data[3 * i + 2]), 3 * i);
  }
  return encodeJpeg({
    width: LARGE_SIDE,
    height: LARGE_SIDE,
    components: 3,
    lumaSampling: 2,
    quality: 90,
    sample: (x, y, c) => ycc[(y * LARGE_SIDE + x) * 3 + c],
  });
}

async function makeInputs(dir: string): Promise<Record<Case["image"], string>> {
  const files = {
    "64": [await fromZip("face_images_100.zip", "face_images_100/test_00.jpg"), "64.jpg"],
    "250": [await fromZip("lfw_gallery_100.zip", "face_images_100/test_0.jpg"), "250.jpg"],
    "1024": [await largeJpeg(), "1024.jpg"],
  } as const;
  const paths = {} as Record<Case["image"], string>;
  for (const [key, [bytes, name]] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.writeFile(path, bytes);
    const image = await decodeImage(bytes);
    if (`${image.width}` !== key || `${image.height}` !== key) {
      throw new Error(`${name} decodes to ${image.width}×${image.height}, expected ${key}²`);
    }
    paths[key as Case["image"]] = path;
  }
  return paths;
}

/** The benchmark gallery: deterministic pseudo-random unit vectors (an LCG), one per person. */
function galleryEntries(): GalleryEntry[] {
  let state = GALLERY_SEED;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  return Array.from({ length: GALLERY_PEOPLE }, (_, i) => {
    const v = Array.from({ length: EMBEDDER_MODEL.dims }, next);
    const norm = Math.hypot(...v);
    return { name: `person ${i}`, embedding: Float32Array.from(v, (x) => x / norm) };
  });
}

// ---------------------------------------------------------------------------------------------
// Children: one configuration each

interface CaseResult {
  case: string;
  faces: number;
  stages: Record<Stage, Summary>;
}

interface ChildResult {
  config: string;
  cases: CaseResult[];
}

interface ChildArgs {
  config: Config;
  cases: readonly Case[];
  images: Record<Case["image"], string>;
  galleryPath: string;
  runs: number;
  warmup: number;
}

/** The stage functions of one case, prepared on one image. */
type StageFns = Record<Stage, () => Promise<unknown> | unknown>;

async function measureCase(
  caseId: string,
  faces: number,
  fns: StageFns,
  runs: number,
  warmup: number,
): Promise<CaseResult> {
  for (let i = 0; i < warmup; i++) await fns.whole();
  const samples = Object.fromEntries(STAGES.map((s) => [s, [] as Sample[]])) as Record<
    Stage,
    Sample[]
  >;
  for (let i = 0; i < runs; i++) {
    for (const stage of STAGES) samples[stage].push(await timed(fns[stage]));
  }
  const stages = Object.fromEntries(STAGES.map((s) => [s, summarize(samples[s])])) as Record<
    Stage,
    Summary
  >;
  return { case: caseId, faces, stages };
}

async function runOurs(args: ChildArgs): Promise<ChildResult> {
  const { config } = args;
  const options = { backend: config.backend, threads: config.threads };
  const recognizers = new Map<string, Recognizer>();
  const dir = modelDir();
  const [landmarkModel, recognitionModel] = await Promise.all([
    loadModel("face_landmark_68", dir),
    loadModel("face_recognition", dir),
  ]);
  // The per-stage runs use their own sessions of the same models, as the recognizer keeps its
  // private; the whole-image runs go through the recognizer itself.
  const landmarkSession = await createSession(landmarkModel.onnx, options);
  const recognitionSession = await createSession(recognitionModel.onnx, options);
  const gallery = createGallery(EMBEDDER_MODEL, galleryEntries());
  const results: CaseResult[] = [];
  for (const c of args.cases) {
    let recognizer = recognizers.get(c.detector);
    if (!recognizer) {
      recognizer = await Recognizer.load({
        ...options,
        detector: c.detector,
        minConfidence: MIN_CONFIDENCE,
        galleryPath: args.galleryPath,
        threshold: 0.6,
      });
      recognizers.set(c.detector, recognizer);
    }
    const r = recognizer;
    const bytes = await Deno.readFile(args.images[c.image]);
    const image = await decodeImage(bytes);
    const { faces } = await r.analyzeImage(image);
    const fns: StageFns = {
      decode: () => decodeImage(bytes),
      detect: () => r.detect(image),
      landmarks: async () => {
        for (const f of faces) {
          const crop = cropImage(image, clipBox(f.box, image.width, image.height));
          await detectLandmarks(landmarkSession, landmarkModel.entry.input, crop);
        }
      },
      embed: async () => {
        for (const f of faces) {
          const crop = cropImage(image, f.alignedBox);
          await computeDescriptor(recognitionSession, recognitionModel.entry.input, crop);
        }
      },
      match: () => {
        for (const f of faces) matchEmbedding(gallery, f.embedding, { threshold: 0.6 });
      },
      whole: () => r.recognize(bytes),
    };
    console.error(`  ${config.id}: ${c.id} (${faces.length} faces)`);
    results.push(await measureCase(c.id, faces.length, fns, args.runs, args.warmup));
  }
  for (const r of recognizers.values()) await r.close();
  await landmarkSession.release();
  await recognitionSession.release();
  return { config: config.id, cases: results };
}

async function runReference(args: ChildArgs): Promise<ChildResult> {
  const { loadReference, toReferenceTensor } = await import("../testing/face_api_reference.ts");
  const { faceapi, tf } = await loadReference();
  const matcher = new faceapi.FaceMatcher(
    galleryEntries().map((e) => new faceapi.LabeledFaceDescriptors(e.name, [e.embedding])),
    0.6,
  );
  const results: CaseResult[] = [];
  for (const c of args.cases) {
    const ref = c.reference;
    const detectorOptions = ref.net === "ssd"
      ? new faceapi.SsdMobilenetv1Options({ minConfidence: MIN_CONFIDENCE })
      : new faceapi.TinyFaceDetectorOptions({
        inputSize: ref.inputSize,
        scoreThreshold: MIN_CONFIDENCE,
      });
    const detector = ref.net === "ssd"
      ? faceapi.nets.ssdMobilenetv1
      : faceapi.nets.tinyFaceDetector;
    const bytes = await Deno.readFile(args.images[c.image]);
    const image = await decodeImage(bytes);
    const tensor = toReferenceTensor(image);
    // deno-lint-ignore no-explicit-any
    const full: any[] = await faceapi.detectAllFaces(tensor, detectorOptions)
      .withFaceLandmarks().withFaceDescriptors();
    // deno-lint-ignore no-explicit-any
    const detections = full.map((f: any) => f.detection);
    // deno-lint-ignore no-explicit-any
    const aligned = full.map((f: any) => f.landmarks.align(null, { useDlibAlignment: true }));
    // deno-lint-ignore no-explicit-any
    const onCrops = async (boxes: unknown[], net: (t: any) => Promise<unknown>) => {
      if (boxes.length === 0) return;
      const crops = await faceapi.extractFaceTensors(tensor, boxes);
      for (const crop of crops) await net(crop);
      tf.dispose(crops);
    };
    const fns: StageFns = {
      decode: async () => tf.dispose(toReferenceTensor(await decodeImage(bytes))),
      detect: () => detector.locateFaces(tensor, detectorOptions),
      landmarks: () =>
        onCrops(detections, (t) => faceapi.nets.faceLandmark68Net.detectLandmarks(t)),
      embed: () =>
        onCrops(aligned, (t) => faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t)),
      match: () => {
        for (const f of full) matcher.findBestMatch(f.descriptor);
      },
      whole: async () => {
        const input = toReferenceTensor(await decodeImage(bytes));
        const found = await faceapi.detectAllFaces(input, detectorOptions)
          .withFaceLandmarks().withFaceDescriptors();
        for (const f of found) matcher.findBestMatch(f.descriptor);
        tf.dispose(input);
      },
    };
    console.error(`  ${args.config.id}: ${c.id} (${full.length} faces)`);
    results.push(await measureCase(c.id, full.length, fns, args.runs, args.warmup));
    tf.dispose(tensor);
  }
  return { config: args.config.id, cases: results };
}

async function child(args: ChildArgs): Promise<void> {
  const result = args.config.kind === "reference" ? await runReference(args) : await runOurs(args);
  // One tagged line, so library chatter on stdout cannot corrupt the result.
  console.log(RESULT_PREFIX + JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------
// Parent: inputs, subprocesses, table

interface Options {
  json: boolean;
  /** Also write the JSON report to this file. */
  save?: string;
  runs: number;
  warmup: number;
  configs: readonly Config[];
  cases: readonly Case[];
}

const USAGE = `Usage: deno task bench:model [--json] [--save FILE] [--runs N] [--warmup N]
                           [--configs a,b] [--cases a,b]

Our face pipeline against the reference library (face-api on tfjs-WASM), per stage and whole
image, each configuration in its own subprocess; prints CPU and wall-time medians.

  --json                 the report as JSON
  --save FILE            also write the JSON report to FILE
  --runs N               measured runs per case (default ${RUNS_DEFAULT}; ${RUNS_MIN}..${RUNS_MAX})
  --warmup N             warm-up runs per case (default ${WARMUP_DEFAULT}; 0..${RUNS_MAX})
  --configs LIST         some of ${CONFIGS.map((c) => c.id).join(",")}
  --cases LIST           some of ${CASES.map((c) => c.id).join(",")}
  --child JSON           (internal) what the parent process asks one configuration's process
  -h, --help             this help`;

const BENCH_FLAGS = {
  json: { type: "boolean" },
  save: { type: "string" },
  runs: { type: "string" },
  warmup: { type: "string" },
  configs: { type: "string" },
  cases: { type: "string" },
  // The parent's instructions to a child process (not for people).
  child: { type: "string" },
} as const;

function readArgs({ values }: CommandLine<typeof BENCH_FLAGS>): Options & { child?: ChildArgs } {
  const count = (name: "runs" | "warmup", fallback: number, min: number): number =>
    integerFlag(`--${name}`, values[name] ?? String(fallback), min, RUNS_MAX);
  const pick = <T extends { id: string }>(name: "configs" | "cases", all: readonly T[]) => {
    const text = values[name];
    if (text === undefined) return all;
    return text.split(",").map((id) => {
      const found = all.find((x) => x.id === id);
      if (!found) {
        throw new UsageError(
          `unknown "${id}", expected some of ${all.map((x) => x.id).join(",")}`,
          `--${name}`,
        );
      }
      return found;
    });
  };
  const options: Options = {
    json: values.json ?? false,
    save: values.save,
    runs: count("runs", RUNS_DEFAULT, RUNS_MIN),
    warmup: count("warmup", WARMUP_DEFAULT, 0),
    configs: pick("configs", CONFIGS),
    cases: pick("cases", CASES),
  };
  if (values.child === undefined) return options;
  const spec = JSON.parse(values.child);
  return {
    ...options,
    child: {
      config: options.configs[0],
      cases: options.cases,
      images: spec.images,
      galleryPath: spec.galleryPath,
      runs: options.runs,
      warmup: options.warmup,
    },
  };
}

async function runChild(
  config: Config,
  options: Options,
  spec: { images: Record<string, string>; galleryPath: string },
): Promise<ChildResult> {
  const args = [
    "run",
    "-A",
    "--config",
    new URL("deno.json", ROOT).pathname,
    new URL(import.meta.url).pathname,
    "--child",
    JSON.stringify(spec),
    "--configs",
    config.id,
    "--cases",
    options.cases.map((c) => c.id).join(","),
    "--runs",
    `${options.runs}`,
    "--warmup",
    `${options.warmup}`,
  ];
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").findLast((l) => l.startsWith(RESULT_PREFIX));
  if (!out.success || !line) {
    throw new Error(`${config.id} subprocess failed (exit ${out.code}); its stdout:\n${text}`);
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length));
}

function loadAverage(): number[] {
  return Deno.loadavg().map((x) => Math.round(x * 100) / 100);
}

function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** One table (wall or CPU medians) with the reference's median ÷ ours as a speed-up. */
function table(
  results: readonly ChildResult[],
  options: Options,
  key: "wallMsMedian" | "cpuMsMedian",
): string {
  const configs = options.configs;
  const reference = results.find((r) => r.config === REFERENCE_ID);
  const header = ["case", "stage", ...configs.map((c) => c.label)];
  const rows: string[][] = [];
  for (const c of options.cases) {
    for (const stage of STAGES) {
      const row = [c.id, stage];
      const refMs = reference?.cases.find((x) => x.case === c.id)?.stages[stage][key];
      for (const config of configs) {
        const res = results.find((r) => r.config === config.id)!.cases.find((x) =>
          x.case === c.id
        )!;
        const ms = res.stages[stage][key];
        const ratio = refMs !== undefined && config.id !== REFERENCE_ID && ms > 0
          ? ` (${(refMs / ms).toFixed(1)}×)`
          : "";
        row.push(formatMs(ms) + ratio);
      }
      rows.push(row);
    }
    const faces = configs.map((config) =>
      `${results.find((r) => r.config === config.id)!.cases.find((x) => x.case === c.id)!.faces}`
    );
    rows.push([c.id, "faces", ...faces]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((cell, i) => i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))
      .join(" | ") +
    " |";
  return [
    line(header),
    "|" + widths.map((w, i) => i < 2 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":").join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

async function parent(options: Options): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadStart = loadAverage();
  const log = (s: string) => console.error(s);
  log(
    `model bench ${startedAt}; load average ${loadStart.join(" ")}; ` +
      `${options.warmup} warm-up + ${options.runs} measured runs per case`,
  );
  const dir = await Deno.makeTempDir({ prefix: "model_bench_" });
  try {
    const images = await makeInputs(dir);
    const galleryPath = `${dir}/bench.gallery`;
    await Deno.writeFile(
      galleryPath,
      encodeGallery(createGallery(EMBEDDER_MODEL, galleryEntries())),
    );
    const results: ChildResult[] = [];
    for (const config of options.configs) {
      log(`${config.id}: starting (load average ${loadAverage().join(" ")})`);
      results.push(await runChild(config, options, { images, galleryPath }));
    }
    const loadEnd = loadAverage();
    const report = JSON.stringify({
      startedAt,
      loadAverageStart: loadStart,
      loadAverageEnd: loadEnd,
      runs: options.runs,
      warmup: options.warmup,
      configs: options.configs,
      cases: options.cases,
      results,
    });
    if (options.save) await Deno.writeTextFile(options.save, report + "\n");
    if (options.json) {
      console.log(report);
      return;
    }
    const cores = navigator.hardwareConcurrency;
    console.log(`model bench, ${startedAt}, ${cores} CPUs, deno ${Deno.version.deno}`);
    console.log(`load average at start ${loadStart.join(" ")}, at end ${loadEnd.join(" ")}`);
    console.log(
      `${options.warmup} warm-up + ${options.runs} measured runs per case; medians in ms; ` +
        `(n×) = reference median ÷ this median`,
    );
    console.log("\nCPU time (process, all threads):\n" + table(results, options, "cpuMsMedian"));
    console.log("\nWall time:\n" + table(results, options, "wallMsMedian"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const options = commandLineOrExit(
    { name: "bench:model", usage: USAGE, options: BENCH_FLAGS },
    Deno.args,
    readArgs,
  );
  if (options.child) await child(options.child);
  else await parent(options);
}
