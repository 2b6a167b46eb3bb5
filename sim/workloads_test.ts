import assert from "node:assert/strict";
import {
  arrivalSources,
  expectedRequests,
  parseDurationMs,
  parseTraceCsv,
  parseWorkload,
  type Workload,
  workloadEndMs,
  WorkloadError,
} from "./workloads.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

function drain(workload: Workload, seed: number): number[][] {
  return arrivalSources(workload, seed).map((s) => {
    const out: number[] = [];
    for (let t = s.next(); t < Infinity; t = s.next()) out.push(t);
    return out;
  });
}

Deno.test("parseDurationMs reads units and takes a bare number as seconds", () => {
  assert.equal(parseDurationMs("24h", "d"), 86_400_000);
  assert.equal(parseDurationMs("90", "d"), 90_000);
  assert.equal(parseDurationMs("250ms", "d"), 250);
  assert.equal(parseDurationMs("1.5m", "d"), 90_000);
  assert.throws(() => parseDurationMs("soon", "duration"), /duration "soon" is not a duration/);
});

Deno.test("parseWorkload reads every term kind, sums and start offsets", () => {
  const w = parseWorkload(
    "burst:100+poisson:50:24h+ramp:0:20:10m@1m+diurnal:5:48h+diurnal:1:2h:1h+trace:t.csv@30s",
    () => "0\n1.5\n",
  );
  assert.deepEqual(w.terms.map((t) => t.kind), [
    "burst",
    "poisson",
    "ramp",
    "diurnal",
    "diurnal",
    "trace",
  ]);
  assert.deepEqual(w.terms[2], {
    kind: "ramp",
    fromPerS: 0,
    toPerS: 20,
    durationMs: 600_000,
    startMs: 60_000,
  });
  assert.equal(w.terms[3].kind === "diurnal" && w.terms[3].periodMs, 86_400_000);
  assert.equal(w.terms[5].startMs, 30_000);
});

Deno.test("parseWorkload says what is wrong with a bad term", () => {
  assert.throws(() => parseWorkload("bursts:5", noFiles), /unknown workload "bursts"/);
  assert.throws(() => parseWorkload("burst:-1", noFiles), /N must be a whole number/);
  assert.throws(() => parseWorkload("poisson:50", noFiles), /write poisson:RATE:DURATION/);
  assert.throws(() => parseWorkload("poisson:fast:1h", noFiles), /rate in "poisson:fast:1h"/);
  assert.throws(() => parseWorkload("trace:missing.csv", noFiles), WorkloadError);
});

Deno.test("burst and trace terms give exactly their arrivals", () => {
  const [burst, trace] = drain(
    parseWorkload("burst:3@2s+trace:x.csv@1s", () => "arrival_ms\n300\n100\n"),
    1,
  );
  assert.deepEqual(burst, [2000, 2000, 2000]);
  assert.deepEqual(trace, [1000, 1200]);
});

Deno.test("parseTraceCsv takes seconds by default, skips comments and names bad lines", () => {
  assert.deepEqual([...parseTraceCsv("# a trace\n10,x\n10.5,y\n", "t.csv")], [0, 500]);
  assert.throws(
    () => parseTraceCsv("1\nsoon\n", "t.csv"),
    /t\.csv:2: "soon" is not an arrival time/,
  );
  assert.throws(() => parseTraceCsv("", "t.csv"), /holds no arrival times/);
});

Deno.test("poisson, ramp and diurnal terms give their expected counts within noise", () => {
  for (const spec of ["poisson:20:10m", "ramp:0:40:10m", "diurnal:20:10m:5m"]) {
    const w = parseWorkload(spec, noFiles);
    const n = drain(w, 3)[0].length;
    const mean = expectedRequests(w);
    // Poisson count: standard deviation sqrt(mean); allow 5.
    assert.ok(Math.abs(n - mean) < 5 * Math.sqrt(mean), `${spec}: ${n} arrivals, expected ${mean}`);
    assert.ok(drain(w, 3)[0].every((t) => t >= 0 && t < workloadEndMs(w)));
  }
});

Deno.test("arrival streams replay for a seed and do not shift when a term is added", () => {
  const one = drain(parseWorkload("poisson:5:1m", noFiles), 9)[0];
  const again = drain(parseWorkload("poisson:5:1m", noFiles), 9)[0];
  const withBurst = drain(parseWorkload("poisson:5:1m+burst:10", noFiles), 9)[0];
  assert.deepEqual(again, one);
  assert.deepEqual(withBurst, one);
  assert.notDeepEqual(drain(parseWorkload("poisson:5:1m", noFiles), 10)[0], one);
});
