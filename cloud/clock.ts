/**
 * Time as an input. Adapters whose policy depends on time (visibility timeouts, long polls,
 * stop grace periods) take a {@linkcode Clock}, so the simulator can run the same code in
 * virtual time and tests can move time by hand.
 * @module
 */

/** A source of time and waiting. */
export interface Clock {
  /** Milliseconds since the Unix epoch (virtual clocks may start anywhere, but never go back). */
  nowMs(): number;
  /**
   * Resolves after `durationMs`, or early (without throwing) when `signal` aborts.
   * @param durationMs how long to wait; 0 or less yields once
   * @param signal cuts the wait short
   */
  sleepMs(durationMs: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The real clock: wall time and real timers. This is the only place the cloud code reads
 * `Date.now` or sets timers for policy; adapters receive it as a default option.
 */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleepMs(durationMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, durationMs));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

/** A clock moved by hand; for tests of time-dependent policy. Sleeps resolve when time passes. */
export class ManualClock implements Clock {
  #nowMs: number;
  #sleepers: { untilMs: number; resolve: () => void }[] = [];

  /** @param startMs the initial time */
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  nowMs(): number {
    return this.#nowMs;
  }

  sleepMs(durationMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || durationMs <= 0) return resolve();
      const sleeper = { untilMs: this.#nowMs + durationMs, resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  }

  /**
   * Moves time forward and wakes every sleeper whose deadline passed.
   * @param durationMs how far; must not be negative (time never goes back)
   * @throws {RangeError} when `durationMs` is negative or not finite
   */
  advanceMs(durationMs: number): void {
    if (!(durationMs >= 0) || !Number.isFinite(durationMs)) {
      throw new RangeError(`advanceMs needs a finite duration >= 0, got ${durationMs}`);
    }
    this.#nowMs += durationMs;
    const due = this.#sleepers.filter((s) => s.untilMs <= this.#nowMs);
    this.#sleepers = this.#sleepers.filter((s) => s.untilMs > this.#nowMs);
    for (const s of due) s.resolve();
  }
}
