/**
 * Option merging: `{ ...DEFAULTS, ...dropUndefined(options) }` lets a caller pass an option as
 * `undefined` (an unset flag) and still get its default, where a plain spread would overwrite the
 * default with `undefined`.
 * @module
 */

/**
 * A copy of `options` without the keys whose value is `undefined`.
 *
 * @param options any options object
 * @returns the same keys and values, minus the undefined ones
 * @example
 * ```ts
 * const merged = { ...{ a: 1, b: 2 }, ...dropUndefined({ a: undefined, b: 3 }) }; // { a: 1, b: 3 }
 * ```
 */
export function dropUndefined<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
