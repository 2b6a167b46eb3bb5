import assert from "node:assert/strict";
import { checkInteger, checkNumber } from "./check_range.ts";

Deno.test("checkInteger accepts the bounds and names the setting, range and value otherwise", () => {
  checkInteger("partsMax", 1, 1, 1_000);
  checkInteger("partsMax", 1_000, 1, 1_000);
  for (const bad of [0, 1_001, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(
      () => checkInteger("partsMax", bad, 1, 1_000),
      new RangeError(`partsMax must be an integer in [1, 1000], got ${bad}`),
    );
  }
  assert.throws(() => checkInteger("n", "3" as unknown as number, 0, 9), RangeError);
});

Deno.test("checkNumber takes fractions, refuses NaN, and takes Infinity only as a bound allows", () => {
  checkNumber("keepAliveMs", 0.5, 0, 10);
  checkNumber("requestsMax", Infinity, 1, Infinity);
  for (const bad of [NaN, -1, 10.5, Infinity]) {
    assert.throws(
      () => checkNumber("keepAliveMs", bad, 0, 10),
      new RangeError(`keepAliveMs must be a number in [0, 10], got ${bad}`),
    );
  }
  assert.throws(() => checkNumber("n", "3" as unknown as number, 0, 9), RangeError);
});
