/**
 * The scaling policy: one pure, synchronous function from what the controller sees (queue counts,
 * fleet states, the time) and what it remembers to what it should do next. The live controller
 * loop and the simulator (`sim/`) both call {@linkcode decide}; neither copies it.
 *
 * Rules (the service specification's): one request per instance, so the desired number of
 * instances is `min(instancesMax, visible + inFlight)`; start stopped instances before launching
 * new ones; never more than `instancesMax` instances holding a slot; zero instances when nothing is
 * pending (after `keepAliveMs`); never stop an instance that is serving a request.
 *
 * @module
 */
// The fleet states are the fleet port's own (EC2's names; the local fleet uses the same).
import {
  INSTANCE_NAME_PREFIX,
  INSTANCE_STATES,
  type InstanceExit,
  instanceName,
  instanceNumber,
  type InstanceState,
  KEEP_ALIVE_MS_MAX,
} from "../cloud/fleet.ts";
import { checkInteger, checkNumber, dropUndefined } from "../internal/mod.ts";
export { INSTANCE_STATES, type InstanceExit, type InstanceState };

/** One instance as the fleet reports it. */
export interface InstanceView {
  readonly id: string;
  /** `app-tier-instance-<n>`; the policy names launches by the smallest free `<n>`. */
  readonly name: string;
  readonly state: InstanceState;
  /** When the instance entered `state` (same clock as `Observation.nowMs`). */
  readonly stateChangedAtMs: number;
  /**
   * True while the instance holds a request, false when it is known idle, absent when the fleet
   * cannot tell (EC2 does not know what a worker process is doing).
   */
  readonly busy?: boolean;
  /**
   * When the instance last left `stopped` (its last start), absent when the fleet cannot say. A
   * start asked for at or before this time has taken effect, even if the instance is already
   * stopped again.
   */
  readonly lastStartedAtMs?: number;
  /**
   * When the worker on it last said it was ready to serve (model and gallery loaded); absent
   * when it has not since its last start or the fleet cannot tell.
   */
  readonly readyAtMs?: number;
  /** How its last run ended (when the fleet knows): a `not_ready` exit carries the reason. */
  readonly lastExit?: InstanceExit;
}

/** The request queue's counts (SQS's ApproximateNumberOf... attributes). */
export interface QueueCounts {
  /** Messages a worker could receive now. */
  readonly visible: number;
  /** Messages received and not yet deleted (being served, or held by a worker that died). */
  readonly inFlight: number;
  /** Messages sent with a delay and not yet receivable; logged, not acted on. */
  readonly delayed: number;
}

/**
 * What became of one tick's decisions when the caller applied them: fleet calls that failed and
 * launches the fleet named otherwise than the policy asked. The next observation carries it, so
 * the policy (and the simulator replaying it) forgets failed actions and follows renamed ones.
 */
export interface ApplyOutcome {
  /** The `nowMs` of the tick whose decisions these are. */
  readonly decidedAtMs: number;
  /** Names of starts and launches whose fleet call failed: no longer awaited, asked again. */
  readonly failed: readonly string[];
  /** Launches the fleet named itself: the name the policy chose and the fleet's. */
  readonly renamed: readonly { readonly from: string; readonly to: string }[];
}

/** Everything the policy sees at one tick. */
export interface Observation {
  readonly nowMs: number;
  readonly queue: QueueCounts;
  readonly instances: readonly InstanceView[];
  /** The previous tick's apply outcome; absent when everything was applied as decided. */
  readonly applied?: ApplyOutcome;
}

/** A scaling action for the caller to apply. */
export type ScalingDecision =
  | { readonly action: "start"; readonly id: string; readonly name: string }
  | { readonly action: "launch"; readonly name: string }
  | { readonly action: "stop"; readonly id: string; readonly name: string };

/** A start or launch the policy asked for and has not yet seen take effect in the fleet. */
export interface RequestedAction {
  readonly action: "start" | "launch";
  readonly name: string;
  readonly atMs: number;
}

/** What the policy carries from one tick to the next. Create with {@linkcode initialPolicyState}. */
export interface PolicyState {
  /** The previous observation's time; time must never go backwards. */
  readonly nowMsLast: number;
  /** Since when the desired count has stayed below the serving count, or null. */
  readonly surplusSinceMs: number | null;
  /**
   * Starts and launches not yet visible in the fleet: counted as pending so that a slow fleet API
   * (EC2 is eventually consistent) cannot make the policy ask twice and overshoot the maximum.
   */
  readonly requested: readonly RequestedAction[];
  /** Back-off while workers cannot become ready; see {@linkcode NotReadyState}. */
  readonly notReady: NotReadyState;
}

/**
 * Workers that exit before they are ready (a missing model, a bad gallery) would be replaced
 * every tick forever. While the newest `not_ready` exit in the fleet is later than the newest
 * ready worker, the policy starts nothing until `retryAtMs`, then one probe instance (even with
 * nothing pending, so a fixed model recovers by itself); each further failure doubles the wait,
 * up to `notReadyBackoffMsMax`.
 */
export interface NotReadyState {
  /** Failures counted since workers were last ready (0: none). */
  readonly failures: number;
  /** The exit time of the newest failure counted, so each failure counts once. */
  readonly countedAtMs: number;
  /** No new instance before this time. */
  readonly retryAtMs: number;
}

/** What is wrong with the workers, for the controller to report (see `DecisionLog.notReady`). */
export interface NotReadyCondition {
  /** The failing worker's one-line reason. */
  readonly reason: string;
  /** The instance whose exit said so. */
  readonly instance: string;
  /** When that worker exited. */
  readonly atMs: number;
  readonly failures: number;
  /** When the next probe may start. */
  readonly retryAtMs: number;
  /** True while no worker is running ready: nothing can answer new requests. */
  readonly noneReady: boolean;
}

/** Validated policy settings. Create with {@linkcode resolvePolicyConfig}. */
export interface PolicyConfig {
  /** Most instances holding a slot (pending, running or stopping). @default 15 */
  readonly instancesMax: number;
  /** Fewest instances kept serving even when nothing is pending. @default 0 */
  readonly instancesMin: number;
  /** How long a surplus of instances must last before they are stopped. @default 0 */
  readonly keepAliveMs: number;
  /** How often the live loop observes and decides. @default 1000 */
  readonly tickMs: number;
  /**
   * Launched instances are named `<prefix><n>` (the fleet's {@linkcode instanceName} rule: n from
   * 1, no leading zeros). @default {INSTANCE_NAME_PREFIX} ("app-tier-instance-")
   */
  readonly instanceNamePrefix: string;
  /**
   * How long a start or launch may stay invisible in the fleet before the policy stops counting
   * it (the API call probably failed; asking again is then right). @default 30000
   */
  readonly actionSettleMs: number;
  /** Most instances an observation may list; more means a wrong filter upstream. @default 1000 */
  readonly instancesObservedMax: number;
  /** Wait after the first worker that could not become ready, doubled per failure. @default 1000 */
  readonly notReadyBackoffMs: number;
  /** Cap on that wait: the longest a fixed model waits to be tried again. @default 30000 */
  readonly notReadyBackoffMsMax: number;
}

/** Settings as a caller gives them; every field defaults. */
export type PolicyOptions = Partial<PolicyConfig>;

/** The defaults, each explained at its field in {@linkcode PolicyConfig}. */
export const POLICY_DEFAULTS: PolicyConfig = Object.freeze({
  instancesMax: 15,
  instancesMin: 0,
  keepAliveMs: 0,
  tickMs: 1000,
  instanceNamePrefix: INSTANCE_NAME_PREFIX,
  actionSettleMs: 30_000,
  instancesObservedMax: 1000,
  notReadyBackoffMs: 1_000,
  notReadyBackoffMsMax: 30_000,
});

/** Limits on the settings themselves. */
export const POLICY_LIMITS = Object.freeze({
  instancesMaxLimit: 10_000,
  keepAliveMsLimit: KEEP_ALIVE_MS_MAX,
  tickMsMin: 1,
  tickMsLimit: 3_600_000,
  actionSettleMsLimit: 3_600_000,
  instancesObservedMaxLimit: 100_000,
  notReadyBackoffMsLimit: 3_600_000,
});

/** Why the desired count or the actions differ from the plain rule; one entry per clamp. */
export type Clamp =
  | "instancesMax"
  | "instancesMin"
  | "keepAlive"
  | "slots"
  | "busy"
  | "notReady";

/** One decision, as one JSON log line: inputs, desired, clamps applied, actions. */
export interface DecisionLog {
  readonly nowMs: number;
  readonly inputs: {
    readonly visible: number;
    readonly inFlight: number;
    readonly delayed: number;
    readonly pending: number;
    readonly running: number;
    readonly stopping: number;
    readonly stopped: number;
    /** Starts and launches asked for and not yet visible in the fleet. */
    readonly awaiting: number;
    readonly busy: number;
  };
  /** visible + inFlight: requests wanting an instance each. */
  readonly demand: number;
  readonly desired: number;
  /** The count the actions aim at (desired, or the serving count held by keep-alive). */
  readonly target: number;
  readonly clamps: readonly Clamp[];
  readonly decisions: readonly ScalingDecision[];
  /** Workers cannot become ready (back-off in force), or null. */
  readonly notReady: NotReadyCondition | null;
}

/** What {@linkcode decide} returns. */
export interface PolicyResult {
  readonly decisions: readonly ScalingDecision[];
  readonly state: PolicyState;
  readonly log: DecisionLog;
}

/** A broken invariant inside the policy or a caller breaking the contract: a programmer error. */
export class PolicyInvariantError extends Error {
  override name = "PolicyInvariantError";
}

/**
 * Validates settings once, at start, and fills in defaults.
 *
 * @param options Settings to override; see {@linkcode PolicyConfig} for each default.
 * @returns A frozen, validated config.
 * @throws {RangeError} naming the setting, its value and the accepted range.
 * @example
 * ```ts
 * const config = resolvePolicyConfig({ instancesMax: 4, keepAliveMs: 10_000 });
 * ```
 */
export function resolvePolicyConfig(options: PolicyOptions = {}): PolicyConfig {
  const config: PolicyConfig = { ...POLICY_DEFAULTS, ...dropUndefined(options) };
  const L = POLICY_LIMITS;
  checkInteger("instancesMax", config.instancesMax, 1, L.instancesMaxLimit);
  checkInteger("instancesMin", config.instancesMin, 0, config.instancesMax);
  checkNumber("keepAliveMs", config.keepAliveMs, 0, L.keepAliveMsLimit);
  checkNumber("tickMs", config.tickMs, L.tickMsMin, L.tickMsLimit);
  checkNumber("actionSettleMs", config.actionSettleMs, 0, L.actionSettleMsLimit);
  checkNumber("notReadyBackoffMs", config.notReadyBackoffMs, 0, L.notReadyBackoffMsLimit);
  checkNumber(
    "notReadyBackoffMsMax",
    config.notReadyBackoffMsMax,
    config.notReadyBackoffMs,
    L.notReadyBackoffMsLimit,
  );
  checkInteger(
    "instancesObservedMax",
    config.instancesObservedMax,
    1,
    L.instancesObservedMaxLimit,
  );
  if (typeof config.instanceNamePrefix !== "string" || config.instanceNamePrefix.length === 0) {
    throw new RangeError(
      `instanceNamePrefix must be a non-empty string, got ${
        JSON.stringify(config.instanceNamePrefix)
      }`,
    );
  }
  return Object.freeze(config);
}

const NOT_READY_NONE: NotReadyState = Object.freeze({
  failures: 0,
  countedAtMs: -Infinity,
  retryAtMs: -Infinity,
});

/**
 * The state before the first observation.
 *
 * @returns A state that accepts any first `nowMs`.
 * @example
 * ```ts
 * let state = initialPolicyState();
 * ```
 */
export function initialPolicyState(): PolicyState {
  return {
    nowMsLast: -Infinity,
    surplusSinceMs: null,
    requested: [],
    notReady: NOT_READY_NONE,
  };
}

/**
 * Decides what to start, launch or stop at one tick. Pure: same inputs, same result.
 *
 * @param observation What the controller sees now.
 * @param state What {@linkcode decide} returned last time (or {@linkcode initialPolicyState}).
 * @param config From {@linkcode resolvePolicyConfig}.
 * @returns The decisions, the next state and the log line explaining them.
 * @throws {PolicyInvariantError} when time goes backwards or an invariant breaks (a bug).
 * @throws {RangeError} when the observation is malformed (negative counts, too many instances).
 * @example
 * ```ts
 * const config = resolvePolicyConfig();
 * const { decisions, state } = decide(
 *   { nowMs: 0, queue: { visible: 3, inFlight: 0, delayed: 0 }, instances: [] },
 *   initialPolicyState(),
 *   config,
 * );
 * // decisions: launch app-tier-instance-1, -2, -3
 * ```
 */
export function decide(
  observation: Observation,
  state: PolicyState,
  config: PolicyConfig,
): PolicyResult {
  const { nowMs, queue } = observation;
  checkObservation(observation, config);
  if (nowMs < state.nowMsLast) {
    throw new PolicyInvariantError(
      `time went backwards: nowMs ${nowMs} < previous ${state.nowMsLast}; the caller must pass a monotonic clock`,
    );
  }
  const demand = queue.visible + queue.inFlight;
  const clamps: Clamp[] = [];
  let desired = demand;
  if (desired > config.instancesMax) {
    desired = config.instancesMax;
    clamps.push("instancesMax");
  }
  if (desired < config.instancesMin) {
    desired = config.instancesMin;
    clamps.push("instancesMin");
  }
  assert(
    desired >= config.instancesMin && desired <= config.instancesMax,
    `desired ${desired} outside [${config.instancesMin}, ${config.instancesMax}]`,
  );

  const fleet = viewFleet(observation, state.requested, config);
  let surplusSinceMs: number | null = null;
  let target = desired;
  if (desired < fleet.serving) {
    surplusSinceMs = state.surplusSinceMs ?? nowMs;
    const held = nowMs - surplusSinceMs < config.keepAliveMs;
    if (held) {
      // An instance over the maximum is never kept alive: the maximum is a hard limit.
      target = Math.min(fleet.serving, config.instancesMax);
      clamps.push("keepAlive");
    }
  }
  const readiness = judgeReadiness(observation, state.notReady, config);
  if (readiness.condition !== null) {
    // Hold scale-up while backing off; once the wait is over keep exactly one probe going.
    const due = nowMs >= readiness.state.retryAtMs;
    const held = Math.min(target, fleet.serving);
    target = due ? Math.max(1, held) : held;
    clamps.push("notReady");
  }
  const plan = planFleet(fleet, { target, demand, nowMs, config });
  clamps.push(...plan.clamps);
  const log: DecisionLog = {
    nowMs,
    inputs: {
      visible: queue.visible,
      inFlight: queue.inFlight,
      delayed: queue.delayed,
      pending: fleet.pending.length,
      running: fleet.running.length,
      stopping: fleet.stopping,
      stopped: fleet.stopped.length,
      awaiting: fleet.awaiting,
      busy: fleet.busy,
    },
    demand,
    desired,
    target,
    clamps,
    decisions: plan.decisions,
    notReady: readiness.condition,
  };
  return {
    decisions: plan.decisions,
    state: {
      nowMsLast: nowMs,
      surplusSinceMs,
      requested: plan.requested,
      notReady: readiness.state,
    },
    log,
  };
}

/**
 * Whether workers are failing to become ready: the newest `not_ready` exit in the fleet is later
 * than the newest ready worker. Counts each new failure once and sets the next retry time.
 *
 * @param observation The tick's observation.
 * @param previous The back-off state so far.
 * @param config Validated settings (the back-off and its cap).
 * @returns The next back-off state and the condition to report (null: workers are fine).
 */
export function judgeReadiness(
  observation: Observation,
  previous: NotReadyState,
  config: PolicyConfig,
): { state: NotReadyState; condition: NotReadyCondition | null } {
  let failure: InstanceView | undefined;
  let failureMs = -Infinity;
  let readyLastMs = -Infinity;
  let readyRunning = false;
  // The newest exit of a run that never got ready, whatever its kind: while backing off, a probe
  // that crashes instead of saying "not ready" is a failure too, or the probes would loop.
  let earlyExitMs = -Infinity;
  for (const i of observation.instances) {
    if (i.readyAtMs !== undefined) {
      if (i.readyAtMs > readyLastMs) readyLastMs = i.readyAtMs;
      const currentRun = i.lastStartedAtMs === undefined || i.readyAtMs >= i.lastStartedAtMs;
      if (i.state === "running" && currentRun) readyRunning = true;
    }
    if (i.lastExit?.kind === "not_ready" && i.lastExit.atMs > failureMs) {
      failure = i;
      failureMs = i.lastExit.atMs;
    }
    const lastExit = i.lastExit;
    if (
      lastExit !== undefined && lastExit.kind !== "stopped" && lastExit.atMs > earlyExitMs &&
      i.lastStartedAtMs !== undefined &&
      (i.readyAtMs === undefined || i.readyAtMs < i.lastStartedAtMs)
    ) earlyExitMs = lastExit.atMs;
  }
  const exit = failure?.lastExit;
  if (failure === undefined || exit === undefined || exit.atMs <= readyLastMs) {
    if (previous.failures === 0) return { state: previous, condition: null };
    return { state: { ...NOT_READY_NONE, countedAtMs: previous.countedAtMs }, condition: null };
  }
  let state = previous;
  const newestMs = previous.failures > 0 ? Math.max(exit.atMs, earlyExitMs) : exit.atMs;
  if (newestMs > previous.countedAtMs) {
    const failures = previous.failures + 1;
    const waitMs = Math.min(
      config.notReadyBackoffMsMax,
      config.notReadyBackoffMs * 2 ** Math.min(failures - 1, 40),
    );
    state = { failures, countedAtMs: newestMs, retryAtMs: observation.nowMs + waitMs };
  }
  return {
    state,
    condition: {
      reason: exit.reason ?? "the worker exited before it was ready",
      instance: failure.name,
      atMs: exit.atMs,
      failures: state.failures,
      retryAtMs: state.retryAtMs,
      noneReady: !readyRunning,
    },
  };
}

/** The fleet sorted into what the policy acts on; see {@linkcode viewFleet}. */
export interface FleetView {
  /** Pending instances in the observation (can be stopped: they serve nobody yet). */
  readonly pending: readonly InstanceView[];
  readonly running: readonly InstanceView[];
  /** Stopped instances, lowest `<n>` first, excluding those with a start awaiting. */
  readonly stopped: readonly InstanceView[];
  readonly stopping: number;
  /** Requested starts/launches not yet visible, counted as pending. */
  readonly awaiting: number;
  /** pending + running + awaiting: instances that serve or soon will. */
  readonly serving: number;
  /** Instances known busy. */
  readonly busy: number;
  /** Requested actions still awaiting, carried to the next state. */
  readonly requested: readonly RequestedAction[];
  /** Every name in use (awaiting launches included), so a launch picks a free name. */
  readonly namesTaken: readonly string[];
}

/**
 * Sorts an observation's fleet for {@linkcode planFleet}, folding in requested actions that the
 * fleet does not show yet. Exported so alternative policies (the simulator's) act on the fleet
 * exactly as the controller does and differ only in the count they aim at.
 *
 * @param observation The tick's observation.
 * @param requested The state's awaiting starts and launches.
 * @param config Validated settings.
 * @returns The sorted fleet.
 */
export function viewFleet(
  observation: Observation,
  requested: readonly RequestedAction[],
  config: PolicyConfig,
): FleetView {
  // Runs every tick (and millions of times in the simulator): plain arrays, no maps unless needed.
  const pending: InstanceView[] = [];
  const running: InstanceView[] = [];
  let stoppedAll: InstanceView[] = [];
  let stopping = 0;
  let busy = 0;
  const namesTaken: string[] = [];
  for (const instance of observation.instances) {
    if (instance.state === "terminated") continue;
    namesTaken.push(instance.name);
    if (instance.busy === true) busy++;
    if (instance.state === "pending") pending.push(instance);
    else if (instance.state === "running") running.push(instance);
    else if (instance.state === "stopping") stopping++;
    else stoppedAll.push(instance);
  }
  const stillAwaiting: RequestedAction[] = [];
  const awaited = foldOutcome(requested, observation.applied);
  if (awaited.length > 0) {
    const byName = new Map<string, InstanceView>();
    for (const i of observation.instances) if (i.state !== "terminated") byName.set(i.name, i);
    const startAwaited = new Set<string>();
    for (const request of awaited) {
      if (observation.nowMs - request.atMs > config.actionSettleMs) continue;
      const seen = byName.get(request.name);
      if (request.action === "launch" && seen === undefined) {
        stillAwaiting.push(request);
        namesTaken.push(request.name);
      } else if (
        request.action === "start" && seen?.state === "stopped" && !cameAndWent(seen, request.atMs)
      ) {
        stillAwaiting.push(request);
        startAwaited.add(request.name);
      }
    }
    if (startAwaited.size > 0) stoppedAll = stoppedAll.filter((i) => !startAwaited.has(i.name));
  }
  if (stoppedAll.length > 1) {
    stoppedAll.sort((a, b) => compareNames(a.name, b.name, config.instanceNamePrefix));
  }
  return {
    pending,
    running,
    stopped: stoppedAll,
    stopping,
    awaiting: stillAwaiting.length,
    serving: pending.length + running.length + stillAwaiting.length,
    busy,
    requested: stillAwaiting,
    namesTaken,
  };
}

/**
 * True when a stopped instance has been started since `atMs` (and so is stopped again: it exited,
 * crashed or was stopped): the start asked for at `atMs` has taken effect and is awaited no more.
 */
function cameAndWent(seen: InstanceView, atMs: number): boolean {
  return (seen.lastStartedAtMs !== undefined && seen.lastStartedAtMs >= atMs) ||
    seen.stateChangedAtMs > atMs;
}

/** Forgets failed starts and launches, and follows renamed launches, of the tick they name. */
function foldOutcome(
  requested: readonly RequestedAction[],
  outcome: ApplyOutcome | undefined,
): readonly RequestedAction[] {
  if (outcome === undefined || (outcome.failed.length === 0 && outcome.renamed.length === 0)) {
    return requested;
  }
  const failed = new Set(outcome.failed);
  const renamed = new Map(outcome.renamed.map((r) => [r.from, r.to]));
  const out: RequestedAction[] = [];
  for (const r of requested) {
    if (r.atMs !== outcome.decidedAtMs) out.push(r);
    else if (failed.has(r.name)) continue;
    else if (r.action === "launch" && renamed.has(r.name)) {
      out.push({ ...r, name: renamed.get(r.name)! });
    } else out.push(r);
  }
  return out;
}

/** What {@linkcode planFleet} aims at. */
export interface FleetGoal {
  /** Serving (pending + running) instances to aim at. */
  readonly target: number;
  /** visible + inFlight: judges instances whose business is unknown. */
  readonly demand: number;
  /** The tick's time, stamped on new awaiting actions. */
  readonly nowMs: number;
  readonly config: PolicyConfig;
}

/** The actions that move a fleet toward a target count; see {@linkcode planFleet}. */
export interface FleetPlan {
  readonly decisions: readonly ScalingDecision[];
  /** Awaiting starts and launches including the new ones. */
  readonly requested: readonly RequestedAction[];
  readonly clamps: readonly Clamp[];
}

/**
 * Plans the actions that move the fleet toward `target` serving instances: scale up by starting
 * stopped instances (lowest `<n>` first), then launching; scale down by stopping pending instances
 * (newest first), then idle running ones (highest `<n>` first). Never lets slots (serving +
 * stopping) exceed `instancesMax`; never stops a busy instance, nor one whose business is unknown
 * while any request is pending.
 *
 * @param fleet From {@linkcode viewFleet}.
 * @param goal The count to aim at and what judging the fleet needs (named: two plain numbers
 *   side by side are easy to swap).
 * @returns Decisions, the awaiting list and the clamps applied.
 * @example
 * ```ts
 * const fleet = viewFleet(observation, state.requested, config);
 * const plan = planFleet(fleet, { target: 4, demand: 4, nowMs: observation.nowMs, config });
 * ```
 */
export function planFleet(fleet: FleetView, goal: FleetGoal): FleetPlan {
  const { target, demand, nowMs, config } = goal;
  const decisions: ScalingDecision[] = [];
  const requested = [...fleet.requested];
  const clamps: Clamp[] = [];
  const slotsUsed = fleet.serving + fleet.stopping;
  if (target > fleet.serving) {
    const room = Math.max(0, config.instancesMax - slotsUsed);
    const count = Math.min(target - fleet.serving, room);
    if (count < target - fleet.serving) clamps.push("slots");
    const names = new Set(fleet.namesTaken);
    for (let k = 0; k < count; k++) {
      const stopped = fleet.stopped[k];
      if (stopped !== undefined) {
        decisions.push({ action: "start", id: stopped.id, name: stopped.name });
        requested.push({ action: "start", name: stopped.name, atMs: nowMs });
      } else {
        const name = freeName(names, config.instanceNamePrefix);
        names.add(name);
        decisions.push({ action: "launch", name });
        requested.push({ action: "launch", name, atMs: nowMs });
      }
    }
  } else if (target < fleet.serving) {
    const excess = fleet.serving - target;
    const candidates = stopCandidates(fleet, demand, config.instanceNamePrefix);
    const count = Math.min(excess, candidates.length);
    if (count < excess) clamps.push("busy");
    for (let k = 0; k < count; k++) {
      const instance = candidates[k];
      decisions.push({ action: "stop", id: instance.id, name: instance.name });
    }
  }
  checkPlan(fleet, decisions, config);
  return { decisions, requested, clamps };
}

function stopCandidates(fleet: FleetView, demand: number, prefix: string): InstanceView[] {
  const pending = [...fleet.pending]
    .filter((i) => i.busy !== true)
    .sort((a, b) =>
      b.stateChangedAtMs - a.stateChangedAtMs || compareNames(b.name, a.name, prefix)
    );
  // Unknown business is safe to stop only when the queue says nobody is being served.
  const running = fleet.running
    .filter((i) => i.busy === false || (i.busy === undefined && demand === 0))
    .sort((a, b) => compareNames(b.name, a.name, prefix));
  return [...pending, ...running];
}

function checkPlan(
  fleet: FleetView,
  decisions: readonly ScalingDecision[],
  config: PolicyConfig,
): void {
  if (decisions.length === 0) return;
  let up = 0;
  const stoppable = new Set([...fleet.pending, ...fleet.running].map((i) => i.id));
  const busyIds = new Set(
    [...fleet.pending, ...fleet.running].filter((i) => i.busy === true).map((i) => i.id),
  );
  for (const d of decisions) {
    if (d.action === "stop") {
      assert(stoppable.has(d.id), `stop of ${d.id}, which is neither pending nor running`);
      assert(!busyIds.has(d.id), `stop of busy instance ${d.id}`);
    } else up++;
  }
  const slotsUsed = fleet.serving + fleet.stopping;
  assert(
    up === 0 || slotsUsed + up <= config.instancesMax,
    `scale-up to ${slotsUsed + up} slots exceeds instancesMax ${config.instancesMax}`,
  );
}

function freeName(taken: ReadonlySet<string>, prefix: string): string {
  for (let n = 1;; n++) {
    const name = instanceName(n, prefix);
    if (!taken.has(name)) return name;
  }
}

/** Orders `<prefix><n>` names by n (so 2 before 10), others after them, by text. */
function compareNames(a: string, b: string, prefix: string): number {
  const na = instanceNumber(a, prefix) ?? Number.MAX_SAFE_INTEGER;
  const nb = instanceNumber(b, prefix) ?? Number.MAX_SAFE_INTEGER;
  if (na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkObservation(observation: Observation, config: PolicyConfig): void {
  if (!Number.isFinite(observation.nowMs)) {
    throw new RangeError(`observation.nowMs must be a finite number, got ${observation.nowMs}`);
  }
  for (const key of ["visible", "inFlight", "delayed"] as const) {
    const value = observation.queue[key];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `observation.queue.${key} must be a non-negative integer, got ${value}`,
      );
    }
  }
  if (observation.instances.length > config.instancesObservedMax) {
    throw new RangeError(
      `observation lists ${observation.instances.length} instances, more than instancesObservedMax ${config.instancesObservedMax}; filter the fleet to this service's instances or raise the limit`,
    );
  }
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new PolicyInvariantError(message);
}
