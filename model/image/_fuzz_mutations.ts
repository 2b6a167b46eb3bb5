/**
 * Test-only fast-check arbitraries that damage a valid file the way the world does: flipped and
 * overwritten bytes, cuts, insertions, deletions, duplicated runs, and marker-shaped bytes (0xFF
 * followed by anything) that push a JPEG parser down unusual paths.
 * @module
 */
import * as fc from "fast-check";

/** One edit, with positions as fractions of the current length so they suit any file. */
export type Mutation =
  | { kind: "set"; at: number; value: number }
  | { kind: "xor"; at: number; mask: number }
  | { kind: "marker"; at: number; code: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "duplicate"; at: number; count: number };

// Unbiased: fast-check's default bias favours small values, i.e. the first bytes, which would
// mostly test the magic-number check.
const position = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);

/** Any single {@linkcode Mutation}. */
export const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    at: position,
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("xor" as const),
    at: position,
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("marker" as const),
    at: position,
    code: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: position }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: position,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: position,
    count: fc.integer({ min: 1, max: 256 }),
  }),
  fc.record({
    kind: fc.constant("duplicate" as const),
    at: position,
    count: fc.integer({ min: 1, max: 256 }),
  }),
);

/** Applies `mutation` to a copy of `bytes`. */
export function mutate(bytes: Uint8Array, mutation: Mutation): Uint8Array {
  const at = Math.floor(mutation.at * bytes.length);
  const out = bytes.slice();
  switch (mutation.kind) {
    case "set":
      out[at] = mutation.value;
      return out;
    case "xor":
      out[at] ^= mutation.mask;
      return out;
    case "marker":
      out[at] = 0xff;
      if (at + 1 < out.length) out[at + 1] = mutation.code;
      return out;
    case "truncate":
      return out.subarray(0, at);
    case "insert": {
      const grown = new Uint8Array(bytes.length + mutation.bytes.length);
      grown.set(bytes.subarray(0, at));
      grown.set(mutation.bytes, at);
      grown.set(bytes.subarray(at), at + mutation.bytes.length);
      return grown;
    }
    case "delete":
      return new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + mutation.count)]);
    case "duplicate": {
      const run = bytes.subarray(at, at + mutation.count);
      return new Uint8Array([
        ...bytes.subarray(0, at + run.length),
        ...run,
        ...bytes.subarray(at + run.length),
      ]);
    }
  }
}

/** Applies `mutations` in order. */
export function mutateAll(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  return mutations.reduce(mutate, bytes);
}
