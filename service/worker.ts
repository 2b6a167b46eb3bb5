/**
 * `deno task worker`: one app-tier worker, what runs on each app instance. Loads the model once,
 * serves requests one at a time until none is pending (after `--keep-alive-ms`), then stops:
 * locally by exiting (the local fleet records the instance as stopped), on EC2 by stopping its own
 * instance, found through the instance metadata service.
 *
 * It tells the fleet when it is ready. When it cannot become ready (the models are not built, the
 * model directory or the gallery is bad, storage refuses) it says why in one line, through the
 * fleet, and exits with `EXIT_CODE_NOT_READY` (on EC2 it also stops its instance), so the
 * controller backs off and reports the reason instead of respawning it every tick.
 *
 * Settings: see `--help` (the settings of `start` a worker inherits; the local fleet and the EC2
 * boot script pass them on, `workerFlags`).
 * @module
 */
import {
  ConfigError,
  parseServiceConfig,
  type ServiceConfig,
  serviceNames,
  settingsUsage,
} from "./config.ts";
import type { InstanceReporter } from "../cloud/fleet.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { type Backend, localDatabasePath, openBackend } from "./backend.ts";
import { Recognizer } from "../model/recognizer.ts";
import { stopOwnInstance } from "../worker/instance_metadata.ts";
import { runWorker, type WorkerLog } from "../worker/worker_loop.ts";
import { workerLine } from "../protocol/worker_events.ts";
import { EXIT_CODE_NOT_READY, notReadyReason, openReadiness } from "../worker/readiness.ts";

/** The name in this worker's log lines and responses: its instance's, or its pid. */
function ownName(): string {
  return Deno.env.get("FR_INSTANCE_NAME") ?? `worker-${Deno.pid}`;
}

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
    console.log(`Usage: deno task worker [settings]\n\n${settingsUsage("worker")}`);
    return 0;
  }
  const workerName = ownName();
  const log: WorkerLog = (event) => console.log(JSON.stringify(workerLine(workerName, event)));
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
  let backend: Backend | undefined;
  let reporter: InstanceReporter | undefined;
  let loaded: Awaited<ReturnType<typeof loadRecognizer>>;
  const modelStartMs = sinceProcessStartMs();
  try {
    reporter = localReadiness(config);
    backend = await openBackend(config, { fleet: config.backend === "aws", launches: false });
    reporter ??= ec2Readiness(config, backend);
    loaded = await loadRecognizer(config, log);
    await loaded.recognizer.warmUp();
  } catch (error) {
    const reason = notReadyReason(error);
    log({ event: "not_ready", reason, exitCode: EXIT_CODE_NOT_READY });
    try {
      await reporter?.notReady(reason);
    } catch (reportError) {
      // The exit code still says "not ready" to a local fleet; on EC2 nothing else can.
      log({ event: "not_ready_unreported", error: String(reportError) });
    }
    await reporter?.close();
    await backend?.close().catch(() => {});
    return EXIT_CODE_NOT_READY;
  }
  const { recognizer, modelBackend } = loaded;
  try {
    await reporter?.ready();
  } catch (error) {
    log({ event: "ready_unreported", error: String(error) });
  }
  await reporter?.close();
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

/** A local fleet's worker (it has `FR_INSTANCE_ID`) reports into the fleet's database. */
function localReadiness(config: ServiceConfig): InstanceReporter | undefined {
  const instanceId = Deno.env.get("FR_INSTANCE_ID");
  if (config.backend !== "local" || instanceId === undefined) return undefined;
  return LocalFleet.reporter(localDatabasePath(config), instanceId);
}

/** An EC2 worker tags its own instance, found through the metadata service. */
function ec2Readiness(config: ServiceConfig, backend: Backend): InstanceReporter | undefined {
  if (config.backend !== "aws" || backend.fleet?.markWorker === undefined) return undefined;
  return openReadiness({
    fleet: backend.fleet,
    metadata: { baseUrl: config.imdsUrl },
    nowMs: () => backend.clock.nowMs(),
  });
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
    detector: config.detector,
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
    const e = error as Error & { code?: unknown; path?: unknown };
    console.log(JSON.stringify(workerLine(ownName(), {
      event: "failed",
      error: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`,
      ...(typeof e?.code === "string" ? { code: e.code } : {}),
      ...(typeof e?.path === "string" ? { path: e.path } : {}),
    })));
    return 1;
  }
}

if (import.meta.main) Deno.exit(await mainOrReport());
