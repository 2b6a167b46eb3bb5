/**
 * End-to-end load on the whole embedded stack (`deno task start`'s, in this process; workers are
 * real processes with the real model): the course's 100-image burst, or a 1000-request run.
 * Enrolls the course's 10 distinct images, posts like the grader, and reports total seconds,
 * average per request, latency percentiles, the fleet's peak and how soon it went back to 0.
 *
 * It also reports the web tier's overhead per request: the client's latency minus the time the
 * request waited in the request queue for a free worker and minus the time inside the worker
 * (image get, recognition, label put), from the answers' JSON timings. What is left is the
 * upload, the enqueue, the answer's trip back through the response queue and the reply, given
 * for the first `--concurrency` requests (they arrive at the same instant) and for the rest. The
 * client runs in this process, so its CPU competes with the web tier's (`bench/web_overhead.ts`
 * separates them).
 *
 * `--set lfw` sends the 100 LFW photos (250×250) instead, each enrolled under its own name
 * beforehand, so an answer is right when the photo's face is found and matched to itself: the
 * scenario where the detector, not the small-image path, does the work.
 *
 * ```sh
 * deno run -A bench/service_load.ts [--set course|lfw] [--count 100|1000] [--concurrency 100]
 *   [--model-backend web|native|auto] [--max N] [--json]
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { basename, join } from "node:path";
import { quantileSorted } from "../internal/mod.ts";
import { formatReport, loadImages, parseLabelsCsv, runLoad } from "./loadgen.ts";
import {
  courseData,
  DATASET_DIR,
  enrollCsv,
  sampleFleet,
  startTestStack,
  waitFor,
} from "../testing/e2e.ts";
import { unzipCourseImages } from "../testing/datasets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    set: { type: "string", default: "course" },
    count: { type: "string", default: "100" },
    concurrency: { type: "string", default: "100" },
    "model-backend": { type: "string", default: "web" },
    max: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
if (values.set !== "course" && values.set !== "lfw") {
  console.error(`service_load: --set must be course or lfw, got "${values.set}"`);
  Deno.exit(2);
}
const { images, labels, gallery } = values.set === "lfw" ? await lfwSet() : await courseSet();
const flags = ["--gallery", gallery, "--model-backend", values["model-backend"]!];
if (values.max) flags.push("--max", values.max);
const loadAverageBefore = Deno.loadavg()[0];
const t = await startTestStack(flags);
const fleet = t.stack.backend.fleet;
const sampler = sampleFleet(() => fleet.describe(), 200);
/** Per request, in the order they were sent: the first `concurrency` arrive all at once. */
const overheadsMs: number[] = [];
let sentCount = 0;
/**
 * Asks for the JSON answer, keeps the overhead, and hands loadgen the plain `<stem>:<label>` it
 * checks, so correctness is judged exactly as without this.
 */
async function sendMeasured(request: Request): Promise<Response> {
  const index = sentCount++;
  const headers = new Headers(request.headers);
  headers.set("accept", "application/json");
  const startMs = performance.now();
  const res = await fetch(new Request(request, { headers }));
  const text = await res.text();
  const latencyMs = performance.now() - startMs;
  if (res.status !== 200) return new Response(text, { status: res.status, headers: res.headers });
  const body = JSON.parse(text);
  const { web, worker } = body.timingsMs;
  const waitedForWorkerMs = worker.queuedMs - web.upload - web.enqueue;
  const inWorkerMs = worker.getMs + worker.recognizeMs + worker.putMs;
  overheadsMs[index] = latencyMs - waitedForWorkerMs - inWorkerMs;
  return new Response(body.answer, { status: 200 });
}
/** The course's burst: the 100- or 1000-image set, the 10 distinct images enrolled. */
async function courseSet() {
  const set = count <= 100 ? "100" : "1000";
  return {
    images: await loadImages(join(DATASET_DIR, `face_images_${set}.zip`)),
    labels: parseLabelsCsv(await Deno.readTextFile(join(DATASET_DIR, `labels_${set}.csv`))),
    gallery: (await courseData()).gallery,
  };
}

/** The 100 LFW photos, each enrolled under its own stem (by `enroll`, as a user would). */
async function lfwSet() {
  const dir = await Deno.makeTempDir({ prefix: "fr-service-load-lfw-" });
  const imagesDir = join(dir, "lfw");
  await Deno.mkdir(imagesDir);
  const stems = (await unzipCourseImages("lfw_gallery_100.zip", imagesDir))
    .map((p) => basename(p).replace(/\.jpg$/, ""));
  const csv = join(dir, "labels.csv");
  await Deno.writeTextFile(csv, ["Image,Results", ...stems.map((s) => `${s},${s}`)].join("\n"));
  const gallery = join(dir, "lfw.gallery");
  const enroll = await enrollCsv(gallery, csv, imagesDir);
  // enroll exits 1 when a photo has no face it can find; the others are enrolled.
  if (!enroll.success) {
    console.error(`service_load: enroll exited ${enroll.code}: ${enroll.stderr}`);
  }
  return {
    images: await loadImages(imagesDir),
    labels: new Map(stems.map((s) => [s, s])),
    gallery,
  };
}

function percentiles(values: (number | undefined)[]) {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  return {
    count: sorted.length,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
  };
}
try {
  const report = await runLoad({
    url: `${t.stack.url}/`,
    images,
    labels,
    concurrency: Number(values.concurrency),
    count,
  }, { send: sendMeasured, nowMs: () => performance.now() });
  const lastAnswerMs = Date.now();
  await waitFor(
    "every instance to stop",
    async () => (await fleet.describe({ states: ["pending", "running"] })).length === 0,
    60_000,
  );
  const zeroAfterLastAnswerMs = Date.now() - lastAnswerMs;
  await sampler.stop();
  const summary = {
    set: values.set,
    count,
    concurrency: Number(values.concurrency),
    modelBackend: values["model-backend"],
    instancesMax: t.stack.config.instancesMax,
    totalS: report.totalS,
    perRequestS: report.totalPerRequestS,
    latencyMs: report.latencyMs,
    successes: report.successes,
    correct: report.correct,
    failures: report.failures,
    peakRunning: Math.max(...sampler.samples.map((s) => s.running)),
    zeroAfterLastAnswerMs,
    webOverheadMs: {
      all: percentiles(overheadsMs),
      /** The first `concurrency` requests, sent at the same instant. */
      arrivalBurst: percentiles(overheadsMs.slice(0, Number(values.concurrency))),
      /** The rest, each sent when an earlier one was answered (none in a 100-burst). */
      steady: percentiles(overheadsMs.slice(Number(values.concurrency))),
    },
    loadAverageBefore,
    loadAverageAfter: Deno.loadavg()[0],
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(formatReport(report));
    console.log(summary);
  }
} finally {
  await sampler.stop();
  await t.dispose();
}
