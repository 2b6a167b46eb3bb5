/**
 * The live controller: every tick it observes the request queue's counts and the fleet through
 * the ports, asks the pure policy ({@linkcode decide}) what to do, applies the decisions (starts
 * first, creates only when no stopped instance is left, never above the maximum: the policy
 * guarantees all three) and logs one JSON line per decision.
 *
 * It keeps nothing that the fleet does not also hold, so a new controller simply adopts the fleet
 * it finds: restarting it in the middle of a burst loses only the policy's short memory of
 * starts that the fleet has not shown yet.
 * @module
 */
import { type Clock, systemClock } from "../cloud/clock.ts";
import { InvalidStateError } from "../cloud/errors.ts";
import { CREATE_COUNT_MAX, type Fleet, type Instance, instanceNumber } from "../cloud/fleet.ts";
import type { MessageQueue, QueueCounts } from "../cloud/message_queue.ts";
import {
  type ApplyOutcome,
  decide,
  type DecisionLog,
  initialPolicyState,
  type InstanceView,
  type NotReadyCondition,
  type PolicyConfig,
  PolicyInvariantError,
  type PolicyOptions,
  type PolicyState,
  resolvePolicyConfig,
  type ScalingDecision,
} from "./policy.ts";
import type { AppliedDecisions, ControllerEvent } from "./log_events.ts";

/** What the controller talks to. */
export interface ControllerDeps {
  readonly queue: MessageQueue;
  readonly fleet: Fleet;
  /** @default {systemClock} */
  readonly clock?: Clock;
}

/** Receives each event the controller logs (the service adds the component). */
export type ControllerLog = (event: ControllerEvent) => void;

/** Options for {@linkcode Controller}. */
export interface ControllerOptions {
  /** The queue whose visible + in-flight count is the demand. */
  readonly requestQueue: string;
  /** Policy settings (max, keep-alive, tick...), validated at construction. @default {POLICY_DEFAULTS} */
  readonly policy?: PolicyOptions;
  /**
   * Log every tick, not only ticks that act or whose inputs changed; an idle service otherwise
   * stays quiet. @default {false}
   */
  readonly logEveryTick?: boolean;
  /** @default {a no-op} */
  readonly log?: ControllerLog;
  /**
   * Told the controller's condition after every tick that changes it: an issue while workers
   * cannot become ready, null once they can (the stack puts it on its health board).
   * @default {a no-op}
   */
  readonly report?: (condition: ControllerCondition | null, nowMs: number) => void;
  /**
   * Told what each tick read (the request queue's counts and the whole fleet), so others can
   * show it without reading again: the service's dashboard takes its chart points from here,
   * adding no fleet or queue calls. @default {a no-op}
   */
  readonly observe?: (observation: ControllerObservation) => void;
}

/** What one tick read, before deciding. */
export interface ControllerObservation {
  readonly nowMs: number;
  /** The request queue's counts. */
  readonly queue: QueueCounts;
  /** Every instance `fleet.describe()` returned. */
  readonly instances: readonly Instance[];
}

/** What the controller reports about the service's workers. */
export interface ControllerCondition {
  /** Stable kind: `workers_not_ready`. */
  readonly code: "workers_not_ready";
  /** For a person: the worker's reason and what the controller does about it. */
  readonly message: string;
  /** True while no worker is ready, so new requests cannot be answered. */
  readonly refuseUploads: boolean;
  readonly detail: NotReadyCondition;
}

/** What one tick did. */
export interface TickReport {
  /** The policy's log: inputs, desired, clamps, decisions. */
  readonly decision: DecisionLog;
  /** Names started, created (then started) and stopped, as the fleet names them. */
  readonly applied: AppliedDecisions;
  /** Fleet calls that failed; the next tick observes again and retries what is still needed. */
  readonly errors: readonly string[];
}

/**
 * The controller loop around the pure policy.
 *
 * @example
 * ```ts
 * const controller = new Controller({ queue, fleet }, {
 *   requestQueue: "fr-req-queue",
 *   policy: { instancesMax: 15 },
 *   log: (line) => console.log(JSON.stringify(line)),
 * });
 * await controller.run(abort.signal); // until aborted
 * ```
 */
export class Controller {
  readonly #deps: ControllerDeps;
  readonly #clock: Clock;
  readonly #config: PolicyConfig;
  readonly #options: ControllerOptions;
  readonly #log: ControllerLog;
  #state: PolicyState = initialPolicyState();
  #nowMsLast = -Infinity;
  /** When we first saw each instance in its current state, for fleets that cannot say. */
  readonly #seenSince = new Map<string, { state: string; sinceMs: number }>();
  #lastLogged = "";
  /** What became of the last tick's decisions, for the next observation. */
  #applied: ApplyOutcome | undefined;
  /** The condition last reported; undefined before the first tick, so it is always told once. */
  #reported: string | undefined;

  /**
   * @param deps the queue, the fleet and the clock
   * @param options the request queue and the policy settings
   * @throws {RangeError} naming a policy setting that is out of range
   */
  constructor(deps: ControllerDeps, options: ControllerOptions) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#config = resolvePolicyConfig(options.policy);
    this.#options = options;
    this.#log = options.log ?? (() => {});
  }

  /** The validated policy settings in use. */
  get config(): PolicyConfig {
    return this.#config;
  }

  /**
   * Observes, decides and applies once.
   * @returns what was decided and done
   * @throws {CloudError} when the queue or fleet cannot be observed (the caller's loop logs and
   *   retries)
   * @throws {PolicyInvariantError} on a policy bug
   */
  async tick(): Promise<TickReport> {
    // The policy insists on time that never goes back; a wall clock may step back (NTP), so
    // hold it at the last value rather than crash the controller.
    const nowMs = Math.max(this.#clock.nowMs(), this.#nowMsLast);
    this.#nowMsLast = nowMs;
    const [queue, instances] = await Promise.all([
      this.#deps.queue.counts(this.#options.requestQueue),
      this.#deps.fleet.describe(),
    ]);
    this.#options.observe?.({ nowMs, queue, instances });
    const prefix = this.#config.instanceNamePrefix;
    const ours = instances.filter((i) => instanceNumber(i.name, prefix) !== undefined);
    const result = decide(
      { nowMs, queue, instances: this.#view(ours, nowMs), applied: this.#applied },
      this.#state,
      this.#config,
    );
    this.#state = result.state;
    const { applied, errors, renamed, failed } = await this.#apply(result.decisions);
    // The fleet names new instances itself, and a call can fail: the next observation tells the
    // policy, so it follows launches under the fleet's names and asks again for failed actions
    // instead of waiting for them to settle.
    this.#applied = renamed.size > 0 || failed.size > 0
      ? {
        decidedAtMs: nowMs,
        failed: [...failed],
        renamed: [...renamed].map(([from, to]) => ({ from, to })),
      }
      : undefined;
    const report: TickReport = { decision: result.log, applied, errors };
    this.#maybeLog(report);
    this.#reportCondition(result.log.notReady, nowMs);
    return report;
  }

  #reportCondition(notReady: NotReadyCondition | null, nowMs: number): void {
    const condition = notReady === null ? null : describeNotReady(notReady, this.#config);
    const key = condition === null
      ? "null"
      : JSON.stringify([condition.message, condition.refuseUploads]);
    if (key === this.#reported) return;
    const first = this.#reported === undefined;
    this.#reported = key;
    if (condition !== null) {
      this.#log({
        event: "workers_not_ready",
        ...condition.detail,
        refuseUploads: condition.refuseUploads,
      });
    } else if (!first) this.#log({ event: "workers_ready" });
    this.#options.report?.(condition, nowMs);
  }

  /**
   * Ticks every `tickMs` until `signal` aborts. A failed observation is logged and retried on
   * the next tick; a policy bug ends the loop with its error.
   * @param signal stops the loop (the current tick finishes first)
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const startedMs = this.#clock.nowMs();
      try {
        await this.tick();
      } catch (error) {
        if (error instanceof PolicyInvariantError) throw error;
        this.#log({ event: "tick_failed", error: describe(error) });
      }
      const elapsedMs = this.#clock.nowMs() - startedMs;
      await this.#clock.sleepMs(Math.max(0, this.#config.tickMs - elapsedMs), signal);
    }
  }

  #view(instances: readonly Instance[], nowMs: number): InstanceView[] {
    const seen = new Set<string>();
    const views = instances.map((i) => {
      seen.add(i.id);
      let since = this.#seenSince.get(i.id);
      if (since === undefined || since.state !== i.state) {
        since = { state: i.state, sinceMs: nowMs };
        this.#seenSince.set(i.id, since);
      }
      // A fleet clock ahead of ours must not look like the future to the policy.
      const changedMs = Math.min(i.stateChangedAtMs ?? since.sinceMs, nowMs);
      const view: {
        -readonly [K in keyof InstanceView]: InstanceView[K];
      } = { id: i.id, name: i.name, state: i.state, stateChangedAtMs: changedMs };
      if (typeof i.lastStartedAtMs === "number") {
        view.lastStartedAtMs = Math.min(i.lastStartedAtMs, nowMs);
      }
      if (typeof i.readyAtMs === "number") view.readyAtMs = Math.min(i.readyAtMs, nowMs);
      if (i.lastExit) view.lastExit = { ...i.lastExit, atMs: Math.min(i.lastExit.atMs, nowMs) };
      return view;
    });
    for (const id of this.#seenSince.keys()) if (!seen.has(id)) this.#seenSince.delete(id);
    return views;
  }

  async #apply(decisions: readonly ScalingDecision[]): Promise<{
    applied: TickReport["applied"];
    errors: string[];
    renamed: Map<string, string>;
    failed: Set<string>;
  }> {
    const { fleet } = this.#deps;
    const errors: string[] = [];
    const starts = decisions.filter((d) => d.action === "start");
    const stops = decisions.filter((d) => d.action === "stop");
    const launches = decisions.filter((d) => d.action === "launch");
    const started: string[] = [];
    const stopped: string[] = [];
    const launched: string[] = [];
    const renamed = new Map<string, string>();
    const failed = new Set<string>();
    const attempt = async (what: string, names: string[], fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (error) {
        errors.push(`${what}: ${describe(error)}`);
        for (const name of names) failed.add(name);
      }
    };
    if (stops.length > 0) {
      try {
        await fleet.stop(stops.map((d) => d.id));
        stopped.push(...stops.map((d) => d.name));
      } catch (error) {
        if (!(error instanceof InvalidStateError) || stops.length === 1) {
          errors.push(`stop: ${describe(error)}`);
        } else {
          // EC2 refuses the whole StopInstances call when one instance is still pending; stop the
          // others now instead of holding them all until that one is running.
          for (const d of stops) {
            await attempt(`stop ${d.name}`, [], async () => {
              await fleet.stop([d.id]);
              stopped.push(d.name);
            });
          }
        }
      }
      // A refused stop is not remembered: while the surplus lasts, the policy decides it again
      // on the next tick, by when a pending instance has usually become running.
    }
    if (starts.length > 0) {
      await attempt("start", starts.map((d) => d.name), async () => {
        await fleet.start(starts.map((d) => d.id));
        started.push(...starts.map((d) => d.name));
      });
    }
    for (let k = 0; k < launches.length; k += CREATE_COUNT_MAX) {
      const batch = launches.slice(k, k + CREATE_COUNT_MAX);
      await attempt("launch", batch.map((d) => d.name), async () => {
        const created = await fleet.create(batch.length);
        created.forEach((instance, j) => {
          if (batch[j] && batch[j].name !== instance.name) {
            renamed.set(batch[j].name, instance.name);
          }
        });
        await fleet.start(created.map((i) => i.id));
        launched.push(...created.map((i) => i.name));
      });
    }
    return { applied: { started, launched, stopped }, errors, renamed, failed };
  }

  #maybeLog(report: TickReport): void {
    const { decision } = report;
    const key = JSON.stringify([decision.inputs, decision.desired, decision.target]);
    const acted = decision.decisions.length > 0 || report.errors.length > 0;
    if (!acted && key === this.#lastLogged && this.#options.logEveryTick !== true) return;
    this.#lastLogged = key;
    this.#log({ event: "decision", ...decision, applied: report.applied, errors: report.errors });
  }
}

/** The operator's message for workers that cannot become ready. */
function describeNotReady(
  detail: NotReadyCondition,
  config: PolicyConfig,
): ControllerCondition {
  // No countdown in the text: it changes only with a new failure, so the board is not churned.
  const message = `workers cannot become ready: ${detail.reason} ` +
    `(${detail.failures} failed start${detail.failures === 1 ? "" : "s"}; the controller tries ` +
    `again with back-off up to ${Math.round(config.notReadyBackoffMsMax / 1000)} s; fix the ` +
    `cause and it recovers by itself)`;
  return { code: "workers_not_ready", message, refuseUploads: detail.noneReady, detail };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
