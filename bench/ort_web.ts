/**
 * `deno run -A bench/ort_web.ts [--model ID | --pipeline] [--backend web|native]
 * [--threads N] [--runs N] [--warmup N] [--variants a,b] [--isolated]`: where onnxruntime-web's time goes on
 * one of our networks, and what candidate speed-ups buy.
 *
 * 1. Profile (web only): one session with onnxruntime's profiler on; per operator kind
 *    (pointwise, depthwise and other convolutions, the rest), its share of the time (per node,
 *    the median over several runs), its multiply-adds (from the shapes the profiler records) and
 *    the GFLOP/s it achieves. Profiler times are wall times, so load inflates them.
 * 2. Variants: sessions of the same network (or, with `--pipeline`, of the SSD, landmark and
 *    recognition nets run in sequence, as a recognizer runs them) with the shipped session
 *    options (`ortSessionOptions`) and with one change each, run interleaved on the same input
 *    in one process (so load drifts hit them alike), with CPU-time median and minimum per run
 *    and the largest output difference from the baseline. One thread by default, as the
 *    issue's web target.
 *
 * The machine this was written on is shared and loaded; compare variants within one run only,
 * and trust a difference only when the median and the minimum agree on it.
 * @module
 */
import process from "node:process";
import type * as OrtWeb from "onnxruntime-web";
import { median } from "../internal/mod.ts";
import { loadModel, modelDir } from "../model/model_store.ts";
import { ortSessionOptions } from "../model/runtime/session.ts";

/** Fewer runs than this make a median of noise on a loaded machine. */
const RUNS_MIN = 15;
const RUNS_MAX = 1000;
/** Rounds of `--isolated` (each variant gets one process per round). */
const ISOLATED_ROUNDS = 2;
const RESULT_PREFIX = "ORT_BENCH_RESULT ";
/** Runs whose per-node times the profile takes the median of. */
const PROFILED_RUNS = 9;

type Ort = typeof OrtWeb;
type SessionOptions = OrtWeb.InferenceSession.SessionOptions;

/** One candidate: a graph and the options its session is created with. */
interface Variant {
  readonly id: string;
  readonly what: string;
  readonly session?: SessionOptions;
}

const VARIANTS: readonly Variant[] = [
  { id: "baseline", what: "the shipped graph and session options" },
  {
    id: "no-arena",
    what: "enableCpuMemArena: false",
    session: { enableCpuMemArena: false },
  },
  { id: "no-mem-pattern", what: "enableMemPattern: false", session: { enableMemPattern: false } },
  {
    id: "no-spin",
    what: "session.intra_op.allow_spinning = 0 (threads > 1 only; shipped for native)",
    session: { extra: { session: { intra_op: { allow_spinning: "0" } } } },
  },
  {
    id: "spin",
    what: "session.intra_op.allow_spinning = 1 (onnxruntime's default; threads > 1 only)",
    session: { extra: { session: { intra_op: { allow_spinning: "1" } } } },
  },
  {
    id: "fixed-batch",
    what: "freeDimensionOverrides N = 1 (the batch dim of the landmark and recognition nets)",
    session: { freeDimensionOverrides: { N: 1 } },
  },
  {
    id: "opt-extended",
    what: 'graphOptimizationLevel: "extended" (no layout optimisations)',
    session: { graphOptimizationLevel: "extended" },
  },
];

const MODELS = {
  ssd_mobilenetv1: { side: 512 },
  face_recognition: { side: 150 },
  face_landmark_68: { side: 112 },
  tiny_face_detector: { side: 416 },
} as const;
type ModelId = keyof typeof MODELS;

interface Args {
  /** Run the SSD, landmark and recognition nets in sequence instead of `model` alone. */
  pipeline: boolean;
  /** Each variant in its own process (`--isolated`); set in those processes too. */
  isolated: boolean;
  isolatedChild: boolean;
  backend: "web" | "native";
  threads: number;
  model: ModelId;
  runs: number;
  warmup: number;
  variants: readonly Variant[];
}

function parseArgs(argv: readonly string[]): Args {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    return at < 0 ? undefined : argv[at + 1];
  };
  const count = (name: string, fallback: number, min: number) => {
    const text = value(name);
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < min || n > RUNS_MAX) {
      throw new RangeError(`${name} must be an integer in ${min}..${RUNS_MAX}, got "${text}"`);
    }
    return n;
  };
  const model = (value("--model") ?? "ssd_mobilenetv1") as ModelId;
  if (!(model in MODELS)) {
    throw new RangeError(`--model must be one of ${Object.keys(MODELS).join(", ")}, got ${model}`);
  }
  const ids = value("--variants")?.split(",");
  const picked = ids
    ? ids.map((id) => {
      const v = VARIANTS.find((x) => x.id === id);
      if (!v) throw new RangeError(`unknown variant ${id}; known: ${VARIANTS.map((x) => x.id)}`);
      return v;
    })
    : VARIANTS;
  // The baseline comes first: every difference is measured against it (an isolated child runs
  // just the one variant it was given).
  const variants = argv.includes("--isolated-child")
    ? picked
    : [VARIANTS[0], ...picked.filter((v) => v.id !== "baseline")];
  const backend = value("--backend") ?? "web";
  if (backend !== "web" && backend !== "native") {
    throw new RangeError(`--backend must be web or native, got ${backend}`);
  }
  return {
    pipeline: argv.includes("--pipeline"),
    isolated: argv.includes("--isolated"),
    isolatedChild: argv.includes("--isolated-child"),
    backend,
    threads: count("--threads", 1, 1),
    model,
    runs: count("--runs", 25, RUNS_MIN),
    warmup: count("--warmup", 10, 0),
    variants,
  };
}

async function modelBytes(model: ModelId): Promise<Uint8Array> {
  return (await loadModel(model, modelDir())).onnx;
}

let ort: Ort;
let shipped: SessionOptions = {};

/** Loads the backend's runtime; onnxruntime-web's thread count is process-wide. */
async function loadOrt(args: Args): Promise<void> {
  if (args.backend === "native") {
    ort = (await import("onnxruntime-node")) as unknown as Ort;
  } else {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = args.threads;
    ort.env.logLevel = "error";
  }
  shipped = ortSessionOptions(args.backend, args.threads);
}

/** A session with the shipped options, `options` laid over them. */
function createSession(bytes: Uint8Array, options: SessionOptions = {}) {
  return ort.InferenceSession.create(bytes, { ...shipped, ...options });
}

/** Deterministic input in the nets' normalised range. */
function input(side: number): OrtWeb.Tensor {
  const data = Float32Array.from({ length: 3 * side * side }, (_, i) => Math.sin(i * 0.37) * 0.9);
  return new ort.Tensor("float32", data, [1, 3, side, side]);
}

// ---------------------------------------------------------------------------------------------
// Profile

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  ts: number;
  args: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

/** Multiply-adds of a Conv/FusedConv/MatMul/Gemm node from its recorded shapes, else 0. */
function multiplyAdds(e: ProfileEvent): number {
  const shapes = (list?: Record<string, number[]>[]) =>
    (list ?? []).map((d) => Object.values(d)[0]);
  const [x, w] = shapes(e.args.input_type_shape);
  const [y] = shapes(e.args.output_type_shape);
  const op = e.args.op_name ?? "";
  if ((op === "Conv" || op === "FusedConv") && w && y) {
    return y.reduce((a, b) => a * b, 1) * w[1] * w[2] * w[3];
  }
  if ((op === "MatMul" || op === "Gemm" || op === "FusedMatMul") && x && y) {
    return y.reduce((a, b) => a * b, 1) * x[x.length - 1];
  }
  return 0;
}

function kindOf(e: ProfileEvent): string {
  const op = e.args.op_name ?? "?";
  if (op !== "Conv" && op !== "FusedConv") return op;
  const shapes = (e.args.input_type_shape ?? []).map((d) => Object.values(d)[0]);
  const [x, w] = shapes;
  if (w[1] === 1 && x[1] > 1) return "conv depthwise";
  return w[2] === 1 && w[3] === 1 ? "conv 1×1" : `conv ${w[2]}×${w[3]}`;
}

/**
 * Runs the model with the profiler on, in a subprocess: onnxruntime-web writes its trace
 * straight to the process's stdout, which only a parent can catch. Returns one event per node
 * with its median duration over {@linkcode PROFILED_RUNS} runs.
 */
async function profileRuns(args: Args): Promise<ProfileEvent[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--profile-child",
      "--model",
      args.model,
      "--warmup",
      `${args.warmup}`,
      "--threads",
      `${args.threads}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`profiling subprocess failed (exit ${out.code})`);
  const events: ProfileEvent[] = JSON.parse(
    text.slice(text.indexOf("["), text.lastIndexOf("]") + 1),
  );
  // One event per node: its median duration over the profiled runs after warm-up.
  const runs = events.filter((e) => e.name === "model_run").slice(-PROFILED_RUNS);
  if (runs.length < PROFILED_RUNS) throw new Error(`the profile has ${runs.length} runs`);
  const byNode = new Map<string, ProfileEvent[]>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
    if (!runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur)) continue;
    byNode.set(e.name, [...byNode.get(e.name) ?? [], e]);
  }
  return [...byNode.values()].map((list) => ({ ...list[0], dur: median(list.map((e) => e.dur)) }));
}

/** The subprocess side of {@linkcode profileRuns}. */
async function profileChild(args: Args, x: OrtWeb.Tensor): Promise<void> {
  const session = await createSession(await modelBytes(args.model), { enableProfiling: true });
  for (let i = 0; i < args.warmup + PROFILED_RUNS; i++) {
    await session.run({ [session.inputNames[0]]: x });
  }
  session.endProfiling();
  await session.release();
}

async function profile(args: Args): Promise<void> {
  const nodes = await profileRuns(args);
  const byKind = new Map<string, { us: number; macs: number; count: number }>();
  for (const e of nodes) {
    const k = byKind.get(kindOf(e)) ?? { us: 0, macs: 0, count: 0 };
    k.us += e.dur;
    k.macs += multiplyAdds(e);
    k.count++;
    byKind.set(kindOf(e), k);
  }
  const totalUs = nodes.reduce((a, e) => a + e.dur, 0);
  const totalMacs = nodes.reduce((a, e) => a + multiplyAdds(e), 0);
  console.log(
    `\nprofile of ${args.model} (per node the median wall time of ${PROFILED_RUNS} runs, after ` +
      `${args.warmup} warm-up runs): ` +
      `${(totalUs / 1000).toFixed(1)} ms, ${(totalMacs / 1e6).toFixed(0)} M multiply-adds = ` +
      `${(2 * totalMacs / 1e9).toFixed(2)} GFLOP`,
  );
  console.log("| operator | nodes | ms | share | M multiply-adds | GFLOP/s |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [kind, k] of [...byKind].sort((a, b) => b[1].us - a[1].us)) {
    const rate = k.macs ? (2 * k.macs / (k.us * 1e3)).toFixed(1) : "";
    console.log(
      `| ${kind} | ${k.count} | ${(k.us / 1000).toFixed(1)} | ${
        (100 * k.us / totalUs).toFixed(1)
      }% | ${(k.macs / 1e6).toFixed(1)} | ${rate} |`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Variants

/** The networks one recognition runs, in order (`--pipeline`). */
const PIPELINE: readonly ModelId[] = ["ssd_mobilenetv1", "face_landmark_68", "face_recognition"];

type Outputs = Record<string, OrtWeb.Tensor>;

async function compare(args: Args): Promise<void> {
  const models = args.pipeline ? PIPELINE : [args.model];
  const inputs = models.map((m) => input(MODELS[m].side));
  const bytes = await Promise.all(models.map(modelBytes));
  const variants = [];
  for (const v of args.variants) {
    const sessions: OrtWeb.InferenceSession[] = [];
    for (const b of bytes) sessions.push(await createSession(b, v.session));
    // One iteration: every network once, in order, as a recognizer does.
    const run = async (): Promise<Outputs[]> => {
      const outs = [];
      for (const [k, s] of sessions.entries()) {
        outs.push(await s.run({ [s.inputNames[0]]: inputs[k] }));
      }
      return outs;
    };
    variants.push({ v, sessions, run });
  }
  const reference = await variants[0].run();
  const diff = new Map<string, number>();
  const cpuMs = new Map<string, number[]>();
  const wallMs = new Map<string, number[]>();
  for (let i = 0; i < args.warmup + args.runs; i++) {
    for (const { v, run } of variants) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const outs = await run();
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i === 0) diff.set(v.id, maxDiff(reference, outs));
      for (const out of outs) for (const t of Object.values(out)) t.dispose();
      if (i < args.warmup) continue;
      cpuMs.set(v.id, [...cpuMs.get(v.id) ?? [], (c.user + c.system) / 1000]);
      wallMs.set(v.id, [...wallMs.get(v.id) ?? [], wall]);
    }
  }
  for (const { sessions } of variants) for (const s of sessions) await s.release();
  if (args.isolatedChild) {
    const id = args.variants.at(-1)!.id;
    console.log(
      RESULT_PREFIX + JSON.stringify({ id, cpuMs: cpuMs.get(id), wallMs: wallMs.get(id) }),
    );
    return;
  }
  report(args, models, args.variants, cpuMs, wallMs, diff);
}

/**
 * `--isolated`: each variant in its own process, in rounds (A B A B ...), so one variant's
 * threads (spinning ones, say) cannot slow another's runs. Output differences are not compared.
 */
async function compareIsolated(args: Args): Promise<void> {
  const cpuMs = new Map<string, number[]>();
  const wallMs = new Map<string, number[]>();
  const runsPerRound = Math.ceil(args.runs / ISOLATED_ROUNDS);
  for (let round = 0; round < ISOLATED_ROUNDS; round++) {
    for (const v of args.variants) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          ...Deno.args.filter((a) => a !== "--isolated").flatMap((a, i, all) =>
            a === "--runs" || a === "--variants" || all[i - 1] === "--runs" ||
              all[i - 1] === "--variants"
              ? []
              : [a]
          ),
          "--isolated-child",
          "--variants",
          v.id,
          "--runs",
          `${Math.max(RUNS_MIN, runsPerRound)}`,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const line = new TextDecoder().decode(out.stdout).split("\n")
        .find((l) => l.startsWith(RESULT_PREFIX));
      if (!out.success || !line) throw new Error(`variant ${v.id} failed (exit ${out.code})`);
      const result = JSON.parse(line.slice(RESULT_PREFIX.length));
      cpuMs.set(v.id, [...cpuMs.get(v.id) ?? [], ...result.cpuMs]);
      wallMs.set(v.id, [...wallMs.get(v.id) ?? [], ...result.wallMs]);
    }
  }
  const models = args.pipeline ? PIPELINE : [args.model];
  report(args, models, args.variants, cpuMs, wallMs, new Map());
}

function report(
  args: Args,
  models: readonly ModelId[],
  variants: readonly Variant[],
  cpuMs: Map<string, number[]>,
  wallMs: Map<string, number[]>,
  diff: Map<string, number>,
): void {
  const base = median(cpuMs.get("baseline")!);
  const baseMin = Math.min(...cpuMs.get("baseline")!);
  console.log(
    `\n${models.join(" → ")}, ${args.backend} ${args.threads} thread(s), ${args.warmup} ` +
      `warm-up + ${cpuMs.get("baseline")!.length} runs ` +
      (args.isolated ? `in ${ISOLATED_ROUNDS} rounds of one process per variant` : "interleaved") +
      `; load average ` +
      Deno.loadavg().map((l) => l.toFixed(2)).join(" "),
  );
  console.log(
    "| variant | CPU ms median | CPU ms min | wall ms median | vs baseline (median, min) " +
      "| max abs diff |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const v of variants) {
    const cpu = cpuMs.get(v.id)!;
    const m = median(cpu);
    const min = Math.min(...cpu);
    console.log(
      `| ${v.id}: ${v.what} | ${m.toFixed(1)} | ${min.toFixed(1)} | ${
        median(wallMs.get(v.id)!).toFixed(1)
      } | ${(100 * (m / base - 1)).toFixed(1)}%, ${(100 * (min / baseMin - 1)).toFixed(1)}% | ${
        diff.get(v.id)?.toExponential(1) ?? "not compared"
      } |`,
    );
  }
}

function maxDiff(a: readonly Outputs[], b: readonly Outputs[]): number {
  let d = 0;
  for (const [k, out] of a.entries()) {
    for (const [name, t] of Object.entries(out)) {
      const x = t.data as Float32Array;
      const y = b[k][name].data as Float32Array;
      for (let j = 0; j < x.length; j++) d = Math.max(d, Math.abs(x[j] - y[j]));
    }
  }
  return d;
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  await loadOrt(args);
  if (Deno.args.includes("--profile-child")) {
    await profileChild(args, input(MODELS[args.model].side));
  } else {
    // onnxruntime-node writes its trace to a file instead; the web profile is the one we need.
    if (args.backend === "web" && !args.pipeline && !args.isolatedChild) await profile(args);
    if (args.isolated) await compareIsolated(args);
    else await compare(args);
  }
}
