/**
 * The request queue, modelled on SQS as the service uses it: messages become visible when sent,
 * a receive takes the oldest visible message or long-polls until one appears, a received message
 * is invisible (in flight) until deleted or until its visibility timeout passes, and the counts a
 * controller reads (`ApproximateNumberOfMessages...`) may lag the truth by `countLagMs`.
 *
 * This class keeps the data; the simulation decides when things happen.
 * @module
 */
import { SimInvariantError } from "./engine.ts";

/** A message's state. */
export const MSG_UPLOADING = 0;
/** Visible: receivable. */
export const MSG_VISIBLE = 1;
/** Received and not yet deleted. */
export const MSG_IN_FLIGHT = 2;
/** Deleted. */
export const MSG_DELETED = 3;

/** SQS-like queue state: visible FIFO, in-flight count, receipts, lagged counts. */
export class RequestQueue {
  /** Messages visible now. */
  visible = 0;
  /** Messages in flight now. */
  inFlight = 0;
  /** Delayed messages (the service sends none; kept for the controller's observation). */
  readonly delayed = 0;

  #ring: Int32Array;
  #head = 0;
  readonly #messagesMax: number;
  readonly #lagMs: number;
  // Change points of (visible, inFlight), for lagged reads: a ring of (time, visible, inFlight).
  #histT: Float64Array;
  #histV: Int32Array;
  #histF: Int32Array;
  #histHead = 0;
  #histCount = 0;

  /**
   * @param messagesMax Most messages visible at once (the run's requestsMax).
   * @param countLagMs How old the counts a controller reads are.
   */
  constructor(messagesMax: number, countLagMs: number) {
    this.#messagesMax = messagesMax;
    this.#lagMs = countLagMs;
    this.#ring = new Int32Array(1024);
    this.#histT = new Float64Array(countLagMs > 0 ? 256 : 0);
    this.#histV = new Int32Array(this.#histT.length);
    this.#histF = new Int32Array(this.#histT.length);
  }

  /**
   * Appends a message to the visible FIFO.
   *
   * @param id The message (request) id.
   */
  pushVisible(id: number): void {
    if (this.visible === this.#ring.length) this.#growRing();
    this.#ring[(this.#head + this.visible) & (this.#ring.length - 1)] = id;
    this.visible++;
  }

  /**
   * Removes the oldest visible message. Call only when `visible > 0`.
   *
   * @returns Its id.
   */
  popVisible(): number {
    if (this.visible === 0) throw new SimInvariantError("popVisible on an empty queue");
    const id = this.#ring[this.#head];
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    this.visible--;
    return id;
  }

  /**
   * Records the counts as of `nowMs`, for lagged reads. Call after every change.
   *
   * @param nowMs The time of the change.
   */
  record(nowMs: number): void {
    if (this.#lagMs <= 0) return;
    const n = this.#histT.length;
    if (this.#histCount > 0) {
      const last = (this.#histHead + this.#histCount - 1) % n;
      if (this.#histT[last] === nowMs) {
        this.#histV[last] = this.visible;
        this.#histF[last] = this.inFlight;
        return;
      }
    }
    if (this.#histCount === n) this.#growHistory();
    const i = (this.#histHead + this.#histCount) % this.#histT.length;
    this.#histT[i] = nowMs;
    this.#histV[i] = this.visible;
    this.#histF[i] = this.inFlight;
    this.#histCount++;
  }

  /**
   * The counts a controller reads at `nowMs`: the truth as of `nowMs - countLagMs`. Reads must
   * come in non-decreasing time (older history is discarded).
   *
   * @param nowMs The read's time.
   * @returns visible and inFlight as seen.
   */
  observe(nowMs: number): { visible: number; inFlight: number } {
    if (this.#lagMs <= 0) return { visible: this.visible, inFlight: this.inFlight };
    const asOf = nowMs - this.#lagMs;
    const n = this.#histT.length;
    while (this.#histCount >= 2 && this.#histT[(this.#histHead + 1) % n] <= asOf) {
      this.#histHead = (this.#histHead + 1) % n;
      this.#histCount--;
    }
    if (this.#histCount === 0 || this.#histT[this.#histHead] > asOf) {
      return { visible: 0, inFlight: 0 };
    }
    return { visible: this.#histV[this.#histHead], inFlight: this.#histF[this.#histHead] };
  }

  #growRing(): void {
    const n = this.#ring.length;
    if (n * 2 > this.#messagesMax * 2 + 1024) {
      throw new SimInvariantError(`more than ${this.#messagesMax} messages visible (requestsMax)`);
    }
    const fresh = new Int32Array(n * 2);
    for (let k = 0; k < this.visible; k++) fresh[k] = this.#ring[(this.#head + k) & (n - 1)];
    this.#ring = fresh;
    this.#head = 0;
  }

  #growHistory(): void {
    const n = this.#histT.length;
    // Bounded by the changes within one lag window; each doubling copies in order.
    const t = new Float64Array(n * 2);
    const v = new Int32Array(n * 2);
    const f = new Int32Array(n * 2);
    for (let k = 0; k < this.#histCount; k++) {
      const j = (this.#histHead + k) % n;
      t[k] = this.#histT[j];
      v[k] = this.#histV[j];
      f[k] = this.#histF[j];
    }
    this.#histT = t;
    this.#histV = v;
    this.#histF = f;
    this.#histHead = 0;
  }
}
