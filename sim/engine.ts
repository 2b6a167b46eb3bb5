/**
 * The discrete-event engine: a virtual clock that jumps from event to event in (time, insertion
 * sequence) order, with bounds on simulated time and on the number of events, and deadlock
 * detection (no event left while the model says work is pending).
 * @module
 */
import { EventQueue } from "./event_queue.ts";

/** How a run ended. */
export type Outcome =
  | { readonly kind: "ok" }
  | { readonly kind: "deadlock"; readonly reason: string }
  | { readonly kind: "time-limit"; readonly reason: string }
  | { readonly kind: "event-limit"; readonly reason: string };

/** Engine limits; every one is enforced. */
export interface EngineLimits {
  /** Simulated time at which the run is cut off. */
  readonly timeMaxMs: number;
  /** Events processed at which the run is cut off. */
  readonly eventsMax: number;
  /** Events pending at once; more means a leak. */
  readonly eventsPendingMax: number;
}

/** A broken model invariant: a programmer error, never an operating condition. */
export class SimInvariantError extends Error {
  override name = "SimInvariantError";
}

/** Handles one popped event; `a` and `b` are the event's arguments. */
export type EventHandler = (kind: number, a: number, b: number) => void;

/** The model's view of whether it is finished and, if not, whether it is stuck. */
export interface Progress {
  /** True when no work is left: the run ends "ok". */
  done(): boolean;
  /** Describes the pending work, for a deadlock report. */
  describePending(): string;
}

/** The clock and the event queue. */
export class Engine {
  /** The virtual clock. */
  nowMs = 0;
  /** Events processed so far. */
  events = 0;
  readonly limits: EngineLimits;
  readonly #queue: EventQueue;
  #halt: Outcome | null = null;

  /** @param limits Bounds on the run. */
  constructor(limits: EngineLimits) {
    this.limits = limits;
    this.#queue = new EventQueue(limits.eventsPendingMax);
  }

  /**
   * Schedules an event.
   *
   * @param atMs When; never before now.
   * @param kind The model's event kind.
   * @param a First argument.
   * @param b Second argument.
   * @throws {SimInvariantError} when `atMs` is in the past or not a number.
   */
  schedule(atMs: number, kind: number, a: number, b: number): void {
    if (!(atMs >= this.nowMs)) {
      throw new SimInvariantError(
        `event kind ${kind} scheduled at ${atMs} ms, before now (${this.nowMs} ms): time never goes backwards`,
      );
    }
    this.#queue.push(atMs, kind, a, b);
  }

  /** @returns Events pending. */
  get pending(): number {
    return this.#queue.size;
  }

  /**
   * Ends the run after the current event with the given outcome (a model-level deadlock).
   *
   * @param outcome Why.
   */
  halt(outcome: Outcome): void {
    this.#halt ??= outcome;
  }

  /**
   * Runs until the model is done, the queue empties, a limit is hit or the model halts.
   *
   * @param handle Called for each event, with the clock already at the event's time.
   * @param progress The model's done/pending view.
   * @returns How the run ended.
   */
  run(handle: EventHandler, progress: Progress): Outcome {
    const q = this.#queue;
    const { timeMaxMs, eventsMax } = this.limits;
    for (;;) {
      if (this.#halt !== null) return this.#halt;
      if (progress.done()) return { kind: "ok" };
      if (q.size === 0) {
        return {
          kind: "deadlock",
          reason: `no event left at ${this.nowMs} ms while ${progress.describePending()}`,
        };
      }
      if (q.peekTimeMs() > timeMaxMs) {
        return {
          kind: "time-limit",
          reason:
            `simulated time would pass timeMaxMs ${timeMaxMs} while ${progress.describePending()}`,
        };
      }
      if (this.events >= eventsMax) {
        return {
          kind: "event-limit",
          reason:
            `eventsMax ${eventsMax} reached at ${this.nowMs} ms while ${progress.describePending()}`,
        };
      }
      q.pop();
      this.nowMs = q.timeMs;
      this.events++;
      handle(q.kind, q.a, q.b);
    }
  }
}
