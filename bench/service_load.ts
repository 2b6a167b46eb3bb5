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
 * ```sh
 * deno run -A bench/service_load.ts [--count 100|1000] [--concurrency 100]
 *   [--model-backend web|native|auto] [--max N] [--json]
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { quantileSorted } from "../internal/mod.ts";
import { formatReport, loadImages, parseLabelsCsv, runLoad } from "./loadgen.ts";
import { courseData, DATASET_DIR, sampleFleet, startTestStack, waitFor } from "../testing/e2e.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "100" },
    concurrency: { type: "string", default: "100" },
    "model-backend": { type: "string", default: "web" },
    max: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const set = count <= 100 ? "100" : "1000";
const images = await loadImages(join(DATASET_DIR, `face_images_${set}.zip`));
const labels = parseLabelsCsv(await Deno.readTextFile(join(DATASET_DIR, `labels_${set}.csv`)));
const course = await courseData();
const flags = ["--gallery", course.gallery, "--model-backend", values["model-backend"]!];
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
