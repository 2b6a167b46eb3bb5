/**
 * The converters `deno task model:build` runs, in build order.
 * @module
 */
import type { Converter } from "./types.ts";

/** All converters. Each network's converter adds itself here. */
export const CONVERTERS: readonly Converter[] = [];
