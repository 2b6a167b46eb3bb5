import assert from "node:assert/strict";
import { resolveSimConfig } from "./config.ts";
import { quantileSorted } from "../internal/mod.ts";
import { buildReport, reportText } from "./report.ts";
import { simulate } from "./simulation.ts";
import { sweepSvg, timelineSvg } from "./svg.ts";
import { parseWorkload } from "./workloads.ts";

const noFiles = (p: string): string => {
  throw new Error(p);
};

Deno.test("report latencies take the nearest rank, and read 0 for a run that completed nothing", () => {
  const xs = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantileSorted(xs, 0.5), 50);
  assert.equal(quantileSorted(xs, 0.99), 99);
  assert.equal(quantileSorted(xs, 1), 100);
  const empty = buildReport(
    simulate(resolveSimConfig({ seed: 7 }), parseWorkload("burst:0", noFiles)),
  );
  assert.equal(empty.completed, 0);
  assert.deepEqual(empty.latencyMs, { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
});

Deno.test("reportText names every headline figure a reader looks for", () => {
  const report = buildReport(
    simulate(resolveSimConfig({ seed: 7 }), parseWorkload("burst:20", noFiles)),
  );
  const text = reportText(report);
  for (
    const word of [
      "makespan",
      "oracle",
      "p50",
      "p95",
      "p99",
      "instance-s",
      "busy",
      "idle",
      "cold starts",
      "time to zero",
      "SLO",
    ]
  ) {
    assert.ok(text.includes(word), `missing ${word}`);
  }
  assert.equal(report.timeToZeroMs !== null && report.timeToZeroMs >= 0, true);
});

Deno.test("timelineSvg draws instances by state, queue depth, in-flight and completions", () => {
  const result = simulate(resolveSimConfig({ seed: 7 }), parseWorkload("burst:100", noFiles));
  const svg = timelineSvg(buildReport(result), result.timeline);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  for (
    const label of [
      "busy",
      "pending (booting)",
      "queue depth (visible)",
      "in flight",
      "completions per",
    ]
  ) {
    assert.ok(svg.includes(label), `missing ${label}`);
  }
  assert.equal((svg.match(/<polygon /g) ?? []).length, 4);
  assert.ok(!svg.includes("NaN") && !svg.includes("Infinity"));
});

Deno.test("sweepSvg plots one labelled point per run", () => {
  const points = [1000, 5000].map((tickMs) => ({
    value: tickMs,
    report: buildReport(
      simulate(resolveSimConfig({ seed: 1, tickMs }), parseWorkload("burst:10", noFiles)),
    ),
  }));
  const svg = sweepSvg("tickMs", points);
  assert.equal((svg.match(/<circle /g) ?? []).length, 2);
  assert.ok(svg.includes(">5000</text>"));
  assert.ok(svg.includes("sweeping tickMs"));
  assert.ok(!svg.includes("NaN"));
});
