/**
 * `deno run -A model/ort_web_bench.ts [--model ID] [--backend web|native] [--threads N]
 * [--runs N] [--warmup N] [--variants a,b]`: where onnxruntime-web's time goes on one of our
 * networks, and what candidate speed-ups buy.
 *
 * 1. Profile: one session with onnxruntime's profiler on; per operator kind (pointwise,
 *    depthwise and other convolutions, the rest), its share of the time, its multiply-adds
 *    (from the shapes the profiler records) and the GFLOP/s it achieves.
 * 2. Variants: sessions of the same network with different session options, run interleaved
 *    on the same input in one process (so load drifts hit them alike), with CPU-time median and
 *    minimum per run and the largest output difference from the baseline. One thread by
 *    default, as the web target.
 *
 * The machine this was written on is shared and loaded; compare variants within one run only,
 * and trust a difference only when the median and the minimum agree on it.
 * @module
 */
import process from "node:process";
import type * as OrtWeb from "onnxruntime-web";
import { loadModel, modelDir } from "./model_store.ts";

/** Fewer runs than this make a median of noise on a loaded machine. */
const RUNS_MIN = 15;
const RUNS_MAX = 1000;

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
    what: "session.intra_op.allow_spinning = 0 (threads > 1 only)",
    session: { extra: { session: { intra_op: { allow_spinning: "0" } } } },
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
  // The baseline comes first: every difference is measured against it.
  const variants = [VARIANTS[0], ...picked.filter((v) => v.id !== "baseline")];
  const backend = value("--backend") ?? "web";
  if (backend !== "web" && backend !== "native") {
    throw new RangeError(`--backend must be web or native, got ${backend}`);
  }
  return {
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
let sessionDefaults: SessionOptions = {};

/** Loads the backend's runtime; onnxruntime-web's thread count is process-wide. */
async function loadOrt(args: Args): Promise<void> {
  if (args.backend === "native") {
    ort = (await import("onnxruntime-node")) as unknown as Ort;
    sessionDefaults = {
      executionProviders: ["cpu"],
      intraOpNumThreads: args.threads,
      interOpNumThreads: 1,
    };
  } else {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = args.threads;
    ort.env.logLevel = "error";
    sessionDefaults = { executionProviders: ["wasm"] };
  }
}

function createSession(bytes: Uint8Array, options: SessionOptions = {}) {
  return ort.InferenceSession.create(bytes, {
    ...sessionDefaults,
    graphOptimizationLevel: "all",
    ...options,
  });
}

/** Deterministic input in the nets' normalised range. */
function input(side: number): OrtWeb.Tensor {
  const data = Float32Array.from({ length: 3 * side * side }, (_, i) => Math.sin(i * 0.37) * 0.9);
  return new ort.Tensor("float32", data, [1, 3, side, side]);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
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
 * straight to the process's stdout, which only a parent can catch. Returns the node events of
 * the last run.
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
  const lastRun = events.filter((e) => e.name === "model_run").at(-1);
  if (!lastRun) throw new Error("the profile has no model_run event");
  return events.filter((e) =>
    e.cat === "Node" && e.name.endsWith("_kernel_time") && e.ts >= lastRun.ts &&
    e.ts <= lastRun.ts + lastRun.dur
  );
}

/** The subprocess side of {@linkcode profileRuns}. */
async function profileChild(args: Args, x: OrtWeb.Tensor): Promise<void> {
  const session = await createSession(await modelBytes(args.model), { enableProfiling: true });
  for (let i = 0; i <= args.warmup; i++) await session.run({ [session.inputNames[0]]: x });
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
    `\nprofile of one ${args.model} run (wall time per node, after ${args.warmup} runs): ` +
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

async function compare(args: Args, x: OrtWeb.Tensor): Promise<void> {
  const sessions = [];
  const bytes = await modelBytes(args.model);
  for (const v of args.variants) sessions.push({ v, s: await createSession(bytes, v.session) });
  const feeds = (s: OrtWeb.InferenceSession) => ({ [s.inputNames[0]]: x });
  const reference = await sessions[0].s.run(feeds(sessions[0].s));
  const diff = new Map<string, number>();
  const cpuMs = new Map<string, number[]>();
  const wallMs = new Map<string, number[]>();
  for (let i = 0; i < args.warmup + args.runs; i++) {
    for (const { v, s } of sessions) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = await s.run(feeds(s));
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i === 0) {
        let d = 0;
        for (const [name, t] of Object.entries(reference)) {
          const a = t.data as Float32Array;
          const b = out[name].data as Float32Array;
          for (let j = 0; j < a.length; j++) d = Math.max(d, Math.abs(a[j] - b[j]));
        }
        diff.set(v.id, d);
      }
      for (const t of Object.values(out)) t.dispose();
      if (i < args.warmup) continue;
      cpuMs.set(v.id, [...cpuMs.get(v.id) ?? [], (c.user + c.system) / 1000]);
      wallMs.set(v.id, [...wallMs.get(v.id) ?? [], wall]);
    }
  }
  const base = median(cpuMs.get("baseline")!);
  const baseMin = Math.min(...cpuMs.get("baseline")!);
  console.log(
    `\n${args.model}, ${args.backend} ${args.threads} thread(s), ${args.warmup} warm-up + ` +
      `${args.runs} runs ` +
      `interleaved; load average ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );
  console.log(
    "| variant | CPU ms median | CPU ms min | wall ms median | vs baseline (median, min) " +
      "| max abs diff |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const { v } of sessions) {
    const cpu = cpuMs.get(v.id)!;
    const m = median(cpu);
    const min = Math.min(...cpu);
    console.log(
      `| ${v.id}: ${v.what} | ${m.toFixed(1)} | ${min.toFixed(1)} | ${
        median(wallMs.get(v.id)!).toFixed(1)
      } | ${(100 * (m / base - 1)).toFixed(1)}%, ${(100 * (min / baseMin - 1)).toFixed(1)}% | ${
        diff.get(v.id)!.toExponential(1)
      } |`,
    );
  }
  for (const { s } of sessions) await s.release();
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  await loadOrt(args);
  const x = input(MODELS[args.model].side);
  if (Deno.args.includes("--profile-child")) {
    await profileChild(args, x);
  } else {
    // onnxruntime-node writes its trace to a file instead; the web profile is the one we need.
    if (args.backend === "web") await profile(args);
    await compare(args, x);
  }
}
