/**
 * The two readiness figures, against `deno task start` of one or more checkouts (side by
 * side, runs alternating so both see the same machine load):
 *
 * 1. **Sequential traffic**: 12 requests one after another: a course image, then a small bad
 *    image (a text file; the worker answers 422), alternating. With keep-alive 0 every worker
 *    exits as soon as the queue is empty, so each request needs a start, often within a tick of
 *    the last worker's exit. Worst and median latency per run.
 * 2. **Replacement**: one request, its worker killed (SIGKILL) as soon as its process appears
 *    (before it is ready); the time until the next worker process runs.
 *
 * ```sh
 * git -C /work/main archive 9f37244 | tar -x -C /tmp/before   # plus node_modules, .cache/models
 * deno run -A bench/readiness.ts --dir /tmp/before --dir . --runs 3 [--model-backend native]
 * ```
 * With the native backend a worker loads, answers and exits within one controller tick, which is
 * when the old controller waited 30 s for a start that had already come and gone.
 * Each checkout needs its `node_modules` and built models; the gallery is enrolled once, with
 * this checkout's `enroll`, from the course images (`FR_DATASET_DIR` overrides where they are).
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { median } from "../internal/mod.ts";
import { COURSE_DATA_DIR, readCourseLabels, unzipCourseImages } from "../testing/datasets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", multiple: true },
    runs: { type: "string", default: "3" },
    requests: { type: "string", default: "12" },
    /** Passed to `deno task start`: `native` starts a worker in ~0.4 s, `web` (WASM) in ~1.2 s. */
    "model-backend": { type: "string", default: "web" },
    json: { type: "boolean", default: false },
  },
});
const RUNS_MAX = 20;
const REQUESTS_MAX = 100;
/** No single request of the bench may take longer (the old code's worst was ~30 s). */
const REQUEST_MS_MAX = 90_000;
/** How long a stack may take to listen. */
const LISTEN_MS_MAX = 60_000;

const runs = Number(values.runs);
const requests = Number(values.requests);
if (!Number.isInteger(runs) || runs < 1 || runs > RUNS_MAX) {
  throw new RangeError(`--runs must be an integer in 1..${RUNS_MAX}, got ${values.runs}`);
}
if (!Number.isInteger(requests) || requests < 2 || requests > REQUESTS_MAX) {
  throw new RangeError(
    `--requests must be an integer in 2..${REQUESTS_MAX}, got ${values.requests}`,
  );
}
const HERE = new URL("..", import.meta.url).pathname;
const dirs = (values.dir ?? [HERE]).map((d) => resolve(d));

// ---- the workload: course images, a bad image, a gallery

const work = await Deno.makeTempDir({ prefix: "fr-bench-readiness-" });
const imagesDir = join(work, "images");
await Deno.mkdir(imagesDir);
await unzipCourseImages("face_images_100.zip", imagesDir);
const labels = await readCourseLabels("labels_100.csv");
const badImage = join(work, "notes.jpg");
await Deno.writeTextFile(badImage, "not an image: a text file named .jpg\n");
const gallery = join(work, "course.gallery");
{
  const csv = join(work, "labels_10.csv");
  const rows = [...labels].slice(0, 10).map(([stem, label]) => `${stem},${label}`);
  await Deno.writeTextFile(csv, ["Image,Results", ...rows].join("\n") + "\n");
  const enroll = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(HERE, "model/cli/enroll.ts"), "--gallery", gallery]
      .concat(["--csv", csv, "--images", imagesDir]),
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!enroll.success) throw new Error("enroll failed");
}
console.error(`bench: course data from ${COURSE_DATA_DIR.pathname}, gallery ${gallery}`);

// ---- one stack: `deno task start` in a checkout

interface Running {
  readonly url: string;
  readonly child: Deno.ChildProcess;
  readonly dataDir: string;
}

async function startStack(dir: string): Promise<Running> {
  const dataDir = await Deno.makeTempDir({ prefix: "fr-bench-data-", dir: work });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--data", dataDir, "--gallery", gallery, "--hostname", "127.0.0.1"]
      .concat(["--model-backend", values["model-backend"]!]),
    cwd: dir,
    env: { PORT: "0" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = Date.now() + LISTEN_MS_MAX;
  while (Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    buffer += value;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) {
      if (!line.startsWith("{")) continue;
      const parsed = JSON.parse(line);
      if (parsed.event === "listening") {
        // Keep draining the log so the stack never blocks on a full pipe.
        (async () => {
          while (!(await lines.read()).done) { /* drain */ }
        })();
        return { url: parsed.url, child, dataDir };
      }
    }
  }
  child.kill("SIGKILL");
  throw new Error(`the stack in ${dir} did not listen within ${LISTEN_MS_MAX} ms`);
}

async function stopStack(stack: Running): Promise<void> {
  // `deno task` forwards SIGINT to the start script, which stops its workers.
  stack.child.kill("SIGINT");
  await stack.child.status;
  for (const pid of workerPids(stack.dataDir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

async function post(
  url: string,
  path: string,
  name: string,
): Promise<{ ms: number; status: number }> {
  const form = new FormData();
  form.append("inputFile", new Blob([await Deno.readFile(path)], { type: "image/jpeg" }), name);
  const t0 = performance.now();
  const res = await fetch(`${url}/`, {
    method: "POST",
    body: form,
    signal: AbortSignal.timeout(REQUEST_MS_MAX),
  });
  await res.text();
  return { ms: performance.now() - t0, status: res.status };
}

/** Worker processes of the stack with this data dir (their command line names it). */
function workerPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline.some((a) => a.endsWith("service/worker.ts")) && cmdline.includes(dataDir)) {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        if (stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") pids.push(Number(entry.name));
      }
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/** Latencies, and the requests not answered as expected (200 for a face, 422 for the bad image). */
async function sequential(stack: Running): Promise<{ latencies: number[]; wrong: string[] }> {
  const latencies: number[] = [];
  const wrong: string[] = [];
  for (let k = 0; k < requests; k++) {
    const course = k % 2 === 0;
    const stem = `test_${String((k / 2) % 10).padStart(2, "0")}`;
    const { ms, status } = course
      ? await post(stack.url, join(imagesDir, `${stem}.jpg`), `${stem}.jpg`)
      : await post(stack.url, badImage, `bad_${k}.jpg`);
    const expected = course ? 200 : 422;
    if (status !== expected) wrong.push(`#${k}: ${status}`);
    latencies.push(ms);
  }
  return { latencies, wrong };
}

/** Kill → next worker process, and what the client of the request then got. */
async function replacement(stack: Running): Promise<{ replacedMs: number; status: number }> {
  // Wait for an idle fleet: no worker process left from the sequential part.
  for (let k = 0; k < 200 && workerPids(stack.dataDir).length > 0; k++) await sleep(50);
  const answering = post(stack.url, join(imagesDir, "test_01.jpg"), "test_01.jpg");
  let victim: number | undefined;
  for (let k = 0; k < 20_000 && victim === undefined; k++) {
    victim = workerPids(stack.dataDir)[0];
    if (victim === undefined) await sleep(2);
  }
  if (victim === undefined) throw new Error("no worker process appeared");
  Deno.kill(victim, "SIGKILL");
  const killedMs = performance.now();
  let replacedMs = NaN;
  for (let k = 0; k < 60_000; k++) {
    if (workerPids(stack.dataDir).some((pid) => pid !== victim)) {
      replacedMs = performance.now() - killedMs;
      break;
    }
    await sleep(2);
  }
  const answer = await answering;
  return { replacedMs, status: answer.status };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- runs, alternating checkouts (and which goes first)

interface RunResult {
  readonly dir: string;
  readonly latenciesMs: number[];
  readonly worstMs: number;
  readonly medianMs: number;
  readonly over5s: number;
  /** Sequential requests answered otherwise than expected, e.g. `#3: 504`. */
  readonly wrong: readonly string[];
  readonly replacedMs: number;
  /** What the client of the request whose worker was killed got (200; 504 after 60 s before). */
  readonly replacedRequestStatus: number;
}
const results: RunResult[] = [];
for (let r = 0; r < runs; r++) {
  const order = r % 2 === 0 ? dirs : [...dirs].reverse();
  for (const dir of order) {
    const stack = await startStack(dir);
    try {
      const { latencies: latenciesMs, wrong } = await sequential(stack);
      const { replacedMs, status } = await replacement(stack);
      const result = {
        dir,
        latenciesMs: latenciesMs.map((ms) => Math.round(ms)),
        worstMs: Math.round(Math.max(...latenciesMs)),
        medianMs: Math.round(median(latenciesMs)),
        over5s: latenciesMs.filter((ms) => ms > 5_000).length,
        wrong,
        replacedMs: Math.round(replacedMs),
        replacedRequestStatus: status,
      };
      results.push(result);
      console.error(`run ${r + 1} ${dir}: ${JSON.stringify(result)}`);
    } finally {
      await stopStack(stack);
    }
  }
}

const summary = dirs.map((dir) => {
  const mine = results.filter((x) => x.dir === dir);
  return {
    dir,
    runs: mine.length,
    worstMsMedian: median(mine.map((x) => x.worstMs)),
    worstMsMax: Math.max(...mine.map((x) => x.worstMs)),
    requestMsMedian: median(mine.map((x) => x.medianMs)),
    requestsOver5s: mine.map((x) => x.over5s),
    replacedMsMedian: median(mine.map((x) => x.replacedMs)),
    replacedMs: mine.map((x) => x.replacedMs),
    replacedRequestStatus: mine.map((x) => x.replacedRequestStatus),
    wrong: mine.flatMap((x) => x.wrong),
  };
});
if (values.json) console.log(JSON.stringify({ runs: results, summary }, null, 2));
else {
  console.log(
    "checkout".padEnd(28) +
      "seq worst (median, max)   seq median   >5 s per run   replace (median; each)",
  );
  for (const s of summary) {
    console.log(
      s.dir.slice(-27).padEnd(28) +
        `${(s.worstMsMedian / 1000).toFixed(2)} s, ${(s.worstMsMax / 1000).toFixed(2)} s`.padEnd(
          26,
        ) +
        `${(s.requestMsMedian / 1000).toFixed(2)} s`.padEnd(13) +
        s.requestsOver5s.join(", ").padEnd(15) +
        `${(s.replacedMsMedian / 1000).toFixed(2)} s; ${s.replacedMs.join(", ")} ms ` +
        `(its request: ${s.replacedRequestStatus.join(", ")})` +
        (s.wrong.length > 0 ? `; unexpected: ${s.wrong.join(" ")}` : ""),
    );
  }
}
await Deno.remove(work, { recursive: true });
