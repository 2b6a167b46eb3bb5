import assert from "node:assert/strict";
import { durationAt, lognormalFromMedianP95, normalQuantile } from "./distributions.ts";

Deno.test("normalQuantile matches known quantiles of the standard normal", () => {
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
  assert.ok(Math.abs(normalQuantile(0.95) - 1.6448536269514722) < 1e-8);
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959963984540054) < 1e-8);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232306167813) < 1e-7);
  assert.ok(Math.abs(normalQuantile(0.999) - 3.090232306167813) < 1e-7);
});

Deno.test("durationAt reproduces the median and p95 it was fitted to", () => {
  const d = lognormalFromMedianP95("serviceMs", 550, 730);
  const n = 200_000;
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = durationAt(d, 77, i, 0);
  xs.sort();
  assert.ok(Math.abs(xs[n / 2] / 550 - 1) < 0.01, `median ${xs[n / 2]}`);
  assert.ok(Math.abs(xs[Math.floor(n * 0.95)] / 730 - 1) < 0.01, `p95 ${xs[Math.floor(n * 0.95)]}`);
});

Deno.test("lognormalFromMedianP95 gives a fixed duration when median equals p95", () => {
  const d = lognormalFromMedianP95("stopMs", 50, 50);
  assert.equal(durationAt(d, 1, 1, 0), 50);
  assert.equal(durationAt(lognormalFromMedianP95("x", 0, 0), 1, 1, 0), 0);
});

Deno.test("lognormalFromMedianP95 rejects an impossible pair naming the setting", () => {
  assert.throws(
    () => lognormalFromMedianP95("serviceMs", 500, 400),
    /serviceMsP95 must be .*>= serviceMsMedian/,
  );
  assert.throws(() => lognormalFromMedianP95("startMs", -1, 5), /startMsMedian/);
  assert.throws(() => lognormalFromMedianP95("uploadMs", 0, 5), /uploadMsMedian is 0/);
});
