/**
 * The controller's log events: one JSON line each in the service's output,
 * `{"component":"controller","event":"<kind>",...}`. They are a contract between the controller
 * and whoever reads them: the operator, the stack's tests, and the simulator's validation
 * (`sim/validate.ts` takes start times from `decision` lines, decoding them with
 * `sim/log_lines.ts`). The controller loop, and the service around it (its supervisor and the
 * dead-letter sweep, which log as the controller), emit only these.
 * @module
 */
import type { DecisionLog, NotReadyCondition } from "./policy.ts";

/** Names started, created (then started) and stopped in one tick, as the fleet names them. */
export interface AppliedDecisions {
  readonly started: readonly string[];
  readonly launched: readonly string[];
  readonly stopped: readonly string[];
}

/**
 * One tick that acted, or whose inputs changed: the policy's log (inputs, desired, clamps,
 * decisions), what was applied and the fleet calls that failed.
 */
export type ControllerDecisionEvent = { readonly event: "decision" } & DecisionLog & {
  readonly applied: AppliedDecisions;
  /** `<what>: <error>` per failed fleet call; the next tick observes again and retries. */
  readonly errors: readonly string[];
};

/** Workers cannot become ready: the newest failure's reason and the back-off in force. */
export type ControllerWorkersNotReadyEvent =
  & { readonly event: "workers_not_ready" }
  & NotReadyCondition
  & {
    /** True while no worker is ready: new uploads are refused with 503. */
    readonly refuseUploads: boolean;
  };

/** Workers became ready again after a `workers_not_ready`. */
export interface ControllerWorkersReadyEvent {
  readonly event: "workers_ready";
}

/** A failure outside the policy, with the error as `<name>: <message>`. */
export interface ControllerFailureEvent<K extends string> {
  readonly event: K;
  readonly error: string;
}

/** A tick could not observe the queue or the fleet; the next tick tries again. */
export type ControllerTickFailedEvent = ControllerFailureEvent<"tick_failed">;
/** The controller stopped on a policy bug (the service logs it and goes on serving). */
export type ControllerCrashedEvent = ControllerFailureEvent<"crashed">;
/** A dead-letter sweep failed; the next one tries again. */
export type ControllerSweepFailedEvent = ControllerFailureEvent<"dead_letter_sweep_failed">;

/** A request found in the dead-letter queue: its waiting client was answered with an error. */
export type ControllerDeadLetterEvent =
  & { readonly event: "dead_letter" }
  & (
    | { readonly id: string; readonly key: string }
    /** Not a protocol message: deleted, nobody to answer. */
    | { readonly unreadable: string; readonly body: string }
  );

/** Everything the controller logs. */
export type ControllerEvent =
  | ControllerDecisionEvent
  | ControllerWorkersNotReadyEvent
  | ControllerWorkersReadyEvent
  | ControllerTickFailedEvent
  | ControllerCrashedEvent
  | ControllerSweepFailedEvent
  | ControllerDeadLetterEvent;

/** The kinds of {@linkcode ControllerEvent}. */
export type ControllerEventKind = ControllerEvent["event"];

/** One controller log line as written: the event and the component. */
export type ControllerLine = { readonly component: "controller" } & ControllerEvent;

/**
 * The line the service writes for a controller event.
 *
 * @param event what happened
 * @returns the line, ready for `JSON.stringify`
 * @example
 * ```ts
 * console.log(JSON.stringify(controllerLine({ event: "workers_ready" })));
 * ```
 */
export function controllerLine(event: ControllerEvent): ControllerLine {
  return { component: "controller", ...event };
}
