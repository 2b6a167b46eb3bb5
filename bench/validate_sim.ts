/**
 * The simulator against the real thing: runs a burst of course images on the embedded stack
 * (`service/start.ts`, i.e. `deno task start` with its default settings, as a child process with
 * real worker processes), `--runs` times, stamping every line the stack and its workers print as
 * it arrives; saves the runs; fits the simulator's `local` profile to them (or takes the fit of
 * earlier runs with `--fit-from`) and prints makespan, p50 and p95 side by side with the
 * simulator's (sim/validate.ts does the measuring, fitting and comparing).
 *
 * ```sh
 * deno run -A bench/validate_sim.ts --count 100 --runs 3 --out out/validate-burst100.json
 * deno run -A bench/validate_sim.ts --count 30 --runs 3 --out out/validate-burst30.json \
 *   --fit-from out/validate-burst100.json      # a prediction: no refit
 * ```
 *
 * Options: `--count N` (burst size, all sent at once; default 100), `--runs N` (3), `--max N`
 * (the stack's `--max`; default its own, the CPU count), `--seeds N` (21), `--out FILE`,
 * `--fit-from FILE`, `--json`. The course dataset comes from testing/e2e.ts (`FR_DATASET_DIR`).
 * Exit code 0 when every figure is within 15%, 1 otherwise.
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadImages, runLoad } from "./loadgen.ts";
import { listAll } from "../cloud/blob_store.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { courseData } from "../testing/e2e.ts";
import {
  type BurstRecord,
  type ClientAnswer,
  parseRecords,
  type StampedLine,
  validate,
  VALIDATION,
  validationText,
} from "../sim/validate.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The stack's controller tick (`--tick-ms`, left at its default). */
const TICK_MS = 1000;

/** Limits of one stack run. */
const RUN_LIMITS = Object.freeze({
  /** The stack must listen within this. */
  listenMsMax: 60_000,
  /**
   * Quiet time after the first controller tick before the burst, so start-up has settled; whole
   * ticks, so that the burst's phase within a tick is the one chosen.
   */
  settleMs: 2 * TICK_MS,
  /** After the last answer, every instance must be stopped within this. */
  zeroMsMax: 60_000,
  /** A stack asked to stop (SIGINT) is killed after this. */
  exitMsMax: 30_000,
  /** Largest burst. */
  countMax: 10_000,
  runsMax: 20,
});

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    max: { type: "string" },
    seeds: { type: "string", default: String(VALIDATION.seeds) },
    out: { type: "string" },
    "fit-from": { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const count = wholeNumber("--count", values.count!, 1, RUN_LIMITS.countMax);
const runs = wholeNumber("--runs", values.runs!, 1, RUN_LIMITS.runsMax);
const seeds = wholeNumber("--seeds", values.seeds!, 1, 1000);
const outPath = values.out ?? join(ROOT, `out/validate-burst${count}.json`);

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`validate_sim: ${flag} must be a whole number in [${min}, ${max}], got ${text}`);
    Deno.exit(2);
  }
  return n;
}

/** Stamps each line of a stream as it arrives, parsing JSON lines; other lines are skipped. */
function collectLines(stream: ReadableStream<Uint8Array>, nowMs: () => number) {
  const lines: { atMs: number; entry: Record<string, unknown> }[] = [];
  const done = (async () => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const atMs = nowMs();
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!text.startsWith("{")) continue;
        try {
          lines.push({ atMs, entry: JSON.parse(text) });
        } catch {
          // A worker's non-JSON output: not ours to measure.
        }
      }
    }
  })();
  return { lines, done };
}

async function waitUntil(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One burst on a fresh stack. */
async function runOnce(
  gallery: string,
  images: Awaited<ReturnType<typeof loadImages>>,
  labels: ReadonlyMap<string, string>,
  phaseMs: number,
): Promise<BurstRecord> {
  const dataDir = await Deno.makeTempDir({ prefix: "fr-validate-sim-" });
  const flags = ["--gallery", gallery, "--data", dataDir, "--port", "0", "--hostname", "127.0.0.1"];
  if (values.max) flags.push("--max", values.max);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "service/start.ts"), ...flags],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = collectLines(child.stdout, () => performance.now());
  let stderr = "";
  const errDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + chunk).slice(-4000);
    }
  })();
  const find = (pred: (e: Record<string, unknown>) => boolean) =>
    out.lines.find((l) => pred(l.entry));
  try {
    await waitUntil(
      "the stack to listen",
      () => find((e) => e.event === "listening") !== undefined,
      RUN_LIMITS.listenMsMax,
    );
    const listening = find((e) => e.event === "listening")!.entry;
    await waitUntil(
      "the controller's first tick",
      () => find((e) => e.component === "controller") !== undefined,
      RUN_LIMITS.listenMsMax,
    );
    // The controller ticks every tickMs from its first tick on; the real burst arrives at an
    // arbitrary moment of a tick, so the runs spread it evenly over one, as the simulated seeds do.
    const firstTickAt = find((e) => e.component === "controller")!.atMs;
    const burstAt = firstTickAt + RUN_LIMITS.settleMs + phaseMs;
    await new Promise((r) => setTimeout(r, Math.max(0, burstAt - performance.now())));

    const answers: ClientAnswer[] = [];
    const loadAverageBefore = Deno.loadavg()[0];
    const t0 = performance.now();
    const wallT0 = Date.now();
    const report = await runLoad({
      url: `${listening.url}/`,
      images,
      labels,
      concurrency: count,
      count,
    }, {
      send: async (request) => {
        const sentMs = performance.now() - t0;
        const response = await fetch(request);
        answers.push({
          id: response.headers.get("x-request-id"),
          sentMs,
          answeredMs: performance.now() - t0,
          status: response.status,
        });
        return response;
      },
      nowMs: () => performance.now(),
    });
    const lastAnswerAt = performance.now();
    // Back to zero: a controller tick after the last answer that sees nothing pending or running.
    await waitUntil(
      "every instance to stop",
      () =>
        out.lines.some((l) => {
          const inputs = l.entry.inputs as Record<string, number> | undefined;
          return l.atMs >= lastAnswerAt && inputs !== undefined &&
            inputs.pending + inputs.running + inputs.stopping === 0;
        }),
      RUN_LIMITS.zeroMsMax,
    );
    const loadAverageAfter = Deno.loadavg()[0];
    const uploadsMs: number[] = [];
    const names = listening.names as { inBucket: string };
    // When each upload was stored: the blob store's own timestamps, read as another process.
    const blobs = await LocalBlobStore.open(join(dataDir, "blobs"));
    try {
      for await (const item of listAll(blobs, names.inBucket)) {
        uploadsMs.push(item.lastModifiedMs - wallT0);
      }
    } finally {
      await blobs.close();
    }
    const lines: StampedLine[] = out.lines
      .filter((l) => l.entry.component === "controller" || l.entry.component === "worker")
      .map((l) => ({ atMs: Math.round((l.atMs - t0) * 10) / 10, entry: l.entry }));
    return {
      requests: count,
      instancesMax: listening.instancesMax as number,
      tickMs: TICK_MS,
      successes: report.successes,
      makespanMs: report.totalS * 1000,
      latencyMs: { p50: report.latencyMs.p50, p95: report.latencyMs.p95 },
      loadAverage: { before: loadAverageBefore, after: loadAverageAfter },
      lines,
      answers,
      uploadsMs,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nstack stderr (tail):\n${stderr}`);
  } finally {
    child.kill("SIGINT");
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), RUN_LIMITS.exitMsMax)),
    ]);
    if (!exited) {
      child.kill("SIGKILL");
      await child.status;
    }
    await out.done;
    await errDone;
    await Deno.remove(dataDir, { recursive: true });
  }
}

const course = await courseData();
const images = (await loadImages(course.imagesDir)).slice(0, Math.min(count, 100));
const records: BurstRecord[] = [];
for (let k = 0; k < runs; k++) {
  const phaseMs = ((k + 0.5) / runs) * TICK_MS;
  const record = await runOnce(course.gallery, images, course.labels, phaseMs);
  console.error(
    `run ${k + 1}/${runs}: makespan ${(record.makespanMs / 1000).toFixed(2)} s, p50 ${
      (record.latencyMs.p50 / 1000).toFixed(2)
    } s, p95 ${
      (record.latencyMs.p95 / 1000).toFixed(2)
    } s, ${record.successes}/${count} answered, ` +
      `load average ${record.loadAverage.before.toFixed(1)}`,
  );
  records.push(record);
}
await Deno.mkdir(join(outPath, ".."), { recursive: true });
await Deno.writeTextFile(outPath, JSON.stringify(records));
console.error(`validate_sim: ${runs} run(s) saved to ${outPath}`);
const fitPath = values["fit-from"];
const fitRecords = fitPath === undefined
  ? records
  : parseRecords(await Deno.readTextFile(fitPath), fitPath);
const v = validate(records, fitRecords, { seeds, fittedOn: fitPath ?? "these runs" });
console.log(values.json ? JSON.stringify(v, null, 2) : validationText(v, seeds));
Deno.exit(v.rows.every((r) => r.within) ? 0 : 1);
