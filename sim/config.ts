/**
 * The simulator's settings: every model parameter, named with its unit, defaulted per profile, and
 * validated once. Where each default comes from is in docs/simulator.md.
 *
 * Two profiles:
 * - `aws` (default): the course's shape — EC2 app instances (at most 15, a stopped pool of 15),
 *   SQS, S3 — with boot times from published EC2 measurements.
 * - `local`: the embedded stack of `deno task start` — worker processes on this 2-core machine,
 *   SQLite queues with exact counts, files for blobs.
 * @module
 */

/** Every simulator setting. */
export interface SimConfig {
  /** The run's seed; everything random derives from it. @default 1 */
  readonly seed: number;

  /** Most instances at once (pending + running + stopping). @default 15 (aws), 2 (local) */
  readonly instancesMax: number;
  /** Instances kept serving when idle (the policy's minimum). @default 0 */
  readonly instancesMin: number;
  /** Instances pre-created in the stopped state. @default = instancesMax */
  readonly instancesPool: number;
  /**
   * Start-from-stopped until the worker is ready, median; in `local`, until it serves at its warm
   * speed (its first images' extra time is part of the boot). @default 20000 (aws), 2665 (local)
   */
  readonly startMsMedian: number;
  /** Start-from-stopped until the worker is ready, 95th percentile. @default 30000 (aws), 2923 (local) */
  readonly startMsP95: number;
  /** Cold launch until the worker is ready, median. @default 30000 (aws), 2665 (local) */
  readonly launchMsMedian: number;
  /** Cold launch until the worker is ready, 95th percentile. @default 45000 (aws), 2923 (local) */
  readonly launchMsP95: number;
  /** Stopping until stopped, median. @default 15000 (aws), 50 (local) */
  readonly stopMsMedian: number;
  /** Stopping until stopped, 95th percentile. @default 40000 (aws), 200 (local) */
  readonly stopMsP95: number;

  /** One request's service time in a worker, median (aws: a placeholder, see docs). @default 550 (aws), 76 (local) */
  readonly serviceMsMedian: number;
  /** One request's service time in a worker, 95th percentile. @default 730 (aws), 94 (local) */
  readonly serviceMsP95: number;
  /** Client upload until the request message is in the queue, median. @default 80 (aws), 190 (local) */
  readonly uploadMsMedian: number;
  /** Upload, 95th percentile. @default 200 (aws), 243 (local) */
  readonly uploadMsP95: number;
  /** Worker's response until the client has it (response queue), median. @default 30 (aws), 1 (local) */
  readonly responseMsMedian: number;
  /** Response, 95th percentile. @default 100 (aws), 7 (local) */
  readonly responseMsP95: number;

  /** A received message reappears if not deleted (or extended) within this. @default 10000 (the service's) */
  readonly visibilityTimeoutMs: number;
  /**
   * Receives after which an expiring message goes to the dead-letter queue (SQS redrive policy's
   * maxReceiveCount; the service's --receive-count-max) instead of reappearing. @default 3
   */
  readonly maxReceives: number;
  /** Queue counts the controller sees are this old. @default 1000 (aws), 0 (local) */
  readonly countLagMs: number;

  /** Idle time before an instance is stopped (worker self-stop and policy). @default 0 */
  readonly keepAliveMs: number;
  /**
   * Whether a worker extends its message's visibility while serving (the service's worker does),
   * so only a dead worker's message reappears; without it a service longer than the visibility
   * timeout is redelivered. @default true
   */
  readonly workerHeartbeat: boolean;
  /** Whether a worker stops its own instance after keepAliveMs without a request. @default true */
  readonly workerSelfStop: boolean;
  /** Controller tick. @default 1000 */
  readonly tickMs: number;

  /** Keep-alive of the `keep-alive` policy variant. @default 10000 */
  readonly keepAliveVariantMs: number;
  /** KEDA: target backlog per instance (`queueLength`). @default 5 (KEDA's default) */
  readonly kedaQueueLength: number;
  /** KEDA: backlog above which it scales from zero (`activationQueueLength`). @default 0 */
  readonly kedaActivationQueueLength: number;
  /** KEDA: how often it polls the queue (`pollingInterval`). @default 30000 */
  readonly kedaPollingMs: number;
  /** KEDA: idle time before scaling to zero (`cooldownPeriod`). @default 300000 */
  readonly kedaCooldownMs: number;
  /** HPA's scale-down stabilisation window, which KEDA uses above zero. @default 300000 */
  readonly kedaStabilizationMs: number;
  /** Target tracking: backlog per instance to hold; 0 = AWS's recipe, sloMs / serviceMsMedian. @default 0 */
  readonly ttTargetBacklogPerInstance: number;
  /** Target tracking: the CloudWatch metric period. @default 60000 */
  readonly ttPeriodMs: number;
  /** Target tracking: periods above target before scaling out. @default 3 */
  readonly ttScaleOutPeriods: number;
  /** Target tracking: periods below target before scaling in. @default 15 */
  readonly ttScaleInPeriods: number;

  /** Instance crashes per instance-hour of running while faults last. @default 0 */
  readonly crashesPerInstanceHour: number;
  /** Faults stop at this simulated time. @default 0 */
  readonly faultsUntilMs: number;
  /**
   * Until this simulated time every worker fails to become ready (a model not yet built, a bad
   * model directory) and its instance stops at the end of its boot with a `not_ready` exit. @default 0
   */
  readonly notReadyUntilMs: number;

  /** Latency target for the SLO-violation share. @default 10000 */
  readonly sloMs: number;
  /** Timeline sampling period (doubles when the timeline is full). @default 1000 */
  readonly sampleMs: number;
  /** Timeline samples kept; past this, neighbours merge. @default 2048 */
  readonly timelineSamplesMax: number;

  /** Simulated time at which a run is cut off. @default 604800000 (7 days) */
  readonly timeMaxMs: number;
  /** Events at which a run is cut off. @default 1000000000 */
  readonly eventsMax: number;
  /** Events pending at once. @default 10000000 */
  readonly eventsPendingMax: number;
  /** Requests in one run. @default 50000000 */
  readonly requestsMax: number;
  /** With requests pending and nothing booting or busy, this long without progress is a deadlock. @default 600000 */
  readonly stallMsMax: number;
  /** After the last request completes, wait at most this for the fleet to reach its minimum. @default 3600000 */
  readonly quiesceMsMax: number;
}

/** A named set of defaults. */
export type ProfileName = "aws" | "local";

/** Every profile's name. */
export const PROFILES: readonly ProfileName[] = ["aws", "local"];

const COMMON = {
  seed: 1,
  instancesMin: 0,
  serviceMsMedian: 550,
  serviceMsP95: 730,
  visibilityTimeoutMs: 10_000,
  maxReceives: 3,
  keepAliveMs: 0,
  workerSelfStop: true,
  workerHeartbeat: true,
  tickMs: 1000,
  keepAliveVariantMs: 10_000,
  kedaQueueLength: 5,
  kedaActivationQueueLength: 0,
  kedaPollingMs: 30_000,
  kedaCooldownMs: 300_000,
  kedaStabilizationMs: 300_000,
  ttTargetBacklogPerInstance: 0,
  ttPeriodMs: 60_000,
  ttScaleOutPeriods: 3,
  ttScaleInPeriods: 15,
  crashesPerInstanceHour: 0,
  faultsUntilMs: 0,
  notReadyUntilMs: 0,
  sloMs: 10_000,
  sampleMs: 1000,
  timelineSamplesMax: 2048,
  timeMaxMs: 7 * 86_400_000,
  eventsMax: 1_000_000_000,
  eventsPendingMax: 10_000_000,
  requestsMax: 50_000_000,
  stallMsMax: 600_000,
  quiesceMsMax: 3_600_000,
};

/** Defaults per profile (instancesPool follows instancesMax unless set). */
export const PROFILE_DEFAULTS: Readonly<Record<ProfileName, Omit<SimConfig, "instancesPool">>> = {
  aws: {
    ...COMMON,
    instancesMax: 15,
    startMsMedian: 20_000,
    startMsP95: 30_000,
    launchMsMedian: 30_000,
    launchMsP95: 45_000,
    stopMsMedian: 15_000,
    stopMsP95: 40_000,
    uploadMsMedian: 80,
    uploadMsP95: 200,
    responseMsMedian: 30,
    responseMsP95: 100,
    countLagMs: 1000,
  },
  // Measured on the embedded stack (`deno task start --max 2`, this 2-core machine) by
  // bench/validate_sim.ts: three 100-image bursts, fitted by sim/validate.ts (docs/simulator.md).
  local: {
    ...COMMON,
    instancesMax: 2,
    startMsMedian: 2665,
    startMsP95: 2923,
    launchMsMedian: 2665,
    launchMsP95: 2923,
    stopMsMedian: 50,
    stopMsP95: 200,
    serviceMsMedian: 76,
    serviceMsP95: 94,
    uploadMsMedian: 190,
    uploadMsP95: 243,
    responseMsMedian: 1,
    responseMsP95: 7,
    countLagMs: 0,
  },
};

/** Settings as given; any may be left out. */
export type SimOptions = Partial<SimConfig>;

/** Every setting's name, in a stable order (reports list config in this order). */
export const SIM_KEYS: readonly (keyof SimConfig)[] = [
  "seed",
  "instancesMax",
  "instancesMin",
  "instancesPool",
  "startMsMedian",
  "startMsP95",
  "launchMsMedian",
  "launchMsP95",
  "stopMsMedian",
  "stopMsP95",
  "serviceMsMedian",
  "serviceMsP95",
  "uploadMsMedian",
  "uploadMsP95",
  "responseMsMedian",
  "responseMsP95",
  "visibilityTimeoutMs",
  "maxReceives",
  "countLagMs",
  "keepAliveMs",
  "workerSelfStop",
  "workerHeartbeat",
  "tickMs",
  "keepAliveVariantMs",
  "kedaQueueLength",
  "kedaActivationQueueLength",
  "kedaPollingMs",
  "kedaCooldownMs",
  "kedaStabilizationMs",
  "ttTargetBacklogPerInstance",
  "ttPeriodMs",
  "ttScaleOutPeriods",
  "ttScaleInPeriods",
  "crashesPerInstanceHour",
  "faultsUntilMs",
  "notReadyUntilMs",
  "sloMs",
  "sampleMs",
  "timelineSamplesMax",
  "timeMaxMs",
  "eventsMax",
  "eventsPendingMax",
  "requestsMax",
  "stallMsMax",
  "quiesceMsMax",
];

/** Settings that take whole numbers. */
export const INTEGER_KEYS: ReadonlySet<keyof SimConfig> = new Set<keyof SimConfig>([
  "seed",
  "instancesMax",
  "instancesMin",
  "instancesPool",
  "maxReceives",
  "kedaQueueLength",
  "kedaActivationQueueLength",
  "ttScaleOutPeriods",
  "ttScaleInPeriods",
  "timelineSamplesMax",
  "eventsMax",
  "eventsPendingMax",
  "requestsMax",
]);

/** Settings that are booleans; every other setting is a number. */
export const BOOLEAN_KEYS: ReadonlySet<keyof SimConfig> = new Set([
  "workerSelfStop",
  "workerHeartbeat",
]);

const DAY_MS = 86_400_000;

/** Accepted range per numeric setting: [min, max]. */
const RANGES: Partial<Record<keyof SimConfig, readonly [number, number]>> = {
  seed: [0, 0xffffffff],
  instancesMax: [1, 10_000],
  maxReceives: [1, 1_000_000],
  tickMs: [1, 3_600_000],
  sampleMs: [1, DAY_MS],
  timelineSamplesMax: [16, 1_000_000],
  kedaQueueLength: [1, 1_000_000],
  kedaActivationQueueLength: [0, 1_000_000],
  kedaPollingMs: [1, 3_600_000],
  ttPeriodMs: [1, 3_600_000],
  ttScaleOutPeriods: [1, 1000],
  ttScaleInPeriods: [1, 1000],
  ttTargetBacklogPerInstance: [0, 1_000_000],
  crashesPerInstanceHour: [0, 3600],
  eventsMax: [1, 1e12],
  eventsPendingMax: [16, 1e9],
  requestsMax: [1, 1e9],
  timeMaxMs: [1, 365 * DAY_MS],
};

/**
 * Fills defaults from a profile, then validates every setting once.
 *
 * @param options Settings to override.
 * @param profile Which defaults. @default "aws"
 * @returns A frozen, validated config.
 * @throws {RangeError} naming the setting, its value and what is accepted.
 * @example
 * ```ts
 * const config = resolveSimConfig({ seed: 7, startMsMedian: 40_000, startMsP95: 60_000 });
 * ```
 */
export function resolveSimConfig(
  options: SimOptions = {},
  profile: ProfileName = "aws",
): SimConfig {
  const base = PROFILE_DEFAULTS[profile];
  if (base === undefined) {
    throw new RangeError(
      `profile must be one of ${PROFILES.join(", ")}, got ${JSON.stringify(profile)}`,
    );
  }
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) given[k] = v;
  for (const k of Object.keys(given)) {
    if (!SIM_KEYS.includes(k as keyof SimConfig)) {
      throw new RangeError(`unknown setting ${JSON.stringify(k)}; known: ${SIM_KEYS.join(", ")}`);
    }
  }
  const instancesMax = (given.instancesMax ?? base.instancesMax) as number;
  const config = { ...base, instancesPool: instancesMax, ...given } as SimConfig;
  for (const key of SIM_KEYS) {
    const value = config[key];
    if (BOOLEAN_KEYS.has(key)) {
      if (typeof value !== "boolean") {
        throw new RangeError(`${key} must be true or false, got ${value}`);
      }
      continue;
    }
    const [min, max] = RANGES[key] ?? [0, key.includes("Ms") ? 365 * DAY_MS : 1e12];
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`${key} must be a number in [${min}, ${max}], got ${value}`);
    }
    if (INTEGER_KEYS.has(key) && !Number.isInteger(value)) {
      throw new RangeError(`${key} must be a whole number, got ${value}`);
    }
  }
  if (config.instancesMin > config.instancesMax) {
    throw new RangeError(
      `instancesMin must be <= instancesMax (${config.instancesMax}), got ${config.instancesMin}`,
    );
  }
  if (config.instancesPool > config.instancesMax) {
    throw new RangeError(
      `instancesPool must be <= instancesMax (${config.instancesMax}), got ${config.instancesPool}`,
    );
  }
  for (const name of ["start", "launch", "stop", "service", "upload", "response"] as const) {
    const median = config[`${name}MsMedian`];
    const p95 = config[`${name}MsP95`];
    if (p95 < median) {
      throw new RangeError(`${name}MsP95 must be >= ${name}MsMedian (${median}), got ${p95}`);
    }
    if (median === 0 && p95 > 0) {
      throw new RangeError(`${name}MsMedian is 0 but ${name}MsP95 is ${p95}; give a median > 0`);
    }
  }
  return Object.freeze(config);
}

/**
 * The command-line flag for a setting: `serviceMsMedian` → `--service-ms-median`.
 *
 * @param key A setting's name.
 * @returns The flag, without the dashes.
 */
export function flagName(key: keyof SimConfig): string {
  return key.replace(/[A-Z0-9]+/g, (m) => `-${m.toLowerCase()}`);
}
