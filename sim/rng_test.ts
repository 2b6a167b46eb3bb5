import assert from "node:assert/strict";
import { deriveSeed, Prng, uniformAt } from "./rng.ts";

Deno.test("deriveSeed gives stable, distinct sub-seeds per label and seed", () => {
  assert.equal(deriveSeed(7, "service"), deriveSeed(7, "service"));
  const labels = ["service", "upload", "response", "start", "launch", "stop", "faults"];
  const seeds = new Set(labels.map((l) => deriveSeed(7, l)));
  assert.equal(seeds.size, labels.length);
  assert.notEqual(deriveSeed(7, "service"), deriveSeed(8, "service"));
});

Deno.test("uniformAt is a pure function of its key and stays strictly inside (0, 1)", () => {
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const u = uniformAt(123, i, 0);
    assert.ok(u > 0 && u < 1);
    sum += u;
  }
  assert.equal(uniformAt(123, 42, 1), uniformAt(123, 42, 1));
  assert.notEqual(uniformAt(123, 42, 1), uniformAt(123, 42, 2));
  // Mean of 1e5 uniforms: standard error 0.0009.
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.005, `mean ${sum / 100_000}`);
});

Deno.test("uniformAt draws for neighbouring indices are uncorrelated", () => {
  const n = 50_000;
  let sxy = 0;
  for (let i = 0; i < n; i++) sxy += (uniformAt(9, i, 0) - 0.5) * (uniformAt(9, i + 1, 0) - 0.5);
  // Correlation = sxy / n / (1/12); its standard error is about 1/sqrt(n) = 0.0045.
  assert.ok(Math.abs((sxy / n) * 12) < 0.03);
});

Deno.test("Prng replays the same stream for the same seed and has the right exponential mean", () => {
  const a = new Prng(5);
  const b = new Prng(5);
  for (let i = 0; i < 10; i++) assert.equal(a.nextUint32(), b.nextUint32());
  const r = new Prng(11);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) sum += r.nextExponentialMs(0.05);
  assert.ok(Math.abs(sum / 100_000 - 20) < 0.4, `mean ${sum / 100_000}`);
});
