/**
 * Composes the service: the web tier (its app, its one response-queue consumer, a socket), the
 * controller's live loop, the dead-letter sweep, and — for `start` — the pre-created pool of
 * stopped instances. `deno task start` and `deno task serve` are thin wrappers around
 * {@linkcode startStack}; the end-to-end tests use it directly.
 * @module
 */
import {
  Controller,
  type ControllerCondition,
  type ControllerLog,
  type PolicyOptions,
} from "../controller/mod.ts";
import { CREATE_COUNT_MAX, type Fleet } from "../cloud/fleet.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import {
  createApp,
  HealthBoard,
  ResponseRouter,
  serveWeb,
  snapshotReader,
  WebMetrics,
  type WebOptions,
} from "../web/mod.ts";
import { type Backend, ensureResources, openBackend } from "./backend.ts";
import { type ServiceConfig, type ServiceNames, serviceNames } from "./config.ts";
import { answerDeadLetters } from "./dead_letters.ts";

/** One JSON log line. */
export type StackLog = (line: Readonly<Record<string, unknown>>) => void;

/** Options for {@linkcode startStack}. */
export interface StackOptions {
  /**
   * `start` pre-creates the stopped pool and, on close, stops every instance; `serve` leaves the
   * fleet as it finds it (instances outlive a web tier, as on EC2).
   */
  readonly command: "start" | "serve";
  /** Local fleet: the worker command line before the service flags. @default {defaultWorkerCommand()} */
  readonly workerCommand?: readonly string[];
  /** Web tier options over the defaults (timeouts, limits). */
  readonly web?: Partial<WebOptions>;
  /** Local fleet: how long a stopped worker gets before SIGKILL. @default {10000} */
  readonly stopGraceMs?: number;
  /** @default {JSON lines on stdout} */
  readonly log?: StackLog;
  /** Controller policy settings over the configured ones (back-off, settle times; tests). */
  readonly policy?: PolicyOptions;
}

/** A running stack. */
export interface Stack {
  /** `http://<host>:<port>` the web tier listens on. */
  readonly url: string;
  readonly config: ServiceConfig;
  readonly names: ServiceNames;
  readonly backend: Backend;
  /** What is wrong with the stack now: `/healthz`, the status page and upload refusals read it. */
  readonly health: HealthBoard;
  /**
   * Stops the controller loop and starts a new one with a fresh fleet handle and no memory, as a
   * restarted controller process would (for fault tests and operators).
   */
  restartController(): Promise<void>;
  /** Stops everything; with `start`, stops every instance and waits for the processes to exit. */
  close(): Promise<void>;
}

const consoleLog: StackLog = (line) => console.log(JSON.stringify(line));

/**
 * Starts the web tier, the controller and the dead-letter sweep against the configured backend.
 *
 * @param config validated settings (`parseServiceConfig`)
 * @param options which command, worker command line, web options, log
 * @returns the running stack
 * @throws {CloudError} when the backend refuses (data directory, names)
 * @example
 * ```ts
 * const config = parseServiceConfig("start", Deno.args);
 * const stack = await startStack(config as ServiceConfig, { command: "start" });
 * Deno.addSignalListener("SIGINT", () => stack.close());
 * ```
 */
export async function startStack(config: ServiceConfig, options: StackOptions): Promise<Stack> {
  const log = options.log ?? consoleLog;
  const names = serviceNames(config);
  const backend = await openBackend(config, {
    fleet: true,
    servesRequests: true,
    workerCommand: options.workerCommand,
    stopGraceMs: options.stopGraceMs,
  });
  const fleet = backend.fleet!;
  await ensureResources(backend, names, config);
  // Web instance 1 consumes the deployment's response queue; each extra one a queue of its own,
  // named in its request messages (replyTo), so every answer reaches the process that waits.
  const lead = config.webInstance === 1;
  const responseQueue = lead ? names.responseQueue : `${names.responseQueue}-${config.webInstance}`;
  if (!lead) await backend.queue.ensureQueue(responseQueue);
  if (options.command === "start") await ensurePool(backend, config.instancesMax, log);

  const stop = new AbortController();
  const health = new HealthBoard();
  const router = new ResponseRouter({
    queue: backend.queue,
    blobs: backend.blobs,
    clock: backend.clock,
    log: (event) => log({ component: "web", ...event }),
  }, { responseQueue, outBucket: names.outBucket });
  router.start();
  const app = createApp({
    blobs: backend.blobs,
    requestQueue: backend.queue,
    responses: router,
    clock: backend.clock,
    metrics: new WebMetrics(),
    readState: snapshotReader(fleet, backend.queue, [
      names.requestQueue,
      ...new Set([names.responseQueue, responseQueue]),
      names.deadLetterQueue,
    ]),
    log: (event) => log({ component: "web", ...event }),
    health,
  }, {
    inBucket: names.inBucket,
    requestQueue: names.requestQueue,
    ...(lead ? {} : { replyTo: responseQueue }),
    ...options.web,
  });
  let url = "";
  const server = serveWeb(app, {
    port: config.port,
    hostname: config.hostname,
    signal: stop.signal,
    onListen: (addr) => {
      const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
      url = `http://${host}:${addr.port}`;
    },
  });
  await Promise.resolve();
  url ||= `http://127.0.0.1:${server.addr.port}`;

  const controllerLog: ControllerLog = (line) => log({ component: "controller", ...line });
  /** Every fleet handle a controller used; each supervises the processes it started. */
  const handles: Fleet[] = [fleet];
  const runController = (fleetHandle: Fleet) => {
    const abort = new AbortController();
    const controller = new Controller(
      { queue: backend.queue, fleet: fleetHandle, clock: backend.clock },
      {
        requestQueue: names.requestQueue,
        policy: {
          instancesMax: config.instancesMax,
          keepAliveMs: config.keepAliveMs,
          tickMs: config.tickMs,
          ...options.policy,
        },
        log: controllerLog,
        report: (condition, nowMs) => reportController(health, condition, nowMs),
      },
    );
    const done = controller.run(abort.signal).catch((error) => {
      // A policy invariant broke: a bug. Say so loudly; the web tier keeps answering what it can.
      log({ component: "controller", event: "crashed", error: String(error) });
    });
    return { abort, done };
  };
  // One controller and one dead-letter sweep per deployment: web instance 1's.
  let controller = lead ? runController(fleet) : undefined;
  const sweep = lead ? sweepLoop(backend, names, config.tickMs, stop.signal, log) : undefined;
  log({
    component: "service",
    event: "listening",
    url,
    command: options.command,
    backend: config.backend,
    instancesMax: config.instancesMax,
    webInstance: config.webInstance,
    responseQueue,
    controller: lead,
    names,
  });

  let closing: Promise<void> | undefined;
  return {
    url,
    config,
    names,
    backend,
    health,
    async restartController() {
      if (!controller) throw new Error(`web instance ${config.webInstance} runs no controller`);
      controller.abort.abort();
      await controller.done;
      const fresh = await backend.openFleet();
      handles.push(fresh);
      controller = runController(fresh);
      log({ component: "service", event: "controller_restarted" });
    },
    close() {
      closing ??= (async () => {
        stop.abort();
        controller?.abort.abort();
        await Promise.all([server.finished, controller?.done, sweep]);
        await router.stop();
        if (options.command === "start") await stopAll(backend, handles, log);
        for (const handle of handles.slice(1)) await handle.close();
        await backend.close();
        log({ component: "service", event: "stopped" });
      })();
      return closing;
    },
  };
}

/** Puts the controller's condition on the health board (`workers_not_ready` refuses with 503). */
function reportController(
  health: HealthBoard,
  condition: ControllerCondition | null,
  nowMs: number,
): void {
  if (condition === null) return health.clear("controller");
  health.report("controller", {
    code: condition.code,
    message: condition.message,
    ...(condition.refuseUploads ? { refuseUploads: 503 as const } : {}),
  }, nowMs);
}

/**
 * Creates stopped instances until the fleet holds `size` (not counting terminated ones), so a
 * burst only has to start them.
 */
async function ensurePool(backend: Backend, size: number, log: StackLog): Promise<void> {
  const fleet = backend.fleet!;
  const live = (await fleet.describe()).filter((i) => i.state !== "terminated");
  let missing = size - live.length;
  while (missing > 0) {
    const created = await fleet.create(Math.min(missing, CREATE_COUNT_MAX));
    missing -= created.length;
  }
  log({ component: "service", event: "pool_ready", instances: Math.max(size, live.length) });
}

/** Stops every instance and, locally, waits for the worker processes to exit. */
async function stopAll(backend: Backend, handles: readonly Fleet[], log: StackLog): Promise<void> {
  const fleet = backend.fleet!;
  const live = await fleet.describe({ states: ["pending", "running"] });
  if (live.length > 0) await fleet.stop(live.map((i) => i.id));
  for (const handle of handles) if (handle instanceof LocalFleet) await handle.settled();
  // Processes no handle of ours started (a previous run's) are not our children: wait for
  // them through the shared state.
  for (let k = 0; k < 200; k++) {
    const left = await fleet.describe({ states: ["pending", "running", "stopping"] });
    if (left.length === 0) break;
    await backend.clock.sleepMs(50);
  }
  log({ component: "service", event: "instances_stopped", count: live.length });
}

async function sweepLoop(
  backend: Backend,
  names: ServiceNames,
  periodMs: number,
  signal: AbortSignal,
  log: StackLog,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await answerDeadLetters(
        backend.queue,
        names,
        (line) => log({ component: "controller", ...line }),
      );
    } catch (error) {
      log({ component: "controller", event: "dead_letter_sweep_failed", error: String(error) });
    }
    await backend.clock.sleepMs(periodMs, signal);
  }
}
