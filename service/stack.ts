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
  controllerLine,
  type ControllerLog,
  type ControllerObservation,
  type PolicyOptions,
} from "../controller/mod.ts";
import { CREATE_COUNT_MAX, type Fleet } from "../cloud/fleet.ts";
import {
  createApp,
  Dashboard,
  HealthBoard,
  RequestLedger,
  ResponseRouter,
  serveWeb,
  snapshotReader,
  WebMetrics,
  type WebOptions,
} from "../web/mod.ts";
import { ensureModels } from "../model/build.ts";
import { modelDir } from "../model/model_store.ts";
import { type Backend, ensureResources, type FleetBackend, openBackend } from "./backend.ts";
import { type ServiceConfig, type ServiceNames, serviceNames } from "./config.ts";
import { answerDeadLetters } from "./dead_letters.ts";
import { StorageMonitor, type StorageMonitorOptions } from "./storage_monitor.ts";
import { serviceLine, type StackLine } from "./log_events.ts";
import { dashboardDecision, readDashboardAbout } from "./dashboard_feed.ts";

/**
 * One JSON log line: the controller's are typed (`controller/log_events.ts`); the service's, the
 * web tier's and the storage monitor's are plain records.
 */
export type StackLog = (line: StackLine) => void;

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
  /**
   * Embedded backend: when the data directory counts as full (uploads then get 507), over
   * `config.diskFreeBytesMin`.
   */
  readonly storage?: StorageMonitorOptions;
  /** Controller policy settings over the configured ones (back-off, settle times; tests). */
  readonly policy?: PolicyOptions;
  /** Tests: wraps the opened backend (to count its fleet and queue calls). @default {none} */
  readonly wrapBackend?: (backend: FleetBackend) => FleetBackend;
}

/** How long the web server may take to finish after the drain ended (answers are being sent). */
export const CLOSE_GRACE_MS = 5_000;

/** A running stack. */
export interface Stack {
  /** `http://<host>:<port>` the web tier is bound to (`0.0.0.0` when it listens everywhere). */
  readonly url: string;
  /** A URL to reach it from this machine (`127.0.0.1` for a wildcard bind). */
  readonly localUrl: string;
  readonly config: ServiceConfig;
  readonly names: ServiceNames;
  readonly backend: FleetBackend;
  /** What is wrong with the stack now: `/healthz`, the status page and upload refusals read it. */
  readonly health: HealthBoard;
  /**
   * Stops the controller loop and starts a new one with a fresh fleet handle and no memory, as a
   * restarted controller process would (for fault tests and operators).
   */
  restartController(): Promise<void>;
  /**
   * Stops gracefully: refuses new connections and uploads at once, gives clients waiting for
   * answers `config.drainMs` to get them (workers and the controller keep working meanwhile),
   * answers the rest 503 with their request ids, then stops the controller and, with `start`,
   * every instance, and waits for the processes to exit.
   */
  close(): Promise<void>;
  /** Ends a running drain now (a second Ctrl-C): the clients still waiting get 503 at once. */
  endDrain(): void;
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
  const opened = await openBackend(config, {
    fleet: true,
    servesRequests: true,
    workerCommand: options.workerCommand,
    stopGraceMs: options.stopGraceMs,
  });
  const backend = options.wrapBackend?.(opened) ?? opened;
  const fleet = backend.fleet;
  await ensureResources(backend, names, config);
  // Web instance 1 consumes the deployment's response queue; each extra one a queue of its own,
  // named in its request messages (replyTo), so every answer reaches the process that waits.
  const lead = config.webInstance === 1;
  const responseQueue = lead ? names.responseQueue : `${names.responseQueue}-${config.webInstance}`;
  if (!lead) await backend.queue.ensureQueue(responseQueue);
  const health = new HealthBoard();
  if (config.backend === "local") await prepareLocalWorkers(log);
  if (config.gallery === undefined) {
    const message = "no gallery: every face is labelled Unknown. Enroll people with " +
      "`deno task enroll --gallery data/faces.gallery …` (or pass --gallery FILE) and restart";
    log(serviceLine({ event: "no_gallery", message }));
    health.report("gallery", { code: "no_gallery", message }, backend.clock.nowMs());
  }
  if (options.command === "start") await ensurePool(backend, config.instancesMax, log);

  /** Stops the web server accepting connections, and the app new uploads: the drain begins. */
  const stop = new AbortController();
  /** The drain is over: the app answers what still waits 503. */
  const drainOver = new AbortController();
  /** After the drain: the controller loop and the dead-letter sweep. */
  const halt = new AbortController();
  // Request state (id → pending / error answer) outlives this process: a restart still knows
  // every accepted id. Ids are UUIDv7, so the ledger prunes oldest first.
  const ledger = new RequestLedger({
    records: await backend.openRecords(names.requestsBucket),
    clock: backend.clock,
  });
  const router = new ResponseRouter({
    queue: backend.queue,
    blobs: backend.blobs,
    clock: backend.clock,
    log: (event) => log({ component: "web", ...event }),
    ledger,
  }, { responseQueue, outBucket: names.outBucket });
  router.start();
  const readState = snapshotReader(fleet, backend.queue, [
    names.requestQueue,
    ...new Set([names.responseQueue, responseQueue]),
    names.deadLetterQueue,
  ]);
  const dashboard = new Dashboard({
    requestQueue: names.requestQueue,
    deadLetterQueue: names.deadLetterQueue,
    about: await readDashboardAbout(config),
  });
  const app = createApp({
    blobs: backend.blobs,
    requestQueue: backend.queue,
    responses: router,
    clock: backend.clock,
    metrics: new WebMetrics(),
    readState,
    dashboard,
    log: (event) => log({ component: "web", ...event }),
    health,
    draining: stop.signal,
    shutdown: drainOver.signal,
    newId: () => ledger.newId(),
  }, {
    inBucket: names.inBucket,
    requestQueue: names.requestQueue,
    ...(lead ? {} : { replyTo: responseQueue }),
    uploadsPerClientMax: config.uploadsPerClientMax,
    ...(config.apiToken === undefined ? {} : { apiToken: config.apiToken }),
    ...options.web,
  });
  const server = serveWeb(app, {
    port: config.port,
    hostname: config.hostname,
    signal: stop.signal,
  });
  // The address really bound (what the log says must be the truth: 0.0.0.0 is reachable from
  // other machines, 127.0.0.1 is not), and one to reach it from here.
  const url = httpUrl(server.addr.hostname, server.addr.port);
  const localUrl = WILDCARDS.has(server.addr.hostname)
    ? httpUrl("127.0.0.1", server.addr.port)
    : url;

  const controllerLog: ControllerLog = (event) => {
    log(controllerLine(event));
    if (event.event === "dead_letter") dashboard.recordDeadLetter();
    const decision = dashboardDecision(event, backend.clock.nowMs());
    if (decision) dashboard.recordDecision(decision);
    // A tick that could not read the state: a point without it, as a failed read of the sampler.
    const nowMs = backend.clock.nowMs();
    if (event.event === "tick_failed" && dashboard.due(nowMs)) dashboard.observe(undefined, nowMs);
  };
  // The charts' points: where the controller runs, from what its ticks read anyway (no fleet or
  // queue call of the dashboard's own: they cost AWS requests); elsewhere, the dashboard's
  // sampler, which reads only while a page has polled within DASHBOARD_VIEWED_MS.
  const controllerObserve = ({ nowMs, queue, instances }: ControllerObservation) => {
    if (!dashboard.due(nowMs)) return;
    dashboard.observe({ instances, queues: [{ queue: names.requestQueue, counts: queue }] }, nowMs);
  };
  const sampling = lead ? undefined : dashboard.run(readState, backend.clock, halt.signal);
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
        observe: controllerObserve,
        report: (condition, nowMs) => reportController(health, condition, nowMs),
      },
    );
    const done = controller.run(abort.signal).catch((error) => {
      // A policy invariant broke: a bug. Say so loudly; the web tier keeps answering what it can.
      controllerLog({ event: "crashed", error: String(error) });
    });
    return { abort, done };
  };
  // One controller and one dead-letter sweep per deployment: web instance 1's.
  let controller = lead ? runController(fleet) : undefined;
  const sweep = lead
    ? sweepLoop(backend, names, config.tickMs, halt.signal, controllerLog)
    : undefined;
  const { diskSpace } = backend;
  const storage = diskSpace && new StorageMonitor({
    diskSpace,
    health,
    clock: backend.clock,
    log: (line) => log({ component: "storage", dataDir: config.dataDir, ...line }),
  }, { diskFreeBytesMin: config.diskFreeBytesMin, ...options.storage }).run(halt.signal);
  log(serviceLine({
    event: "listening",
    url,
    ...(localUrl === url ? {} : { localUrl }),
    apiToken: config.apiToken === undefined ? "none" : "required",
    command: options.command,
    backend: config.backend,
    instancesMax: config.instancesMax,
    webInstance: config.webInstance,
    responseQueue,
    controller: lead,
    names,
  }));

  let closing: Promise<void> | undefined;
  return {
    url,
    localUrl,
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
      log(serviceLine({ event: "controller_restarted" }));
    },
    endDrain() {
      drainOver.abort();
    },
    close() {
      closing ??= (async () => {
        const clock = backend.clock;
        log(serviceLine({ event: "draining", drainMs: config.drainMs }));
        // No new connections; uploads that still arrive on open ones get 503 with Retry-After;
        // open requests go on.
        stop.abort();
        const serverDone = new AbortController();
        server.finished.then(() => serverDone.abort());
        await clock.sleepMs(config.drainMs, AbortSignal.any([serverDone.signal, drainOver.signal]));
        const drained = serverDone.signal.aborted;
        if (!drained) {
          drainOver.abort();
          await clock.sleepMs(CLOSE_GRACE_MS, serverDone.signal);
        }
        log(serviceLine(
          drained ? { event: "drained" } : {
            event: "drain_ended",
            note: "clients still waiting were answered 503 with their ids",
          },
        ));
        // Only now: the workers and the controller served the waiting clients until here.
        halt.abort();
        controller?.abort.abort();
        await Promise.all([controller?.done, sweep, storage, sampling]);
        await router.stop();
        if (options.command === "start") await stopAll(backend, handles, log);
        for (const handle of handles.slice(1)) await handle.close();
        await backend.close();
        log(serviceLine({ event: "stopped" }));
      })();
      return closing;
    },
  };
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]"]);

function httpUrl(hostname: string, port: number): string {
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * Builds the models once, here, before any local worker starts: on a fresh clone the pool would
 * otherwise start with every worker waiting on the build lock. A failure is logged, not thrown:
 * the workers then fail to become ready with the reason, and the controller reports it.
 */
async function prepareLocalWorkers(log: StackLog): Promise<void> {
  try {
    await ensureModels(modelDir(), {
      log: (line) => log(serviceLine({ event: "model_build", message: line })),
    });
  } catch (error) {
    log(serviceLine({ event: "model_build_failed", error: String(error) }));
  }
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
async function ensurePool(backend: FleetBackend, size: number, log: StackLog): Promise<void> {
  const { fleet } = backend;
  const live = (await fleet.describe()).filter((i) => i.state !== "terminated");
  let missing = size - live.length;
  while (missing > 0) {
    const created = await fleet.create(Math.min(missing, CREATE_COUNT_MAX));
    missing -= created.length;
  }
  log(serviceLine({ event: "pool_ready", instances: Math.max(size, live.length) }));
}

/** Stops every instance and waits for the stops, and the runs our handles started, to end. */
async function stopAll(
  backend: FleetBackend,
  handles: readonly Fleet[],
  log: StackLog,
): Promise<void> {
  const { fleet } = backend;
  const live = await fleet.describe({ states: ["pending", "running"] });
  if (live.length > 0) await fleet.stop(live.map((i) => i.id));
  for (const handle of handles) {
    await handle.settled().catch((error) => {
      log(serviceLine({ event: "instances_not_settled", error: String(error) }));
    });
  }
  // Instances already stopping that no handle of ours stopped (a previous run began it): wait
  // for them through the shared state.
  for (let k = 0; k < 200; k++) {
    const left = await fleet.describe({ states: ["pending", "running", "stopping"] });
    if (left.length === 0) break;
    await backend.clock.sleepMs(50);
  }
  log(serviceLine({ event: "instances_stopped", count: live.length }));
}

async function sweepLoop(
  backend: Backend,
  names: ServiceNames,
  periodMs: number,
  signal: AbortSignal,
  log: ControllerLog,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await answerDeadLetters(backend.queue, names, log);
    } catch (error) {
      log({ event: "dead_letter_sweep_failed", error: String(error) });
    }
    await backend.clock.sleepMs(periodMs, signal);
  }
}
