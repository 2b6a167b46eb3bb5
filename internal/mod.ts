/**
 * Small helpers every folder may import, and that import nothing: option merging, range checks
 * and quantiles. Only what at least two folders use lives here; it is not a grab-bag. The
 * command-line conventions every command shares are `cli.ts`, imported directly (commands only).
 * @module
 */
export { checkInteger, checkNumber } from "./check_range.ts";
export { dropUndefined } from "./drop_undefined.ts";
export { median, quantile, quantileSorted } from "./quantile.ts";
