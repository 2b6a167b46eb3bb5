/**
 * One simulated run: a workload's requests flow through upload → request queue (SQS model) →
 * a worker on an instance (fleet model, one request at a time) → response, while a scaling policy
 * observes the queue and the fleet every tick and starts, launches and stops instances.
 *
 * Everything random is drawn from the run's seed: arrivals from per-term streams, and each
 * request's upload/service/response time and each instance's boot/stop time keyed by the thing
 * they belong to (see rng.ts), so different policies on one seed face the same world.
 * @module
 */
import { instanceName } from "../cloud/fleet.ts";
import type {
  ApplyOutcome,
  InstanceView,
  Observation,
  ScalingDecision,
} from "../controller/mod.ts";
import type { SimConfig } from "./config.ts";
import { durationAt, type DurationDistribution, lognormalFromMedianP95 } from "./distributions.ts";
import { Engine, type Outcome, SimInvariantError } from "./engine.ts";
import {
  EXIT_CRASHED,
  EXIT_KINDS,
  EXIT_NOT_READY,
  EXIT_STOPPED,
  Fleet,
  PENDING,
  RUNNING,
  STATE_NAMES,
  STOPPED,
  STOPPING,
} from "./fleet.ts";
import { createPolicy, type PolicyName, type PolicyRunner } from "./policies.ts";
import {
  MSG_DELETED,
  MSG_IN_FLIGHT,
  MSG_UPLOADING,
  MSG_VISIBLE,
  RequestQueue,
} from "./request_queue.ts";
import { deriveSeed, Prng } from "./rng.ts";
import { Timeline } from "./timeline.ts";
import {
  type ArrivalSource,
  arrivalSources,
  expectedRequests,
  type Workload,
} from "./workloads.ts";

/** The sub-seeds of a run, printed at start so a run can be replayed and explained. */
export interface Seeds {
  readonly seed: number;
  readonly service: number;
  readonly upload: number;
  readonly response: number;
  readonly start: number;
  readonly launch: number;
  readonly stop: number;
  readonly faults: number;
  /** Workload terms use `deriveSeed(seed, "workload/<i>")`. */
  readonly workload0: number;
}

/**
 * Derives every sub-seed of a run.
 *
 * @param seed The run's seed.
 * @returns The sub-seeds by consumer.
 */
export function seedsOf(seed: number): Seeds {
  return {
    seed,
    service: deriveSeed(seed, "service"),
    upload: deriveSeed(seed, "upload"),
    response: deriveSeed(seed, "response"),
    start: deriveSeed(seed, "start"),
    launch: deriveSeed(seed, "launch"),
    stop: deriveSeed(seed, "stop"),
    faults: deriveSeed(seed, "faults"),
    workload0: deriveSeed(seed, "workload/0"),
  };
}

/** The fitted distributions of a config. */
export interface Distributions {
  readonly service: DurationDistribution;
  readonly upload: DurationDistribution;
  readonly response: DurationDistribution;
  readonly start: DurationDistribution;
  readonly launch: DurationDistribution;
  readonly stop: DurationDistribution;
}

/**
 * Fits every duration distribution of a config.
 *
 * @param c A validated config.
 * @returns The distributions.
 */
export function distributionsOf(c: SimConfig): Distributions {
  return {
    service: lognormalFromMedianP95("serviceMs", c.serviceMsMedian, c.serviceMsP95),
    upload: lognormalFromMedianP95("uploadMs", c.uploadMsMedian, c.uploadMsP95),
    response: lognormalFromMedianP95("responseMs", c.responseMsMedian, c.responseMsP95),
    start: lognormalFromMedianP95("startMs", c.startMsMedian, c.startMsP95),
    launch: lognormalFromMedianP95("launchMs", c.launchMsMedian, c.launchMsP95),
    stop: lognormalFromMedianP95("stopMs", c.stopMsMedian, c.stopMsP95),
  };
}

/** Per-request durations, by request id. */
export interface RequestDraws {
  readonly uploadMs: Float32Array;
  readonly serviceMs: Float32Array;
  readonly responseMs: Float32Array;
}

/** Counters of what happened. */
export interface SimCounts {
  requests: number;
  completed: number;
  /** Boots from the stopped state. */
  starts: number;
  /** Boots of new instances. */
  launches: number;
  /** Stops the policy asked for. */
  stops: number;
  /** Workers that stopped their own instance after keep-alive. */
  selfStops: number;
  crashes: number;
  /** Boots whose worker could not become ready (`notReadyUntilMs`). */
  notReadyExits: number;
  /** Messages that reappeared after their visibility timeout. */
  redeliveries: number;
  /** Messages moved to the dead-letter queue after maxReceives receives. */
  deadLettered: number;
  /** Of those, requests never answered (their clients get an error). */
  deadLetteredUnanswered: number;
  /** Services of a request already answered (after a redelivery). */
  duplicateServices: number;
  /** Stops of an instance that was serving a request (must stay 0). */
  busyStops: number;
  /** Decisions the fleet could not apply (start of a non-stopped instance, ...). */
  actionsIgnored: number;
  /** Ticks at which slots (pending + running + stopping) exceeded instancesMax (must stay 0). */
  slotsOverMax: number;
  /** Peak of pending + running. */
  instancesPeak: number;
  /** Peak of running. */
  runningPeak: number;
  /** Peak of pending + running + stopping. */
  slotsPeak: number;
}

/** Everything a run produced; {@linkcode buildReport} turns it into the report. */
export interface SimResult {
  readonly config: SimConfig;
  readonly workload: string;
  readonly policy: PolicyName;
  readonly seeds: Seeds;
  readonly outcome: Outcome;
  readonly counts: Readonly<SimCounts>;
  /** Arrival time of each request, by id (ascending). */
  readonly arrivalsMs: Float64Array;
  /** Each request's upload, service and response time, by id. */
  readonly draws: RequestDraws;
  /** Latencies of completed requests, ascending. */
  readonly latenciesMs: Float64Array;
  readonly firstArrivalMs: number;
  /** When the last answer reached its client. */
  readonly lastCompletionMs: number;
  /** When the last service ended in a worker. */
  readonly lastServiceEndMs: number;
  /** When pending + running last became 0 (null if not 0 at the end). */
  readonly zeroAtMs: number | null;
  /** Milliseconds per state, indexed like STATE_NAMES. */
  readonly msInState: Float64Array;
  readonly busyMs: number;
  readonly timeline: Timeline;
  readonly events: number;
  readonly endMs: number;
}

/** Options for {@linkcode simulate}. */
export interface SimulateOptions {
  /** Which policy. @default "controller" */
  readonly policy?: PolicyName;
  /** Called with the policy's log at every tick that decided something. */
  readonly onDecision?: (log: unknown) => void;
}

/** The reason a simulated worker gives while `notReadyUntilMs` lasts. */
const NOT_READY_REASON = "the model is not there yet (simulated: notReadyUntilMs)";

const EV_ARRIVAL = 1;
const EV_VISIBLE = 2;
const EV_READY = 3;
const EV_SERVICE_END = 4;
const EV_STOPPED = 5;
const EV_IDLE_END = 6;
const EV_VIS_EXPIRE = 7;
const EV_TICK = 8;
const EV_SAMPLE = 9;
const EV_CRASH = 10;

/**
 * Runs one simulation.
 *
 * @param config A validated config (see resolveSimConfig).
 * @param workload A parsed workload.
 * @param options Policy and decision-log hook.
 * @returns The run's result.
 * @throws {RangeError} when the workload expects more than requestsMax requests.
 * @throws {SimInvariantError} when a model invariant breaks (a bug, never an input problem).
 * @example
 * ```ts
 * const result = simulate(resolveSimConfig({ seed: 7 }), parseWorkload("burst:100", readFile));
 * ```
 */
export function simulate(
  config: SimConfig,
  workload: Workload,
  options: SimulateOptions = {},
): SimResult {
  const expected = expectedRequests(workload);
  if (expected > config.requestsMax) {
    throw new RangeError(
      `workload "${workload.spec}" expects about ${
        Math.round(expected)
      } requests, more than requestsMax ${config.requestsMax}; raise requestsMax or shorten the workload`,
    );
  }
  const policy = createPolicy(options.policy ?? "controller", config);
  // Room for the expected count plus six standard deviations of a Poisson count, so the request
  // arrays rarely grow (each growth copies them all).
  const capacity = Math.min(
    config.requestsMax,
    Math.ceil(expected + 6 * Math.sqrt(expected)) + 1024,
  );
  return new Simulation(config, workload, policy, capacity, options.onDecision).run();
}

class Simulation {
  readonly c: SimConfig;
  readonly workload: Workload;
  readonly policy: PolicyRunner;
  readonly onDecision?: (log: unknown) => void;
  readonly seeds: Seeds;
  readonly d: Distributions;
  readonly engine: Engine;
  readonly queue: RequestQueue;
  readonly fleet: Fleet;
  readonly timeline: Timeline;
  readonly sources: ArrivalSource[];
  readonly faultRng: Prng;
  readonly keepAliveMs: number;
  readonly selfStop: boolean;

  // Requests, by id. Each request's durations are drawn once, at arrival, and kept (as float32:
  // far below a microsecond off) for the sim and for the oracle.
  arrivalMs: Float64Array;
  uploadMs: Float32Array;
  serviceMs: Float32Array;
  responseMs: Float32Array;
  msg: Uint8Array;
  receipts: Int32Array;
  answered: Uint8Array;
  latencies: Float64Array;

  readonly counts: SimCounts = {
    requests: 0,
    completed: 0,
    starts: 0,
    launches: 0,
    stops: 0,
    selfStops: 0,
    crashes: 0,
    notReadyExits: 0,
    redeliveries: 0,
    deadLettered: 0,
    deadLetteredUnanswered: 0,
    duplicateServices: 0,
    busyStops: 0,
    actionsIgnored: 0,
    slotsOverMax: 0,
    instancesPeak: 0,
    runningPeak: 0,
    slotsPeak: 0,
  };
  sourcesLeft: number;
  uploading = 0;
  /** Messages not yet deleted (uploading, visible or in flight). */
  messagesLive = 0;
  waiters: number[] = [];
  firstArrivalMs = Infinity;
  lastCompletionMs = -Infinity;
  lastServiceEndMs = -Infinity;
  lastProgressMs = 0;
  zeroAtMs: number | null = 0;
  completionsSinceSample = 0;
  /** What became of the last tick's decisions, for the next observation (as the live loop). */
  applied: ApplyOutcome | undefined;

  constructor(
    config: SimConfig,
    workload: Workload,
    policy: PolicyRunner,
    requestsCapacity: number,
    onDecision?: (log: unknown) => void,
  ) {
    const n = requestsCapacity;
    this.arrivalMs = new Float64Array(n);
    this.uploadMs = new Float32Array(n);
    this.serviceMs = new Float32Array(n);
    this.responseMs = new Float32Array(n);
    this.msg = new Uint8Array(n);
    this.receipts = new Int32Array(n);
    this.answered = new Uint8Array(n);
    this.latencies = new Float64Array(n);
    this.c = config;
    this.workload = workload;
    this.policy = policy;
    this.onDecision = onDecision;
    this.seeds = seedsOf(config.seed);
    this.d = distributionsOf(config);
    this.engine = new Engine({
      timeMaxMs: config.timeMaxMs,
      eventsMax: config.eventsMax,
      eventsPendingMax: config.eventsPendingMax,
    });
    this.queue = new RequestQueue(config.requestsMax, config.countLagMs);
    this.fleet = new Fleet(config.instancesMax);
    this.timeline = new Timeline(config.sampleMs, config.timelineSamplesMax);
    this.sources = arrivalSources(workload, config.seed);
    this.sourcesLeft = this.sources.length;
    this.faultRng = new Prng(this.seeds.faults);
    this.keepAliveMs = policy.keepAliveMs;
    this.selfStop = policy.workerSelfStop;
  }

  run(): SimResult {
    const e = this.engine;
    for (let k = 0; k < this.c.instancesPool; k++) {
      this.fleet.create(instanceName(k + 1), false, 0);
    }
    for (let s = 0; s < this.sources.length; s++) {
      const t = this.sources[s].next();
      if (t < Infinity) e.schedule(t, EV_ARRIVAL, s, 0);
      else this.sourcesLeft--;
    }
    e.schedule(0, EV_TICK, 0, 0);
    e.schedule(0, EV_SAMPLE, 0, 0);
    if (this.c.crashesPerInstanceHour > 0 && this.c.faultsUntilMs > 0) this.scheduleCrash();
    const outcome = e.run((kind, a, b) => this.handle(kind, a, b), {
      done: () => this.done(),
      describePending: () => this.describePending(),
    });
    const endMs = e.nowMs;
    this.fleet.settle(endMs);
    this.sample(endMs);
    const n = this.counts.completed;
    const latencies = this.latencies.slice(0, n).sort();
    return {
      config: this.c,
      workload: this.workload.spec,
      policy: this.policy.name,
      seeds: this.seeds,
      outcome,
      counts: { ...this.counts },
      arrivalsMs: this.arrivalMs.slice(0, this.counts.requests),
      draws: {
        uploadMs: this.uploadMs.slice(0, this.counts.requests),
        serviceMs: this.serviceMs.slice(0, this.counts.requests),
        responseMs: this.responseMs.slice(0, this.counts.requests),
      },
      latenciesMs: latencies,
      firstArrivalMs: this.firstArrivalMs,
      lastCompletionMs: this.lastCompletionMs,
      lastServiceEndMs: this.lastServiceEndMs,
      zeroAtMs: this.serving() === 0 ? this.zeroAtMs : null,
      msInState: this.fleet.msInState.slice(),
      busyMs: this.fleet.busyMs,
      timeline: this.timeline,
      events: e.events,
      endMs,
    };
  }

  handle(kind: number, a: number, b: number): void {
    switch (kind) {
      case EV_ARRIVAL:
        return this.onArrival(a);
      case EV_VISIBLE:
        return this.onVisible(a);
      case EV_SERVICE_END:
        if (this.fleet.gen[a] === b) this.onServiceEnd(a);
        return;
      case EV_READY:
        if (this.fleet.gen[a] === b) this.onReady(a);
        return;
      case EV_STOPPED:
        if (this.fleet.gen[a] === b) {
          this.move(a, STOPPED);
          this.recordExit(a, EXIT_STOPPED);
        }
        return;
      case EV_IDLE_END:
        if (this.fleet.gen[a] === b && this.fleet.waiting[a] === 1) {
          this.counts.selfStops++;
          this.stop(a);
        }
        return;
      case EV_VIS_EXPIRE:
        return this.onVisibilityExpired(a, b);
      case EV_TICK:
        return this.onTick();
      case EV_SAMPLE:
        this.sample(this.engine.nowMs);
        this.engine.schedule(this.engine.nowMs + this.timeline.periodMs, EV_SAMPLE, 0, 0);
        return;
      case EV_CRASH:
        return this.onCrash();
      default:
        throw new SimInvariantError(`unknown event kind ${kind}`);
    }
  }

  // ---- requests and the queue

  onArrival(source: number): void {
    const now = this.engine.nowMs;
    const id = this.counts.requests;
    if (id >= this.c.requestsMax) {
      throw new RangeError(
        `more than requestsMax ${this.c.requestsMax} requests arrived; raise requestsMax`,
      );
    }
    if (id === this.arrivalMs.length) this.growRequests();
    this.counts.requests++;
    this.arrivalMs[id] = now;
    this.msg[id] = MSG_UPLOADING;
    if (now < this.firstArrivalMs) this.firstArrivalMs = now;
    this.uploading++;
    this.messagesLive++;
    const uploadMs = this.uploadMs[id] = durationAt(this.d.upload, this.seeds.upload, id, 0);
    this.serviceMs[id] = durationAt(this.d.service, this.seeds.service, id, 0);
    this.responseMs[id] = durationAt(this.d.response, this.seeds.response, id, 0);
    this.engine.schedule(now + uploadMs, EV_VISIBLE, id, 0);
    const next = this.sources[source].next();
    if (next < Infinity) this.engine.schedule(next, EV_ARRIVAL, source, 0);
    else this.sourcesLeft--;
  }

  onVisible(id: number): void {
    this.uploading--;
    this.lastProgressMs = this.engine.nowMs;
    this.offer(id);
  }

  /** A message becomes visible: a long-polling worker takes it at once, else it queues. */
  offer(id: number): void {
    const f = this.fleet;
    this.msg[id] = MSG_VISIBLE;
    while (this.waiters.length > 0) {
      const k = this.waiters.shift()!;
      if (f.waiting[k] === 1 && f.state[k] === RUNNING) {
        this.deliver(k, id);
        this.queue.record(this.engine.nowMs);
        return;
      }
    }
    this.queue.pushVisible(id);
    this.queue.record(this.engine.nowMs);
  }

  deliver(k: number, id: number): void {
    const now = this.engine.nowMs;
    const f = this.fleet;
    this.msg[id] = MSG_IN_FLIGHT;
    const receipt = ++this.receipts[id];
    this.queue.inFlight++;
    f.request[k] = id;
    f.receipt[k] = receipt;
    f.receivedAtMs[k] = now;
    f.waiting[k] = 0;
    f.gen[k]++;
    f.busy++;
    this.lastProgressMs = now;
    // A redelivered request is the same image: the same service time.
    const serviceMs = this.serviceMs[id];
    this.engine.schedule(now + serviceMs, EV_SERVICE_END, k, f.gen[k]);
    if (!this.c.workerHeartbeat && serviceMs >= this.c.visibilityTimeoutMs) {
      this.engine.schedule(now + this.c.visibilityTimeoutMs, EV_VIS_EXPIRE, id, receipt);
    }
  }

  onServiceEnd(k: number): void {
    const now = this.engine.nowMs;
    const f = this.fleet;
    const id = f.request[k];
    f.busyMs += now - f.receivedAtMs[k];
    f.busy--;
    f.request[k] = -1;
    this.lastServiceEndMs = now;
    this.lastProgressMs = now;
    if (this.answered[id] === 0) {
      this.answered[id] = 1;
      const answeredAt = now + this.responseMs[id];
      this.latencies[this.counts.completed++] = answeredAt - this.arrivalMs[id];
      if (answeredAt > this.lastCompletionMs) this.lastCompletionMs = answeredAt;
      this.completionsSinceSample++;
    } else {
      this.counts.duplicateServices++;
    }
    // The delete succeeds only with the current receipt (SQS: a stale receipt handle fails).
    if (this.msg[id] === MSG_IN_FLIGHT && this.receipts[id] === f.receipt[k]) {
      this.msg[id] = MSG_DELETED;
      this.queue.inFlight--;
      this.messagesLive--;
      this.queue.record(now);
    }
    this.receive(k);
  }

  onVisibilityExpired(id: number, receipt: number): void {
    if (this.msg[id] !== MSG_IN_FLIGHT || this.receipts[id] !== receipt) return;
    this.queue.inFlight--;
    if (this.receipts[id] >= this.c.maxReceives) {
      // SQS's redrive policy: the message leaves for the dead-letter queue instead of reappearing.
      this.msg[id] = MSG_DELETED;
      this.messagesLive--;
      this.counts.deadLettered++;
      if (this.answered[id] === 0) this.counts.deadLetteredUnanswered++;
      this.queue.record(this.engine.nowMs);
      return;
    }
    this.counts.redeliveries++;
    this.offer(id);
  }

  /** The worker's loop: take a visible message, or long-poll, or stop itself. */
  receive(k: number): void {
    if (this.queue.visible > 0) {
      this.deliver(k, this.queue.popVisible());
      this.queue.record(this.engine.nowMs);
    } else if (this.selfStop && this.keepAliveMs === 0) {
      this.counts.selfStops++;
      this.stop(k);
    } else {
      this.fleet.waiting[k] = 1;
      this.waiters.push(k);
      if (this.selfStop) {
        this.engine.schedule(
          this.engine.nowMs + this.keepAliveMs,
          EV_IDLE_END,
          k,
          this.fleet.gen[k],
        );
      }
    }
  }

  // ---- the fleet

  move(k: number, to: number): void {
    const f = this.fleet;
    const now = this.engine.nowMs;
    f.transition(k, to, now);
    this.lastProgressMs = now;
    const serving = this.serving();
    if (serving === 0) {
      if (this.zeroAtMs === null) this.zeroAtMs = now;
    } else this.zeroAtMs = null;
    const running = f.inState[RUNNING];
    const slots = serving + f.inState[STOPPING];
    if (serving > this.counts.instancesPeak) this.counts.instancesPeak = serving;
    if (running > this.counts.runningPeak) this.counts.runningPeak = running;
    if (slots > this.counts.slotsPeak) this.counts.slotsPeak = slots;
  }

  serving(): number {
    return this.fleet.inState[PENDING] + this.fleet.inState[RUNNING];
  }

  boot(k: number): void {
    const f = this.fleet;
    const firstBootOfLaunch = f.launched[k] === 1 && f.boots[k] === 0;
    const dist = firstBootOfLaunch ? this.d.launch : this.d.start;
    const seed = firstBootOfLaunch ? this.seeds.launch : this.seeds.start;
    const bootMs = durationAt(dist, seed, k, f.boots[k]);
    f.boots[k]++;
    f.startedAtMs[k] = this.engine.nowMs;
    f.readyAtMs[k] = NaN;
    this.move(k, PENDING);
    this.engine.schedule(this.engine.nowMs + bootMs, EV_READY, k, f.gen[k]);
  }

  onReady(k: number): void {
    if (this.engine.nowMs < this.c.notReadyUntilMs) {
      // The worker cannot load its model: it says so and its instance stops at once.
      this.counts.notReadyExits++;
      this.move(k, STOPPED);
      this.recordExit(k, EXIT_NOT_READY);
      return;
    }
    this.fleet.readyAtMs[k] = this.engine.nowMs;
    this.move(k, RUNNING);
    this.receive(k);
  }

  recordExit(k: number, kind: number): void {
    this.fleet.exitAtMs[k] = this.engine.nowMs;
    this.fleet.exitKind[k] = kind;
  }

  /** Stops a pending or running instance; a request it holds stays in flight until it expires. */
  stop(k: number): void {
    const f = this.fleet;
    this.abandonRequest(k);
    const stopMs = durationAt(this.d.stop, this.seeds.stop, k, f.stops[k]);
    f.stops[k]++;
    this.move(k, STOPPING);
    this.engine.schedule(this.engine.nowMs + stopMs, EV_STOPPED, k, f.gen[k]);
  }

  abandonRequest(k: number): void {
    const f = this.fleet;
    const id = f.request[k];
    if (id < 0) return;
    const now = this.engine.nowMs;
    f.busyMs += now - f.receivedAtMs[k];
    f.busy--;
    f.request[k] = -1;
    const expiresAt = Math.max(now, f.receivedAtMs[k] + this.c.visibilityTimeoutMs);
    this.engine.schedule(expiresAt, EV_VIS_EXPIRE, id, f.receipt[k]);
  }

  scheduleCrash(): void {
    const ratePerMs = (this.c.crashesPerInstanceHour * this.c.instancesMax) / 3_600_000;
    const at = this.engine.nowMs + this.faultRng.nextExponentialMs(ratePerMs);
    if (at < this.c.faultsUntilMs) this.engine.schedule(at, EV_CRASH, 0, 0);
  }

  /** A crash candidate hits a uniformly chosen slot; only a running instance dies. */
  onCrash(): void {
    const k = Math.floor(this.faultRng.nextUniform() * this.c.instancesMax);
    if (k < this.fleet.count && this.fleet.state[k] === RUNNING) {
      this.counts.crashes++;
      this.abandonRequest(k);
      this.move(k, STOPPED);
      this.recordExit(k, EXIT_CRASHED);
    }
    this.scheduleCrash();
  }

  // ---- the controller

  onTick(): void {
    const now = this.engine.nowMs;
    const seen = this.queue.observe(now);
    const observation: Observation = {
      nowMs: now,
      queue: { visible: seen.visible, inFlight: seen.inFlight, delayed: this.queue.delayed },
      instances: this.instanceViews(),
      applied: this.applied,
    };
    const { decisions, log } = this.policy.step(observation);
    this.applied = undefined;
    if (decisions.length > 0) {
      this.onDecision?.(log);
      const failed: string[] = [];
      const renamed: { from: string; to: string }[] = [];
      for (const d of decisions) {
        const name = this.apply(d);
        if (name === null) failed.push(d.name);
        else if (name !== d.name) renamed.push({ from: d.name, to: name });
      }
      if (failed.length + renamed.length > 0) {
        this.applied = { decidedAtMs: now, failed, renamed };
      }
    }
    const f = this.fleet;
    if (this.serving() + f.inState[STOPPING] > this.c.instancesMax) this.counts.slotsOverMax++;
    this.checkStall(now);
    this.engine.schedule(now + this.policy.tickMs, EV_TICK, 0, 0);
  }

  instanceViews(): InstanceView[] {
    const f = this.fleet;
    const views: InstanceView[] = new Array(f.count);
    for (let k = 0; k < f.count; k++) {
      const state = f.state[k];
      const view: { -readonly [K in keyof InstanceView]: InstanceView[K] } = {
        id: f.ids[k],
        name: f.names[k],
        state: STATE_NAMES[state],
        stateChangedAtMs: f.changedAtMs[k],
        busy: state === RUNNING || state === PENDING ? f.request[k] >= 0 : false,
      };
      if (!Number.isNaN(f.startedAtMs[k])) view.lastStartedAtMs = f.startedAtMs[k];
      if (!Number.isNaN(f.readyAtMs[k])) view.readyAtMs = f.readyAtMs[k];
      if (!Number.isNaN(f.exitAtMs[k])) {
        view.lastExit = {
          atMs: f.exitAtMs[k],
          kind: EXIT_KINDS[f.exitKind[k]],
          ...(f.exitKind[k] === EXIT_NOT_READY ? { reason: NOT_READY_REASON } : {}),
        };
      }
      views[k] = view;
    }
    return views;
  }

  /**
   * Applies one decision as the fleet would.
   * @returns the name the fleet acted on (a launch is named like the fleet port names it: after
   *   the highest number), or null when the fleet refused it (a start of a non-stopped instance…)
   */
  apply(d: ScalingDecision): string | null {
    const f = this.fleet;
    if (d.action === "launch") {
      let top = 0;
      for (let j = 0; j < f.count; j++) if (f.nameIndex[j] > top) top = f.nameIndex[j];
      const k = f.create(instanceName(top + 1), true, this.engine.nowMs);
      this.counts.launches++;
      this.boot(k);
      return f.names[k];
    }
    const k = f.slotOf(d.id);
    if (k < 0) {
      this.counts.actionsIgnored++;
      return null;
    }
    if (d.action === "start") {
      if (f.state[k] !== STOPPED) {
        this.counts.actionsIgnored++;
        return null;
      }
      this.counts.starts++;
      this.boot(k);
    } else {
      if (f.state[k] !== PENDING && f.state[k] !== RUNNING) {
        this.counts.actionsIgnored++;
        return null;
      }
      if (f.request[k] >= 0) this.counts.busyStops++;
      this.counts.stops++;
      this.stop(k);
    }
    return d.name;
  }

  checkStall(now: number): void {
    const f = this.fleet;
    const stuck = this.messagesLive > 0 && this.uploading === 0 && f.busy === 0 &&
      f.inState[PENDING] === 0;
    if (stuck && now - this.lastProgressMs > this.c.stallMsMax) {
      this.engine.halt({
        kind: "deadlock",
        reason: `no progress for ${
          now - this.lastProgressMs
        } ms (stallMsMax ${this.c.stallMsMax}) while ${this.describePending()}`,
      });
    }
  }

  // ---- progress

  done(): boolean {
    if (this.sourcesLeft > 0 || this.messagesLive > 0) return false;
    const f = this.fleet;
    if (f.inState[STOPPING] === 0 && this.serving() <= this.c.instancesMin && f.busy === 0) {
      return true;
    }
    return this.engine.nowMs - this.lastCompletionMs >= this.c.quiesceMsMax;
  }

  describePending(): string {
    const f = this.fleet;
    return `${this.messagesLive} requests pending (${this.queue.visible} visible, ${this.queue.inFlight} in flight, ${this.uploading} uploading), instances: ${
      f.inState[PENDING]
    } pending, ${f.inState[RUNNING]} running, ${f.inState[STOPPING]} stopping, ${
      f.inState[STOPPED]
    } stopped`;
  }

  sample(now: number): void {
    const f = this.fleet;
    this.timeline.add(now, [
      this.queue.visible,
      this.queue.inFlight,
      f.inState[PENDING],
      f.busy,
      f.inState[RUNNING] - f.busy,
      f.inState[STOPPING],
      this.completionsSinceSample,
    ]);
    this.completionsSinceSample = 0;
  }

  growRequests(): void {
    const n = Math.min(this.arrivalMs.length * 2, this.c.requestsMax);
    const grow = <T extends Float64Array | Float32Array | Uint8Array | Int32Array>(
      old: T,
      fresh: T,
    ): T => {
      fresh.set(old as never);
      return fresh;
    };
    this.arrivalMs = grow(this.arrivalMs, new Float64Array(n));
    this.msg = grow(this.msg, new Uint8Array(n));
    this.receipts = grow(this.receipts, new Int32Array(n));
    this.answered = grow(this.answered, new Uint8Array(n));
    this.latencies = grow(this.latencies, new Float64Array(n));
    this.uploadMs = grow(this.uploadMs, new Float32Array(n));
    this.serviceMs = grow(this.serviceMs, new Float32Array(n));
    this.responseMs = grow(this.responseMs, new Float32Array(n));
  }
}
