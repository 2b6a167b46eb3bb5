/**
 * The simulator's pending events: a binary min-heap ordered by (time, insertion sequence), kept in
 * typed arrays so that millions of events cost no garbage. An event is a small integer kind and
 * two integer arguments; what they mean is the simulation's business.
 * @module
 */

/** Raised when the queue would grow past its named limit. */
export class EventQueueFullError extends RangeError {
  override name = "EventQueueFullError";
}

/** A min-heap of events; {@linkcode pop} fills `timeMs`, `kind`, `a` and `b`. */
export class EventQueue {
  /** Pending events. */
  size = 0;
  /** The popped event's time. */
  timeMs = 0;
  /** The popped event's kind. */
  kind = 0;
  /** The popped event's first argument. */
  a = 0;
  /** The popped event's second argument. */
  b = 0;

  #times: Float64Array;
  #seqs: Float64Array;
  #kinds: Uint8Array;
  #as: Int32Array;
  #bs: Int32Array;
  #nextSeq = 0;
  readonly #capacityMax: number;

  /**
   * @param capacityMax Most events pending at once; a run that needs more is wrong (a leak).
   * @param capacityInitial Starting capacity; grows by doubling.
   */
  constructor(capacityMax: number, capacityInitial = 1024) {
    this.#capacityMax = capacityMax;
    const n = Math.max(2, Math.min(capacityInitial, capacityMax));
    this.#times = new Float64Array(n);
    this.#seqs = new Float64Array(n);
    this.#kinds = new Uint8Array(n);
    this.#as = new Int32Array(n);
    this.#bs = new Int32Array(n);
  }

  /**
   * Adds an event. Ties in time keep insertion order.
   *
   * @param timeMs When it happens.
   * @param kind Its kind (0..255).
   * @param a First argument (int32).
   * @param b Second argument (int32).
   * @throws {EventQueueFullError} past `capacityMax`.
   */
  push(timeMs: number, kind: number, a: number, b: number): void {
    if (this.size === this.#times.length) this.#grow();
    const seq = this.#nextSeq++;
    const times = this.#times;
    const seqs = this.#seqs;
    let hole = this.size++;
    // Sift up: move parents down into the hole until the new event's place is found.
    while (hole > 0) {
      const parent = (hole - 1) >> 1;
      const pt = times[parent];
      if (pt < timeMs || (pt === timeMs && seqs[parent] < seq)) break;
      this.#move(parent, hole);
      hole = parent;
    }
    times[hole] = timeMs;
    seqs[hole] = seq;
    this.#kinds[hole] = kind;
    this.#as[hole] = a;
    this.#bs[hole] = b;
  }

  /**
   * Removes the earliest event into `timeMs`, `kind`, `a`, `b`.
   *
   * @returns False when the queue is empty.
   */
  pop(): boolean {
    if (this.size === 0) return false;
    const times = this.#times;
    const seqs = this.#seqs;
    this.timeMs = times[0];
    this.kind = this.#kinds[0];
    this.a = this.#as[0];
    this.b = this.#bs[0];
    const last = --this.size;
    if (last === 0) return true;
    const lt = times[last];
    const ls = seqs[last];
    let hole = 0;
    // Sift down: move the smaller child up into the hole until the last event fits.
    for (;;) {
      let child = 2 * hole + 1;
      if (child >= last) break;
      const right = child + 1;
      if (
        right < last &&
        (times[right] < times[child] ||
          (times[right] === times[child] && seqs[right] < seqs[child]))
      ) child = right;
      const ct = times[child];
      if (ct > lt || (ct === lt && seqs[child] > ls)) break;
      this.#move(child, hole);
      hole = child;
    }
    this.#move(last, hole);
    return true;
  }

  /** @returns The earliest pending time, or Infinity when empty. */
  peekTimeMs(): number {
    return this.size === 0 ? Infinity : this.#times[0];
  }

  #move(from: number, to: number): void {
    this.#times[to] = this.#times[from];
    this.#seqs[to] = this.#seqs[from];
    this.#kinds[to] = this.#kinds[from];
    this.#as[to] = this.#as[from];
    this.#bs[to] = this.#bs[from];
  }

  #grow(): void {
    const n = this.#times.length;
    if (n >= this.#capacityMax) {
      throw new EventQueueFullError(
        `more than ${this.#capacityMax} events pending at once (eventsPendingMax); the model leaks events or the limit is too low`,
      );
    }
    const m = Math.min(n * 2, this.#capacityMax);
    const grow = <T extends Float64Array | Uint8Array | Int32Array>(
      old: T,
      make: (k: number) => T,
    ) => {
      const fresh = make(m);
      fresh.set(old as never);
      return fresh;
    };
    this.#times = grow(this.#times, (k) => new Float64Array(k));
    this.#seqs = grow(this.#seqs, (k) => new Float64Array(k));
    this.#kinds = grow(this.#kinds, (k) => new Uint8Array(k));
    this.#as = grow(this.#as, (k) => new Int32Array(k));
    this.#bs = grow(this.#bs, (k) => new Int32Array(k));
  }
}
