/**
 * The run's timeline for the SVG: periodic samples of queue depth, in-flight messages, instances
 * by state and completions. Memory is bounded: when `samplesMax` is reached, neighbouring samples
 * merge (gauges keep their maximum, completions add up) and the period doubles.
 * @module
 */

/** Series names in sample order. */
export const SERIES = [
  "visible",
  "inFlight",
  "pending",
  "busy",
  "idle",
  "stopping",
  "completions",
] as const;

/** One series' name. */
export type SeriesName = typeof SERIES[number];

/** Bounded samples at a (doubling) period. */
export class Timeline {
  /** Current sampling period. */
  periodMs: number;
  /** Samples kept. */
  size = 0;
  readonly timesMs: Float64Array;
  readonly series: Record<SeriesName, Float64Array>;
  readonly #samplesMax: number;

  /**
   * @param periodMs Initial sampling period.
   * @param samplesMax Most samples kept (even, >= 16).
   */
  constructor(periodMs: number, samplesMax: number) {
    this.periodMs = periodMs;
    this.#samplesMax = samplesMax - (samplesMax % 2);
    this.timesMs = new Float64Array(this.#samplesMax);
    this.series = Object.fromEntries(
      SERIES.map((name) => [name, new Float64Array(this.#samplesMax)]),
    ) as Record<SeriesName, Float64Array>;
  }

  /**
   * Adds a sample; merges pairs first if full.
   *
   * @param timeMs The sample's time.
   * @param values One value per series, in {@linkcode SERIES} order.
   */
  add(timeMs: number, values: readonly number[]): void {
    if (this.size === this.#samplesMax) this.#halve();
    const i = this.size++;
    this.timesMs[i] = timeMs;
    for (let s = 0; s < SERIES.length; s++) this.series[SERIES[s]][i] = values[s];
  }

  #halve(): void {
    const half = this.size >> 1;
    for (let j = 0; j < half; j++) {
      this.timesMs[j] = this.timesMs[2 * j];
      for (const name of SERIES) {
        const a = this.series[name];
        a[j] = name === "completions" ? a[2 * j] + a[2 * j + 1] : Math.max(a[2 * j], a[2 * j + 1]);
      }
    }
    this.size = half;
    this.periodMs *= 2;
  }
}
