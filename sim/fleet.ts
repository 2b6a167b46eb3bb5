/**
 * The app-tier fleet: instance slots with a state (stopped → pending → running → stopping →
 * stopped), one request at a time, and the time each spent in each state (the cost). A slot is
 * created stopped (the pre-created pool) or by a launch; slots are never terminated, so at most
 * `instancesMax` ever exist.
 *
 * This class keeps the data and the accounting; the simulation decides when things happen.
 * @module
 */
import { instanceNumber } from "../cloud/fleet.ts";
import type { InstanceState } from "../controller/mod.ts";
import { SimInvariantError } from "./engine.ts";

/** Instance states as small integers (index into {@linkcode STATE_NAMES}). */
export const STOPPED = 0;
/** Booting (start or launch) until the worker is ready. */
export const PENDING = 1;
/** Worker ready: waiting for or serving a request. */
export const RUNNING = 2;
/** Shutting down. */
export const STOPPING = 3;

/** How a run ended, as the fleet port names it (`InstanceExit.kind`). */
export const EXIT_KINDS = ["stopped", "exited", "crashed", "not_ready"] as const;
/** Index of each exit kind in {@linkcode EXIT_KINDS}. */
export const EXIT_STOPPED = 0;
/** A crash (fault injection). */
export const EXIT_CRASHED = 2;
/** A worker that could not become ready. */
export const EXIT_NOT_READY = 3;

/** The controller's name for each state. */
export const STATE_NAMES: readonly InstanceState[] = ["stopped", "pending", "running", "stopping"];

/** Instance slots and their accounting. */
export class Fleet {
  /** Slots created so far (pool + launched). */
  count = 0;
  /** Instances per state now. */
  readonly inState = new Int32Array(4);
  /** Total milliseconds spent per state, up to each slot's last change. */
  readonly msInState = new Float64Array(4);
  /** Milliseconds spent serving requests. */
  busyMs = 0;
  /** Instances serving a request now. */
  busy = 0;

  readonly capacity: number;
  readonly state: Uint8Array;
  readonly changedAtMs: Float64Array;
  /** Bumped on every transition; events carry it and are ignored when stale. */
  readonly gen: Int32Array;
  /** Boots so far per slot (keys the boot-time draw). */
  readonly boots: Int32Array;
  /** Stops so far per slot (keys the stop-time draw). */
  readonly stops: Int32Array;
  /** The request being served, or -1. */
  readonly request: Int32Array;
  /** The receipt of the message being served. */
  readonly receipt: Int32Array;
  /** When the current request was received. */
  readonly receivedAtMs: Float64Array;
  /** 1 while the worker long-polls for a request. */
  readonly waiting: Uint8Array;
  /** 1 for slots created by a launch, 0 for the pre-created pool. */
  readonly launched: Uint8Array;
  /** The `<n>` of each slot's name. */
  readonly nameIndex: Int32Array;
  /** When each slot last booted (its last start or launch); NaN before the first. */
  readonly startedAtMs: Float64Array;
  /** When each slot's worker last became ready; NaN when it has not since its last boot. */
  readonly readyAtMs: Float64Array;
  /** When each slot's last run ended; NaN before the first end. */
  readonly exitAtMs: Float64Array;
  /** How it ended: an index into {@linkcode EXIT_KINDS}. */
  readonly exitKind: Uint8Array;
  readonly ids: string[] = [];
  readonly names: string[] = [];
  readonly #slotById = new Map<string, number>();
  readonly #slotByName = new Map<string, number>();

  /** @param capacity Most slots ever (instancesMax). */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.state = new Uint8Array(capacity);
    this.changedAtMs = new Float64Array(capacity);
    this.gen = new Int32Array(capacity);
    this.boots = new Int32Array(capacity);
    this.stops = new Int32Array(capacity);
    this.request = new Int32Array(capacity).fill(-1);
    this.receipt = new Int32Array(capacity);
    this.receivedAtMs = new Float64Array(capacity);
    this.waiting = new Uint8Array(capacity);
    this.launched = new Uint8Array(capacity);
    this.nameIndex = new Int32Array(capacity);
    this.startedAtMs = new Float64Array(capacity).fill(NaN);
    this.readyAtMs = new Float64Array(capacity).fill(NaN);
    this.exitAtMs = new Float64Array(capacity).fill(NaN);
    this.exitKind = new Uint8Array(capacity);
  }

  /**
   * Creates a slot in the stopped state.
   *
   * @param name Its name (`app-tier-instance-<n>`).
   * @param launched Whether a launch created it (else it is part of the pool).
   * @param nowMs Creation time.
   * @returns The slot.
   * @throws {SimInvariantError} past capacity: a policy broke the maximum.
   */
  create(name: string, launched: boolean, nowMs: number): number {
    if (this.count >= this.capacity) {
      throw new SimInvariantError(
        `launch of ${name} would make ${
          this.count + 1
        } instances, more than instancesMax ${this.capacity}`,
      );
    }
    const k = this.count++;
    this.state[k] = STOPPED;
    this.changedAtMs[k] = nowMs;
    this.launched[k] = launched ? 1 : 0;
    const id = `i-sim${String(k + 1).padStart(4, "0")}`;
    this.ids.push(id);
    this.names.push(name);
    const n = instanceNumber(name) ?? k + 1;
    this.nameIndex[k] = n;
    this.#slotById.set(id, k);
    this.#slotByName.set(name, k);
    this.inState[STOPPED]++;
    return k;
  }

  /** @returns The slot with this id, or -1. */
  slotOf(id: string): number {
    return this.#slotById.get(id) ?? -1;
  }

  /**
   * Moves a slot to a state, charging the time spent in the old one.
   *
   * @param k The slot.
   * @param to The new state.
   * @param nowMs Now.
   */
  transition(k: number, to: number, nowMs: number): void {
    const from = this.state[k];
    this.msInState[from] += nowMs - this.changedAtMs[k];
    this.inState[from]--;
    this.inState[to]++;
    this.state[k] = to;
    this.changedAtMs[k] = nowMs;
    this.gen[k]++;
    this.waiting[k] = 0;
  }

  /** Charges every slot's time up to `nowMs` (call once, at the end). */
  settle(nowMs: number): void {
    for (let k = 0; k < this.count; k++) {
      this.msInState[this.state[k]] += nowMs - this.changedAtMs[k];
      this.changedAtMs[k] = nowMs;
    }
  }
}
