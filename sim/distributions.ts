/**
 * Durations drawn from distributions described the way people measure them: a median and a 95th
 * percentile. A lognormal fits both exactly (mu = ln median, sigma = ln(p95 / median) / z95); a
 * median equal to the p95 means a fixed value.
 * @module
 */
import { uniformAt } from "./rng.ts";

/** z such that P(N(0,1) <= z) = 0.95. */
export const Z95 = 1.6448536269514722;

/** A duration distribution, fitted once. */
export interface DurationDistribution {
  readonly medianMs: number;
  readonly p95Ms: number;
  /** ln(medianMs). */
  readonly mu: number;
  /** 0 for a fixed duration. */
  readonly sigma: number;
}

/**
 * Fits a lognormal to a median and a 95th percentile.
 *
 * @param name The setting's name, for the error message (e.g. "serviceMs").
 * @param medianMs The median, > 0 (or 0 with p95 0: always zero).
 * @param p95Ms The 95th percentile, >= medianMs.
 * @returns The fitted distribution.
 * @throws {RangeError} naming the setting when the pair is impossible.
 * @example
 * ```ts
 * const service = lognormalFromMedianP95("serviceMs", 550, 730);
 * ```
 */
export function lognormalFromMedianP95(
  name: string,
  medianMs: number,
  p95Ms: number,
): DurationDistribution {
  if (!Number.isFinite(medianMs) || medianMs < 0) {
    throw new RangeError(`${name}Median must be a finite number >= 0, got ${medianMs}`);
  }
  if (!Number.isFinite(p95Ms) || p95Ms < medianMs) {
    throw new RangeError(
      `${name}P95 must be a finite number >= ${name}Median (${medianMs}), got ${p95Ms}`,
    );
  }
  if (medianMs === 0 && p95Ms > 0) {
    throw new RangeError(
      `${name}Median is 0 but ${name}P95 is ${p95Ms}; a lognormal needs a median > 0`,
    );
  }
  if (medianMs === 0) return { medianMs, p95Ms, mu: -Infinity, sigma: 0 };
  return { medianMs, p95Ms, mu: Math.log(medianMs), sigma: Math.log(p95Ms / medianMs) / Z95 };
}

// Acklam's rational approximation of the normal quantile (relative error < 1.2e-9): one uniform
// per draw and, in the central 95%, no transcendental call — sampling dominated run time with
// Box-Muller.
const A = [
  -39.69683028665376,
  220.9460984245205,
  -275.9285104469687,
  138.357751867269,
  -30.66479806614716,
  2.506628277459239,
];
const B = [
  -54.47609879822406,
  161.5858368580409,
  -155.6989798598866,
  66.80131188771972,
  -13.28068155288572,
];
const C = [
  -0.007784894002430293,
  -0.3223964580411365,
  -2.400758277161838,
  -2.549732539343734,
  4.374664141464968,
  2.938163982698783,
];
const D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/**
 * The standard normal quantile: the z with P(N(0,1) <= z) = p.
 *
 * @param p In (0, 1).
 * @returns z.
 */
export function normalQuantile(p: number): number {
  if (p < P_LOW) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - P_LOW) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

function tail(q: number): number {
  return (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
    ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
}

/**
 * The duration keyed by (seed, index, lane): the same key always gives the same duration.
 *
 * @param dist The distribution.
 * @param seed A sub-seed.
 * @param index Which thing (request id, instance slot).
 * @param lane Which draw of that thing.
 * @returns A duration in milliseconds.
 */
export function durationAt(
  dist: DurationDistribution,
  seed: number,
  index: number,
  lane: number,
): number {
  if (dist.sigma === 0) return dist.medianMs;
  return Math.exp(dist.mu + dist.sigma * normalQuantile(uniformAt(seed, index, lane)));
}
