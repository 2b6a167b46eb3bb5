/**
 * End-to-end fixtures: the course dataset unpacked to a temp dir with a gallery enrolled from its
 * 10 distinct images, a whole embedded stack (web + controller + real worker processes with the
 * real model) on a free port, a fleet sampler, and a grader-style client.
 * @module
 */
import { basename, join } from "node:path";
import type { Instance } from "../cloud/fleet.ts";
import { parseServiceConfig, type ServiceConfig } from "../service/config.ts";
import { type Stack, type StackOptions, startStack } from "../service/stack.ts";
import { COURSE_DATA_DIR, readCourseLabels, unzipCourseImages } from "./datasets.ts";
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The course dataset (never copied into the repo); `FR_DATASET_DIR` overrides. */
export const DATASET_DIR = COURSE_DATA_DIR.pathname;

/**
 * True when the course dataset is here, so the real-model tests can run (the models are built on
 * first use by whichever process needs them first).
 */
export const E2E_READY = exists(join(DATASET_DIR, "face_images_100.zip"));

/** Why the real-model tests were skipped, for the test name. */
export const E2E_SKIP_NOTE = E2E_READY ? "" : ` (skipped: no dataset at ${DATASET_DIR})`;

/** Worker output during tests: `FR_E2E_VERBOSE=1` shows it. */
const VERBOSE = Deno.env.get("FR_E2E_VERBOSE") === "1";

/** The unpacked course images and a gallery of their 10 distinct images. */
export interface CourseData {
  readonly dir: string;
  readonly imagesDir: string;
  /** Every image file, test_00.jpg … test_99.jpg. */
  readonly files: readonly string[];
  /** Expected label per stem (labels_100.csv). */
  readonly labels: ReadonlyMap<string, string>;
  readonly gallery: string;
}

/** One upload of a course photo and the answer it must get. */
export interface CourseUpload {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** `<stem>:<label>`. */
  readonly want: string;
}

/**
 * The first `distinct` course photos as JPEG and re-encoded in each given format, each with the
 * answer the course's labels expect.
 *
 * @param data the unpacked course data
 * @param distinct how many photos
 * @param encoders name (the file extension) and encoder per format
 */
export async function courseUploadsInFormats(
  data: CourseData,
  distinct: number,
  encoders: readonly (readonly [string, (image: RgbImage) => Promise<Uint8Array> | Uint8Array])[],
): Promise<CourseUpload[]> {
  const uploads: CourseUpload[] = [];
  for (const file of data.files.slice(0, distinct)) {
    const stem = file.replace(/\.jpg$/, "");
    const jpeg = await Deno.readFile(`${data.imagesDir}/${file}`);
    const want = `${stem}:${data.labels.get(stem)}`;
    uploads.push({ name: file, bytes: jpeg, want });
    const pixels = await decodeImage(jpeg);
    for (const [format, encode] of encoders) {
      uploads.push({ name: `${stem}.${format}`, bytes: await encode(pixels), want });
    }
  }
  return uploads;
}

let course: Promise<CourseData> | undefined;

/**
 * Runs `deno task enroll --gallery G --csv CSV --images DIR` as a user would (a process of its
 * own). enroll exits 1 when an image fails; those that did not are enrolled all the same.
 */
export async function enrollCsv(
  gallery: string,
  csv: string,
  imagesDir: string,
): Promise<{ success: boolean; code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      join(ROOT, "model/cli/enroll.ts"),
      "--gallery",
      gallery,
      "--csv",
      csv,
      "--images",
      imagesDir,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { success: out.success, code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Unpacks the 100-image set and enrolls its 10 distinct images once per test process. */
export function courseData(): Promise<CourseData> {
  course ??= prepareCourse();
  return course;
}

async function prepareCourse(): Promise<CourseData> {
  const dir = await Deno.makeTempDir({ prefix: "fr-e2e-course-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const imagesDir = join(dir, "face_images_100");
  await Deno.mkdir(imagesDir);
  const files = (await unzipCourseImages("face_images_100.zip", imagesDir)).map((p) => basename(p));
  const labels = await readCourseLabels("labels_100.csv");
  // The 10 distinct images are test_00 … test_09 (the CSV's first rows); the rest repeat them.
  const csv = join(dir, "labels_10.csv");
  const distinct = [...labels].slice(0, 10).map(([stem, label]) => `${stem},${label}`);
  await Deno.writeTextFile(csv, ["Image,Results", ...distinct].join("\n") + "\n");
  const gallery = join(dir, "course.gallery");
  const enroll = await enrollCsv(gallery, csv, imagesDir);
  if (!enroll.success) throw new Error(`enroll failed: ${enroll.stderr}`);
  return { dir, imagesDir, files, labels, gallery };
}

/** A stack under a temp data dir, with its log lines collected. */
export interface TestStack {
  readonly stack: Stack;
  readonly lines: Record<string, unknown>[];
  readonly dataDir: string;
  /** Closes the stack (workers included) and removes the data dir. */
  dispose(): Promise<void>;
}

/**
 * The settings every test stack starts with: its own data dir, an ephemeral port on loopback,
 * workers quiet unless `FR_E2E_VERBOSE=1`, and a gallery when given.
 *
 * @param dataDir the stack's data directory
 * @param gallery the gallery file, if any
 * @returns flags for `start` or `serve` (more may follow; a later flag wins)
 */
export function testStackFlags(dataDir: string, gallery?: string): string[] {
  return [
    "--data",
    dataDir,
    "--port",
    "0",
    "--hostname",
    "127.0.0.1",
    "--worker-log",
    VERBOSE ? "inherit" : "null",
    ...(gallery === undefined ? [] : ["--gallery", gallery]),
  ];
}

/**
 * Starts `deno task start`'s stack in this process (workers are real processes) on a free port.
 * @param flags extra command-line settings, e.g. `["--max", "2"]`
 * @param options stack options over the test defaults
 */
export async function startTestStack(
  flags: readonly string[],
  options: Partial<StackOptions> = {},
): Promise<TestStack> {
  const dataDir = await Deno.makeTempDir({ prefix: "fr-e2e-data-" });
  const config = parseServiceConfig("start", [
    ...testStackFlags(dataDir),
    // dispose() drains like Ctrl-C; a test that left a client waiting should not wait 10 s.
    "--drain-ms",
    "2000",
    ...flags,
  ], { env: () => undefined }) as ServiceConfig;
  const lines: Record<string, unknown>[] = [];
  const stack = await startStack(config, {
    command: "start",
    stopGraceMs: 3_000,
    log: (line) => {
      lines.push({ ...line });
      if (VERBOSE) console.log(JSON.stringify(line));
    },
    ...options,
  });
  return {
    stack,
    lines,
    dataDir,
    async dispose() {
      await stack.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** One sample of the fleet. */
export interface FleetSample {
  readonly atMs: number;
  readonly running: number;
  /** pending + running + stopping: instances holding a slot. */
  readonly live: number;
}

/** Samples the fleet every `periodMs` until stopped. */
export function sampleFleet(
  describe: () => Promise<Instance[]>,
  periodMs = 200,
): { samples: FleetSample[]; stop(): Promise<void> } {
  const samples: FleetSample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const instances = await describe();
      samples.push({
        atMs: Date.now(),
        running: instances.filter((i) => i.state === "running").length,
        live: instances.filter((i) => ["pending", "running", "stopping"].includes(i.state)).length,
      });
      await new Promise((r) => setTimeout(r, periodMs));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** A grader-style answer. */
export interface Answer {
  readonly file: string;
  readonly status: number;
  readonly body: string;
  readonly doneAtMs: number;
  readonly latencyMs: number;
}

/**
 * Posts one image as the course grader does: multipart field `inputFile`.
 * @param headers e.g. the API token's `authorization` @default {none}
 */
export async function postImage(
  url: string,
  path: string,
  name: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const form = new FormData();
  form.append("inputFile", new Blob([await Deno.readFile(path)], { type: "image/jpeg" }), name);
  const startMs = Date.now();
  const response = await fetch(`${url}/`, { method: "POST", body: form, headers });
  const body = await response.text();
  const doneAtMs = Date.now();
  return { file: name, status: response.status, body, doneAtMs, latencyMs: doneAtMs - startMs };
}

/** Waits until `check` is true, polling every `intervalMs`, up to `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
