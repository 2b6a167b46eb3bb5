import assert from "node:assert/strict";
import { INTEGER_KEYS } from "./config.ts";
import { parseSweep } from "./sweep.ts";

Deno.test("parseSweep spaces values evenly and accepts the flag spelling", () => {
  assert.deepEqual(parseSweep("keepAliveMs=0..20000:5", INTEGER_KEYS), {
    key: "keepAliveMs",
    values: [0, 5000, 10000, 15000, 20000],
  });
  assert.deepEqual(parseSweep("keep-alive-ms=0..1000:2", INTEGER_KEYS).values, [0, 1000]);
});

Deno.test("parseSweep rounds integer settings and drops duplicates", () => {
  assert.deepEqual(parseSweep("instancesMax=1..3:5", INTEGER_KEYS).values, [1, 2, 3]);
});

Deno.test("parseSweep rejects a bad spec saying what form it takes", () => {
  assert.throws(
    () => parseSweep("keepAliveMs=0-10", INTEGER_KEYS),
    /write PARAM=FROM\.\.TO\[:STEPS\]/,
  );
  assert.throws(() => parseSweep("colour=1..2", INTEGER_KEYS), /"colour" is not a numeric setting/);
  assert.throws(() => parseSweep("workerSelfStop=0..1", INTEGER_KEYS), /not a numeric setting/);
  assert.throws(() => parseSweep("tickMs=1..2:0", INTEGER_KEYS), /STEPS must be/);
});
