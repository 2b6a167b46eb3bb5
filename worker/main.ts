/**
 * `deno task worker`: one app-tier worker, what runs on each app instance. Loads the model once,
 * serves requests one at a time until none is pending (after `--keep-alive-ms`), then stops:
 * locally by exiting (the local fleet records the instance as stopped), on EC2 by stopping its own
 * instance, found through the instance metadata service.
 *
 * Settings: see `--help` (the same flags as `deno task start`; the local fleet passes them on).
 * @module
 */
import {
  ConfigError,
  parseServiceConfig,
  type ServiceConfig,
  serviceNames,
  USAGE,
} from "../service/config.ts";
import { openBackend } from "../service/backend.ts";
import { Recognizer } from "../model/recognizer.ts";
import { stopOwnInstance } from "./instance_metadata.ts";
import { runWorker, type WorkerLog } from "./worker_loop.ts";

/** Process start → model loaded, the figure to watch on a small machine. */
function sinceProcessStartMs(): number {
  // performance.now() counts from this process's time origin, i.e. its start.
  return Math.round(performance.now());
}

async function main(): Promise<number> {
  let config;
  try {
    config = parseServiceConfig("worker", Deno.args);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`worker: ${error.message}`);
    return 2;
  }
  if (config === "help") {
    console.log(`Usage: deno task worker [settings]\n\n${USAGE}`);
    return 0;
  }
  const workerName = Deno.env.get("FR_INSTANCE_NAME") ?? `worker-${Deno.pid}`;
  const log: WorkerLog = (line) =>
    console.log(JSON.stringify({ component: "worker", worker: workerName, ...line }));
  // The first SIGTERM/SIGINT finishes the request in hand (its client may be waiting through a
  // web tier's drain) and takes no more; a second releases it at once for another worker. The
  // local fleet's SIGKILL after its stop grace bounds both.
  const stopReceiving = new AbortController();
  const abort = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      if (stopReceiving.signal.aborted) abort.abort();
      else stopReceiving.abort();
    });
  }

  const names = serviceNames(config);
  const backend = await openBackend(config, { fleet: config.backend === "aws", launches: false });
  const modelStartMs = sinceProcessStartMs();
  const { recognizer, modelBackend } = await loadRecognizer(config, log);
  await recognizer.warmUp();
  log({ event: "ready", modelBackend, importMs: modelStartMs, readyMs: sinceProcessStartMs() });
  let report;
  try {
    report = await runWorker({
      queue: backend.queue,
      blobs: backend.blobs,
      clock: backend.clock,
      recognize: (bytes) => recognizer.recognize(bytes),
    }, {
      routes: names,
      workerName,
      keepAliveMs: config.keepAliveMs,
      visibilityTimeoutMs: config.visibilityTimeoutMs,
      signal: abort.signal,
      stopReceiving: stopReceiving.signal,
      log,
    });
  } finally {
    await recognizer.close();
  }
  log({ event: "stopping", ...report });
  if (report.reason === "idle" && backend.fleet !== undefined) {
    // On EC2 an idle worker stops the whole instance (the specification's "stops as soon as no
    // request is pending"); the instance's boot runs the worker again when it is started.
    const id = await stopOwnInstance(backend.fleet, { baseUrl: config.imdsUrl });
    log({ event: "instance_stopped", instanceId: id });
  }
  await backend.close();
  return 0;
}

/** Loads the model once; `auto` tries the native runtime first and falls back to WASM. */
async function loadRecognizer(
  config: ServiceConfig,
  log: WorkerLog,
): Promise<{ recognizer: Recognizer; modelBackend: "web" | "native" }> {
  const options = {
    threads: config.threads,
    galleryPath: config.gallery,
    threshold: config.threshold,
  };
  if (config.modelBackend !== "auto") {
    const backend = config.modelBackend;
    return { recognizer: await Recognizer.load({ ...options, backend }), modelBackend: backend };
  }
  try {
    // Only the addon's loading decides; model or gallery errors must surface as themselves.
    await import("onnxruntime-node");
  } catch (error) {
    // No prebuilt addon for this platform, or it failed to load: the WASM build runs anywhere.
    log({ event: "native_unavailable", error: String(error) });
    return {
      recognizer: await Recognizer.load({ ...options, backend: "web" }),
      modelBackend: "web",
    };
  }
  return {
    recognizer: await Recognizer.load({ ...options, backend: "native" }),
    modelBackend: "native",
  };
}

/**
 * Runs {@linkcode main}; an error it could not handle (a data directory it cannot open, a queue
 * that does not exist) ends the process with one JSON line and exit code 1, never an uncaught
 * error. The fleet records the exit and the controller starts the instance again when needed.
 */
async function mainOrReport(): Promise<number> {
  try {
    return await main();
  } catch (error) {
    const e = error as Error & { code?: string; path?: string };
    console.log(JSON.stringify({
      component: "worker",
      worker: Deno.env.get("FR_INSTANCE_NAME") ?? `worker-${Deno.pid}`,
      event: "failed",
      error: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`,
      ...(typeof e?.code === "string" ? { code: e.code } : {}),
      ...(typeof e?.path === "string" ? { path: e.path } : {}),
    }));
    return 1;
  }
}

if (import.meta.main) Deno.exit(await mainOrReport());
