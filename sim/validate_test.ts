import assert from "node:assert/strict";
import { resolveSimConfig } from "./config.ts";
import { buildReport } from "./report.ts";
import { simulate } from "./simulation.ts";
import { compare, parseReadyMs, parseStackBurst } from "./validate.ts";
import { parseWorkload } from "./workloads.ts";

Deno.test("parseStackBurst reads loadgen's JSON and names a missing field", () => {
  const text = JSON.stringify({
    url: "http://localhost:8000",
    requests: 100,
    successes: 100,
    totalS: 31.2,
    latencyMs: { average: 15000, p50: 16000, p95: 29000, p99: 30500, max: 31000 },
  });
  assert.deepEqual(parseStackBurst(text), {
    requests: 100,
    successes: 100,
    totalS: 31.2,
    latencyMs: { p50: 16000, p95: 29000 },
  });
  assert.throws(() => parseStackBurst("{}"), /lacks a numeric requests/);
});

Deno.test("parseReadyMs picks the workers' ready lines out of mixed output", () => {
  const log = [
    "listening on :8000",
    '{"component":"worker","worker":"app-tier-instance-1","event":"ready","importMs":40,"readyMs":1830.5}',
    '{"component":"controller","decisions":[]}',
    '{"component":"worker","event":"ready","readyMs":2010}',
  ].join("\n");
  assert.deepEqual(parseReadyMs(log), [1830.5, 2010]);
});

Deno.test("compare passes a simulated burst against itself and fails one 30% off", () => {
  const reports = [1, 2, 3].map((seed) =>
    buildReport(simulate(resolveSimConfig({ seed }, "local"), parseWorkload("burst:100", () => "")))
  );
  const mid = [...reports].sort((a, b) => a.makespanMs - b.makespanMs)[1];
  const same = {
    requests: 100,
    successes: 100,
    totalS: mid.makespanMs / 1000,
    latencyMs: { p50: mid.latencyMs.p50, p95: mid.latencyMs.p95 },
  };
  assert.ok(compare(same, reports)[0].within);
  const slow = { ...same, totalS: same.totalS * 1.3 };
  const row = compare(slow, reports)[0];
  assert.equal(row.within, false);
  assert.ok(row.errorPct < -15);
});
