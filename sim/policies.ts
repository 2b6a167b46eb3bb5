/**
 * Scaling policies behind one interface: the controller's own policy (imported from
 * `controller/`, never copied) and, for comparison, the rules people use elsewhere. Each
 * alternative is a pure `decide(observation, state, config)` like the controller's, and acts on
 * the fleet through the controller's own {@linkcode planFleet}, so policies differ only in the
 * instance count they aim at and when.
 * @module
 */
import {
  decide as controllerDecide,
  initialPolicyState,
  type Observation,
  planFleet,
  type PolicyConfig,
  type RequestedAction,
  resolvePolicyConfig,
  type ScalingDecision,
  viewFleet,
} from "../controller/mod.ts";
import type { SimConfig } from "./config.ts";

/** What the simulator drives: a policy with its state hidden inside. */
export interface PolicyRunner {
  readonly name: PolicyName;
  /** How often the simulator calls {@linkcode PolicyRunner.step}. */
  readonly tickMs: number;
  /** Whether workers stop their own instance when idle (the controller's design) or not. */
  readonly workerSelfStop: boolean;
  /** Workers' idle time before stopping themselves. */
  readonly keepAliveMs: number;
  /** Decides at one tick; the log is the policy's JSON explanation. */
  step(observation: Observation): { decisions: readonly ScalingDecision[]; log: unknown };
}

/** The policies the simulator can run. */
export type PolicyName = "controller" | "keep-alive" | "keda" | "target-tracking";

/** Every {@linkcode PolicyName}. */
export const POLICY_NAMES: readonly PolicyName[] = [
  "controller",
  "keep-alive",
  "keda",
  "target-tracking",
];

function runner<S, C>(
  name: PolicyName,
  tickMs: number,
  worker: { workerSelfStop: boolean; keepAliveMs: number },
  decide: (
    o: Observation,
    s: S,
    c: C,
  ) => { decisions: readonly ScalingDecision[]; state: S; log: unknown },
  state0: S,
  config: C,
): PolicyRunner {
  let state = state0;
  return {
    name,
    tickMs,
    ...worker,
    step(observation) {
      const result = decide(observation, state, config);
      state = result.state;
      return { decisions: result.decisions, log: result.log };
    },
  };
}

/**
 * Builds a policy runner from the simulator's settings.
 *
 * @param name Which policy.
 * @param config The simulator's settings (instancesMax, keep-alive, each policy's knobs).
 * @returns A runner with fresh state.
 * @throws {RangeError} for an unknown name.
 * @example
 * ```ts
 * const policy = createPolicy("keda", resolveSimConfig());
 * ```
 */
export function createPolicy(name: PolicyName, config: SimConfig): PolicyRunner {
  const base = {
    instancesMax: config.instancesMax,
    instancesMin: config.instancesMin,
    tickMs: config.tickMs,
  };
  switch (name) {
    case "controller":
    case "keep-alive": {
      const keepAliveMs = name === "controller" ? config.keepAliveMs : config.keepAliveVariantMs;
      const policyConfig = resolvePolicyConfig({ ...base, keepAliveMs });
      return runner(
        name,
        config.tickMs,
        { workerSelfStop: config.workerSelfStop, keepAliveMs },
        controllerDecide,
        initialPolicyState(),
        policyConfig,
      );
    }
    case "keda": {
      const kedaConfig: KedaConfig = {
        fleet: resolvePolicyConfig({ ...base, tickMs: config.kedaPollingMs }),
        queueLength: config.kedaQueueLength,
        activationQueueLength: config.kedaActivationQueueLength,
        cooldownMs: config.kedaCooldownMs,
        stabilizationMs: config.kedaStabilizationMs,
      };
      return runner(
        name,
        config.kedaPollingMs,
        { workerSelfStop: false, keepAliveMs: 0 },
        decideKeda,
        initialKedaState(),
        kedaConfig,
      );
    }
    case "target-tracking": {
      const target = config.ttTargetBacklogPerInstance > 0
        ? config.ttTargetBacklogPerInstance
        : Math.max(1, Math.floor(config.sloMs / config.serviceMsMedian));
      const ttConfig: TargetTrackingConfig = {
        fleet: resolvePolicyConfig({ ...base, tickMs: config.ttPeriodMs }),
        targetBacklogPerInstance: target,
        scaleOutPeriods: config.ttScaleOutPeriods,
        scaleInPeriods: config.ttScaleInPeriods,
      };
      return runner(
        name,
        config.ttPeriodMs,
        { workerSelfStop: false, keepAliveMs: 0 },
        decideTargetTracking,
        initialTargetTrackingState(),
        ttConfig,
      );
    }
    default:
      throw new RangeError(
        `policy must be one of ${POLICY_NAMES.join(", ")}, got ${JSON.stringify(name)}`,
      );
  }
}

// ---------------------------------------------------------------- KEDA-style

/** KEDA's SQS scaler with the HPA under it, reduced to what matters for scaling. */
export interface KedaConfig {
  /** Max/min and naming, as the controller's. */
  readonly fleet: PolicyConfig;
  /** Target backlog per instance (`queueLength`). */
  readonly queueLength: number;
  /** Backlog above which it activates from zero (`activationQueueLength`). */
  readonly activationQueueLength: number;
  /** Inactive this long → scale to zero (`cooldownPeriod`). */
  readonly cooldownMs: number;
  /** HPA scale-down stabilisation: the highest recommendation within this window wins. */
  readonly stabilizationMs: number;
}

/** KEDA's memory between polls. */
export interface KedaState {
  readonly nowMsLast: number;
  readonly activeLastMs: number;
  /** Recent recommendations, oldest first; bounded by the stabilisation window. */
  readonly recommendations: readonly { readonly atMs: number; readonly count: number }[];
  readonly requested: readonly RequestedAction[];
}

/** @returns KEDA's state before the first poll. */
export function initialKedaState(): KedaState {
  return { nowMsLast: -Infinity, activeLastMs: -Infinity, recommendations: [], requested: [] };
}

/**
 * KEDA-style scaling: desired = ceil(backlog / queueLength) with backlog = visible + in-flight
 * (the scaler's default), activation from zero above `activationQueueLength`, scale to zero after
 * `cooldownMs` inactive, and HPA's scale-down stabilisation above zero.
 *
 * @param o The observation.
 * @param s The previous state.
 * @param c The settings.
 * @returns Decisions, next state and a log object.
 */
export function decideKeda(o: Observation, s: KedaState, c: KedaConfig) {
  checkTime(o.nowMs, s.nowMsLast);
  const backlog = o.queue.visible + o.queue.inFlight;
  const active = backlog > c.activationQueueLength;
  const activeLastMs = active ? o.nowMs : s.activeLastMs;
  const fleet = viewFleet(o, s.requested, c.fleet);
  const { instancesMax, instancesMin } = c.fleet;
  const raw = Math.min(instancesMax, Math.max(instancesMin, 1, Math.ceil(backlog / c.queueLength)));
  let target: number;
  let recommendations = s.recommendations.filter((r) => o.nowMs - r.atMs < c.stabilizationMs);
  if (!active && (fleet.serving === 0 || o.nowMs - activeLastMs >= c.cooldownMs)) {
    target = instancesMin;
    recommendations = [];
  } else {
    recommendations = [...recommendations, { atMs: o.nowMs, count: raw }];
    target = Math.max(raw, ...recommendations.map((r) => r.count));
    // Scale-up is immediate; only scale-down is stabilised.
    if (target > fleet.serving) target = Math.max(raw, fleet.serving);
  }
  const plan = planFleet(fleet, { target, demand: backlog, nowMs: o.nowMs, config: c.fleet });
  return {
    decisions: plan.decisions,
    state: { nowMsLast: o.nowMs, activeLastMs, recommendations, requested: plan.requested },
    log: {
      nowMs: o.nowMs,
      backlog,
      active,
      raw,
      target,
      serving: fleet.serving,
      decisions: plan.decisions,
    },
  };
}

// ---------------------------------------------------------------- EC2 target tracking

/** EC2 Auto Scaling target tracking on "backlog per instance" (AWS's SQS recipe). */
export interface TargetTrackingConfig {
  readonly fleet: PolicyConfig;
  /** The backlog per instance to hold (acceptable latency / service time). */
  readonly targetBacklogPerInstance: number;
  /** Consecutive metric periods above target before scaling out (CloudWatch alarm: 3 of 3). */
  readonly scaleOutPeriods: number;
  /** Consecutive metric periods below target before scaling in (CloudWatch alarm: 15 of 15). */
  readonly scaleInPeriods: number;
}

/** Target tracking's memory between metric periods. */
export interface TargetTrackingState {
  readonly nowMsLast: number;
  readonly periodsAbove: number;
  readonly periodsBelow: number;
  /** The group's desired capacity. */
  readonly desiredCapacity: number;
  readonly requested: readonly RequestedAction[];
}

/** @returns The state before the first metric period. */
export function initialTargetTrackingState(): TargetTrackingState {
  return {
    nowMsLast: -Infinity,
    periodsAbove: 0,
    periodsBelow: 0,
    desiredCapacity: 0,
    requested: [],
  };
}

/**
 * Target tracking: each tick is one metric period; metric = visible / in-service instances. After
 * `scaleOutPeriods` periods above target (or `scaleInPeriods` below), desired capacity becomes
 * ceil(inService × metric / target). With no instance in service, any backlog counts as above
 * target (AWS's metric would be undefined there, and target tracking alone cannot leave zero).
 *
 * @param o The observation.
 * @param s The previous state.
 * @param c The settings.
 * @returns Decisions, next state and a log object.
 */
export function decideTargetTracking(
  o: Observation,
  s: TargetTrackingState,
  c: TargetTrackingConfig,
) {
  checkTime(o.nowMs, s.nowMsLast);
  const fleet = viewFleet(o, s.requested, c.fleet);
  const inService = fleet.running.length;
  const visible = o.queue.visible;
  const metric = inService === 0 ? (visible > 0 ? Infinity : 0) : visible / inService;
  const T = c.targetBacklogPerInstance;
  let periodsAbove = metric > T ? s.periodsAbove + 1 : 0;
  let periodsBelow = metric < T ? s.periodsBelow + 1 : 0;
  let desiredCapacity = s.desiredCapacity;
  const { instancesMax, instancesMin } = c.fleet;
  const clamp = (n: number) => Math.min(instancesMax, Math.max(instancesMin, n));
  if (periodsAbove >= c.scaleOutPeriods) {
    const next = inService === 0 ? Math.ceil(visible / T) : Math.ceil((inService * metric) / T);
    desiredCapacity = clamp(Math.max(desiredCapacity, next, 1));
    periodsAbove = 0;
  } else if (periodsBelow >= c.scaleInPeriods) {
    desiredCapacity = clamp(Math.min(desiredCapacity, Math.ceil((inService * metric) / T)));
    periodsBelow = 0;
  }
  const plan = planFleet(fleet, {
    target: desiredCapacity,
    demand: o.queue.visible + o.queue.inFlight,
    nowMs: o.nowMs,
    config: c.fleet,
  });
  return {
    decisions: plan.decisions,
    state: {
      nowMsLast: o.nowMs,
      periodsAbove,
      periodsBelow,
      desiredCapacity,
      requested: plan.requested,
    },
    log: {
      nowMs: o.nowMs,
      metric: Number.isFinite(metric) ? metric : "inf",
      target: T,
      desiredCapacity,
      decisions: plan.decisions,
    },
  };
}

function checkTime(nowMs: number, lastMs: number): void {
  if (nowMs < lastMs) {
    throw new RangeError(`time went backwards: nowMs ${nowMs} < previous ${lastMs}`);
  }
}
