/**
 * Range checks for settings and options, checked once at start: a bad value throws a
 * `RangeError` that names the setting, the accepted range and the value given.
 * @module
 */

/**
 * Checks that `value` is a safe integer in `[min, max]`.
 *
 * @param name the setting's name, as the caller spells it (`visibilityTimeoutMs`)
 * @param value the value to check
 * @param min smallest accepted
 * @param max largest accepted
 * @throws {RangeError} `<name> must be an integer in [<min>, <max>], got <value>`
 * @example
 * ```ts
 * checkInteger("partsMax", 16, 1, 1_000); // ok
 * checkInteger("partsMax", 0, 1, 1_000); // RangeError: partsMax must be an integer in [1, 1000], got 0
 * ```
 */
export function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/**
 * Checks that `value` is a number (not NaN) in `[min, max]`; infinite only when a bound is.
 *
 * @param name the setting's name
 * @param value the value to check
 * @param min smallest accepted
 * @param max largest accepted
 * @throws {RangeError} `<name> must be a number in [<min>, <max>], got <value>`
 * @example
 * ```ts
 * checkNumber("keepAliveMs", 1500.5, 0, 86_400_000); // ok
 * ```
 */
export function checkNumber(name: string, value: number, min: number, max: number): void {
  if (typeof value !== "number" || Number.isNaN(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number in [${min}, ${max}], got ${value}`);
  }
}
