import assert from "node:assert/strict";
import { resolveSimConfig } from "./config.ts";
import { oracleBound, sumOfSmallest } from "./oracle.ts";
import { seedsOf } from "./simulation.ts";

Deno.test("sumOfSmallest equals sorting and summing, for any order", () => {
  let x = 12345;
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + (trial * 37) % 400;
    const values = Float64Array.from({ length: n }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return (x % 1000) / 7;
    });
    const k = 1 + (trial * 13) % n;
    const expected = [...values].sort((a, b) => a - b).slice(0, k).reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sumOfSmallest(values, k) - expected) < 1e-9);
  }
});

Deno.test("oracleBound for a burst of equal services is boot + ceil(N / max) × service", () => {
  const config = resolveSimConfig({
    instancesMax: 15,
    startMsMedian: 20_000,
    startMsP95: 20_000,
    serviceMsMedian: 500,
    serviceMsP95: 500,
    uploadMsMedian: 0,
    uploadMsP95: 0,
    responseMsMedian: 0,
    responseMsP95: 0,
  });
  const n = 100;
  const draws = {
    uploadMs: new Float32Array(n),
    serviceMs: new Float32Array(n).fill(500),
    responseMs: new Float32Array(n),
  };
  const bound = oracleBound({ config, seeds: seedsOf(1), arrivalsMs: new Float64Array(n), draws });
  assert.equal(bound.makespanMs, 20_000 + Math.ceil(100 / 15) * 500);
  assert.equal(bound.instanceSeconds, 50);
});

Deno.test("oracleBound for a slow trickle is each request's own time, not the fleet's", () => {
  const config = resolveSimConfig({ startMsMedian: 1000, startMsP95: 1000 });
  const arrivals = Float64Array.from([0, 60_000]);
  const draws = {
    uploadMs: Float32Array.from([10, 10]),
    serviceMs: Float32Array.from([500, 500]),
    responseMs: Float32Array.from([20, 20]),
  };
  const bound = oracleBound({ config, seeds: seedsOf(1), arrivalsMs: arrivals, draws });
  assert.equal(bound.makespanMs, 60_000 + 10 + 500 + 20);
});
