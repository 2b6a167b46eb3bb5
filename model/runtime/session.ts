/**
 * One interface over the two ONNX runtimes we ship: onnxruntime-web (WASM; the default, runs
 * anywhere Deno does) and onnxruntime-node (native CPU kernels; faster, needs `--allow-ffi`).
 * Both run the very same .onnx files.
 * @module
 */
import type * as OrtCommon from "onnxruntime-web";
import { runtimeFileUrl } from "../runtime_files.ts";

/** Which onnxruntime runs the model. */
export type Backend = "web" | "native";

/** The backends, for validating user input. */
export const BACKENDS: readonly Backend[] = ["web", "native"];

/** Options for {@linkcode createSession}. */
export interface SessionOptions {
  /** @default {"web"} */
  backend?: Backend;
  /**
   * Intra-op threads. For the web backend this is process-wide and fixed by the first session.
   * @default {1}
   */
  threads?: number;
  /**
   * Let idle intra-op threads spin-wait for the next task (native backend, `threads` > 1;
   * onnxruntime-web ignores it). Off by default: every session owns its own pool, and a
   * recognizer alternates four sessions, so each pool's spinning threads steal the cores the
   * next session's threads need. Measured, SSD → landmarks → descriptor in sequence, native,
   * 2 threads, 2 cores: 284–291 ms wall with spinning, 122–188 ms without; a single session run
   * back to back is the one case where spinning wins (recognition net 4.3 vs 6.1 ms).
   * @default {false}
   */
  spinWait?: boolean;
}

/** A dense float32 tensor. */
export interface Tensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** A loaded model ready to run. */
export interface Session {
  readonly backend: Backend;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; outputs are copied out, so they stay valid after the next run. */
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

/** Upper bound on intra-op threads we accept; more only adds contention on any machine we target. */
export const THREADS_MAX = 64;

type Ort = typeof OrtCommon;
let webThreads: number | undefined;

async function loadOrt(backend: Backend, threads: number): Promise<Ort> {
  if (backend === "native") {
    return (await import("onnxruntime-node")) as unknown as Ort;
  }
  const ort = await import("onnxruntime-web");
  if (webThreads === undefined) {
    webThreads = threads;
    ort.env.wasm.numThreads = threads;
    // Named explicitly: onnxruntime-web looks beside its own module by default, which in a
    // bundled program is the bundle's folder, not node_modules.
    ort.env.wasm.wasmPaths = {
      mjs: runtimeFileUrl("ortLoader").href,
      wasm: runtimeFileUrl("ortWasm").href,
    };
    ort.env.logLevel = "error";
  } else if (webThreads !== threads) {
    throw new RangeError(
      `onnxruntime-web threads are process-wide: already ${webThreads}, asked for ${threads}`,
    );
  }
  return ort;
}

/**
 * The onnxruntime session options {@linkcode createSession} uses (exported so benchmarks measure
 * exactly what ships).
 *
 * @param backend which runtime
 * @param threads intra-op threads (already validated)
 * @param spinWait see {@linkcode SessionOptions.spinWait}
 * @returns options for `InferenceSession.create`
 */
export function ortSessionOptions(
  backend: Backend,
  threads: number,
  spinWait = false,
): OrtCommon.InferenceSession.SessionOptions {
  if (backend === "web") {
    // Threads are set process-wide through ort.env.wasm.numThreads.
    return { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  }
  return {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    ...(threads > 1 && !spinWait
      ? { extra: { session: { intra_op: { allow_spinning: "0" } } } }
      : {}),
  };
}

/**
 * Creates an inference session from ONNX bytes.
 *
 * @param model the .onnx file's bytes
 * @param options backend, threads, spin-waiting
 * @returns a session
 * @throws {RangeError} for a bad thread count or backend
 *
 * @example
 * ```ts
 * const session = await createSession(await Deno.readFile("m.onnx"), { backend: "web" });
 * const out = await session.run({ x: { data: new Float32Array(4), dims: [1, 4] } });
 * ```
 */
export async function createSession(
  model: Uint8Array,
  options: SessionOptions = {},
): Promise<Session> {
  const backend = options.backend ?? "web";
  const threads = options.threads ?? 1;
  if (!BACKENDS.includes(backend)) {
    throw new RangeError(`Unknown backend "${backend}": expected one of ${BACKENDS.join(", ")}`);
  }
  if (!Number.isInteger(threads) || threads < 1 || threads > THREADS_MAX) {
    throw new RangeError(`threads must be an integer in 1..${THREADS_MAX}, got ${threads}`);
  }
  const ort = await loadOrt(backend, threads);
  const session = await ort.InferenceSession.create(
    model,
    ortSessionOptions(backend, threads, options.spinWait),
  );
  return {
    backend,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const ortFeeds: Record<string, OrtCommon.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        ortFeeds[name] = new ort.Tensor("float32", t.data, [...t.dims]);
      }
      const results = await session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(results)) {
        out[name] = { data: new Float32Array(t.data as Float32Array), dims: [...t.dims] };
        t.dispose();
      }
      return out;
    },
    release: () => session.release(),
  };
}
