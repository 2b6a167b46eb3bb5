import assert from "node:assert/strict";
import fc from "fast-check";
import { median, quantile, quantileSorted } from "./quantile.ts";

Deno.test("quantileSorted takes the nearest rank of 1..100", () => {
  const xs = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantileSorted(xs, 0.5), 50);
  assert.equal(quantileSorted(xs, 0.95), 95);
  assert.equal(quantileSorted(xs, 0.99), 99);
  assert.equal(quantileSorted(xs, 1), 100);
  assert.equal(quantileSorted(xs, 0), 1);
  assert.equal(quantileSorted([7], 0.95), 7);
});

Deno.test("quantileSorted gives NaN for no values and refuses q outside [0, 1]", () => {
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
  assert.throws(() => quantileSorted([1, 2], 50), /q must be in \[0, 1\], got 50/);
  assert.throws(() => quantileSorted([1, 2], -0.1), RangeError);
  assert.throws(() => quantileSorted([1, 2], NaN), RangeError);
});

Deno.test("quantile sorts a copy numerically and leaves its input alone", () => {
  const xs = [30, 4, 100, 10, 20];
  assert.equal(quantile(xs, 0.5), 20);
  assert.equal(quantile(xs, 0.2), 4);
  assert.equal(quantile(xs, 0.99), 100);
  assert.deepEqual(xs, [30, 4, 100, 10, 20]);
});

Deno.test("median is the middle value, the lower middle one for an even count", () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("quantile is an observed value with at least q of the values at or below it", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ noNaN: true })), {
        minLength: 1,
      }),
      fc.integer({ min: 0, max: 1000 }).map((k) => k / 1000),
      (values, q) => {
        const v = quantile(values, q);
        assert.ok(values.includes(v));
        const atOrBelow = values.filter((x) => x <= v).length;
        const below = values.filter((x) => x < v).length;
        assert.ok(atOrBelow >= q * values.length, "at least q at or below");
        assert.ok(below < Math.max(1, q * values.length), "the smallest such value");
      },
    ),
  );
});
