/**
 * Seeded randomness for the simulator. One seed drives a run; every consumer gets its own
 * sub-seed derived from it by name, so adding a consumer does not shift the others' numbers.
 *
 * Two kinds of source:
 * - {@linkcode Prng}: a sequential generator (sfc32) for streams consumed in order (arrivals).
 * - {@linkcode uniformAt}: a counter-based draw keyed by (seed, index, lane), for quantities that
 *   belong to a thing rather than to a moment: request 17's service time, instance 3's second boot.
 *   Keyed draws are the same whatever order events happen in, so two policies run on the same seed
 *   see the same requests and the same machines (common random numbers), and the oracle can
 *   recompute them.
 * @module
 */

/** Murmur3's 32-bit finaliser: a bijection with full avalanche. */
export function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Derives a named sub-seed from a run's seed.
 *
 * @param seed The run's seed (an unsigned 32-bit integer).
 * @param label The consumer's name, e.g. "service".
 * @returns An unsigned 32-bit sub-seed.
 * @example
 * ```ts
 * const serviceSeed = deriveSeed(7, "service");
 * ```
 */
export function deriveSeed(seed: number, label: string): number {
  let h = fmix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < label.length; i++) {
    h = fmix32((h ^ label.charCodeAt(i)) + 0x632be5ab);
  }
  return h;
}

/**
 * A uniform draw in (0, 1) keyed by (seed, index, lane): the same key always gives the same value.
 *
 * @param seed A sub-seed from {@linkcode deriveSeed}.
 * @param index Which thing (request id, instance slot).
 * @param lane Which draw of that thing (0, 1, ...).
 * @returns A number strictly between 0 and 1 (32-bit resolution).
 */
export function uniformAt(seed: number, index: number, lane: number): number {
  const a = fmix32((seed + Math.imul(index, 0x9e3779b9)) ^ Math.imul(lane + 1, 0x632be5ab));
  const b = fmix32(a ^ (seed >>> 7) ^ Math.imul(index, 0x27d4eb2f));
  return (b + 0.5) / 4294967296;
}

/** sfc32: a small, fast generator with a 128-bit state, seeded from one 32-bit sub-seed. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed A sub-seed from {@linkcode deriveSeed}. */
  constructor(seed: number) {
    this.#a = fmix32(seed ^ 0xa341316c);
    this.#b = fmix32(seed ^ 0xc8013ea4);
    this.#c = fmix32(seed ^ 0xad90777d);
    this.#d = 1;
    // The first outputs of a fresh sfc32 are weakly mixed; discard them.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** @returns The next unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** @returns A number strictly between 0 and 1. */
  nextUniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /**
   * @param ratePerMs Events per millisecond (> 0).
   * @returns An exponential inter-arrival time in milliseconds.
   */
  nextExponentialMs(ratePerMs: number): number {
    return -Math.log(this.nextUniform()) / ratePerMs;
  }
}
