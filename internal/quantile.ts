/**
 * Quantiles, with one convention everywhere (load generator, simulator reports, the simulator's
 * validation against real runs, benchmarks): **nearest rank**. The q-quantile of n values is the
 * smallest value with at least q·n of the values at or below it, `sorted[ceil(q·n) − 1]` (the
 * first value for q = 0). It is always a value that was observed, so a p99 latency is a latency
 * some request had, and the median of an even count is the lower of the two middle values.
 * @module
 */

/**
 * The nearest-rank quantile of values already in ascending order (no copy, no sort: for several
 * quantiles of one large array).
 *
 * @param sorted values, ascending
 * @param q the quantile, in [0, 1] (0.5 the median, 0.99 the p99)
 * @returns the value, or NaN for no values
 * @throws {RangeError} for q outside [0, 1]
 * @example
 * ```ts
 * quantileSorted([1, 2, 3, 4], 0.5); // 2
 * quantileSorted([1, 2, 3, 4], 0.99); // 4
 * ```
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1];
}

/**
 * The nearest-rank quantile of values in any order (sorts a copy).
 *
 * @param values the values
 * @param q the quantile, in [0, 1]
 * @returns the value, or NaN for no values
 * @throws {RangeError} for q outside [0, 1]
 * @example
 * ```ts
 * quantile([30, 10, 20], 0.95); // 30
 * ```
 */
export function quantile(values: Iterable<number>, q: number): number {
  return quantileSorted(Float64Array.from(values).sort(), q);
}

/**
 * The nearest-rank median of values in any order: the middle value, the lower middle one for an
 * even count.
 *
 * @param values the values
 * @returns the median, or NaN for no values
 * @example
 * ```ts
 * median([5, 1, 3]); // 3
 * median([4, 1, 3, 2]); // 2
 * ```
 */
export function median(values: Iterable<number>): number {
  return quantile(values, 0.5);
}
