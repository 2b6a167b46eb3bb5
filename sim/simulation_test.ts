import assert from "node:assert/strict";
import * as fc from "fast-check";
import { type ProfileName, resolveSimConfig, type SimOptions } from "./config.ts";
import { POLICY_NAMES, type PolicyName } from "./policies.ts";
import { buildReport, reportJson } from "./report.ts";
import { simulate } from "./simulation.ts";
import { parseWorkload } from "./workloads.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

function run(
  spec: string,
  options: SimOptions,
  policy: PolicyName = "controller",
  profile: ProfileName = "aws",
) {
  const config = resolveSimConfig(options, profile);
  const result = simulate(config, parseWorkload(spec, noFiles), { policy });
  return { config, result, report: buildReport(result) };
}

Deno.test("simulate answers burst:100 (seed 7) within 1.15 × the oracle makespan, at 15 instances", () => {
  const { report } = run("burst:100", { seed: 7 });
  assert.equal(report.outcome, "ok");
  assert.equal(report.completed, 100);
  assert.equal(report.instancesMax, 15);
  assert.ok(report.makespanMs >= report.oracle.makespanMs);
  assert.ok(report.ratio.makespan <= 1.15, `ratio ${report.ratio.makespan}`);
  assert.equal(report.coldStarts, 15);
  assert.equal(report.launches, 0, "the stopped pool is started, not launched");
});

Deno.test("simulate gives a byte-identical JSON report for the same seed, a different one for another", () => {
  const spec = "poisson:5:2m+burst:40@30s";
  const a = reportJson(run(spec, { seed: 11 }).report);
  const b = reportJson(run(spec, { seed: 11 }).report);
  const c = reportJson(run(spec, { seed: 12 }).report);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

Deno.test("simulate reports a deadlock when no instance can ever serve", () => {
  // KEDA activates only above its threshold: 3 requests never reach it, so they wait forever.
  const { report } = run(
    "burst:3",
    { seed: 1, kedaActivationQueueLength: 10, stallMsMax: 60_000 },
    "keda",
  );
  assert.equal(report.outcome, "deadlock");
  assert.match(report.outcomeReason ?? "", /3 requests pending/);
});

Deno.test("simulate cuts a run off at timeMaxMs and says so", () => {
  const { report } = run("poisson:10:1h", { seed: 1, timeMaxMs: 60_000 });
  assert.equal(report.outcome, "time-limit");
  assert.ok(report.simulatedMs <= 60_000);
});

Deno.test("simulate refuses a workload larger than requestsMax before running it", () => {
  assert.throws(() => run("poisson:50:24h", { requestsMax: 1000 }), /more than requestsMax 1000/);
});

Deno.test("simulate starts stopped instances before launching and names launches after the pool", () => {
  const { report } = run("burst:30", { seed: 2, instancesMax: 6, instancesPool: 2 });
  assert.equal(report.starts, 2);
  assert.equal(report.launches, 4);
  assert.equal(report.instancesMax, 6);
});

Deno.test("simulate with worker heartbeats never redelivers a slow service", () => {
  const { report } = run("burst:5", { seed: 3, serviceMsMedian: 40_000, serviceMsP95: 40_000 });
  assert.equal(report.completed, 5);
  assert.equal(report.faults.redeliveries, 0);
  assert.equal(report.faults.duplicateServices, 0);
});

Deno.test("simulate with the keep-alive policy keeps idle instances up for keepAliveVariantMs", () => {
  const plain = run("burst:20", { seed: 4 }).report;
  const kept = run("burst:20", { seed: 4, keepAliveVariantMs: 10_000 }, "keep-alive").report;
  assert.ok(plain.timeToZeroMs !== null && plain.timeToZeroMs < 3000);
  assert.ok(kept.timeToZeroMs !== null && kept.timeToZeroMs >= 9000, `kept ${kept.timeToZeroMs}`);
  assert.ok(kept.instanceSecondsIdle > plain.instanceSecondsIdle);
});

Deno.test("simulate redelivers a message whose service outlives the visibility timeout, then dead-letters it", () => {
  const { report } = run("burst:5", {
    seed: 3,
    serviceMsMedian: 40_000,
    serviceMsP95: 40_000,
    visibilityTimeoutMs: 30_000,
    maxReceives: 3,
    workerHeartbeat: false,
  });
  assert.equal(report.outcome, "ok");
  assert.equal(report.completed, 5, "the first service still answers the client");
  assert.equal(report.faults.redeliveries, 10, "two redeliveries per message");
  assert.equal(report.faults.deadLettered, 5);
  assert.equal(report.faults.deadLetteredUnanswered, 0);
  assert.ok(report.faults.duplicateServices >= 5);
});

// ---- properties over random workloads, parameters and policies

const workloadArb = fc.oneof(
  fc.integer({ min: 1, max: 150 }).map((n) => `burst:${n}`),
  fc.record({ rate: fc.integer({ min: 1, max: 15 }), seconds: fc.integer({ min: 5, max: 120 }) })
    .map(({ rate, seconds }) => `poisson:${rate}:${seconds}s`),
  fc.record({
    n: fc.integer({ min: 1, max: 60 }),
    at: fc.integer({ min: 0, max: 90 }),
    rate: fc.integer({ min: 1, max: 10 }),
  })
    .map(({ n, at, rate }) => `ramp:0:${rate}:1m+burst:${n}@${at}s`),
);

const scenarioArb = fc.record({
  seed: fc.integer({ min: 0, max: 0xffffffff }),
  profile: fc.constantFrom<ProfileName>("aws", "local"),
  workload: workloadArb,
  instancesMax: fc.integer({ min: 1, max: 15 }),
  keepAliveMs: fc.constantFrom(0, 1500, 10_000),
  tickMs: fc.constantFrom(250, 1000, 3000),
  countLagMs: fc.constantFrom(0, 1000, 2500),
  workerSelfStop: fc.boolean(),
  workerHeartbeat: fc.boolean(),
  serviceMsMedian: fc.integer({ min: 50, max: 3000 }),
  serviceSpread: fc.double({ min: 1, max: 3, noNaN: true }),
  startMsMedian: fc.integer({ min: 1, max: 40_000 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function options(s: Scenario): SimOptions {
  return {
    seed: s.seed,
    instancesMax: s.instancesMax,
    keepAliveMs: s.keepAliveMs,
    tickMs: s.tickMs,
    countLagMs: s.countLagMs,
    workerSelfStop: s.workerSelfStop,
    workerHeartbeat: s.workerHeartbeat,
    serviceMsMedian: s.serviceMsMedian,
    serviceMsP95: Math.round(s.serviceMsMedian * s.serviceSpread),
    startMsMedian: s.startMsMedian,
    startMsP95: s.startMsMedian * 2,
    launchMsMedian: s.startMsMedian,
    launchMsP95: s.startMsMedian * 2,
  };
}

Deno.test("simulate never exceeds instancesMax, never stops a busy instance and answers everything (property)", () => {
  fc.assert(
    fc.property(scenarioArb, fc.constantFrom(...POLICY_NAMES), (s, policy) => {
      const { report, result } = run(s.workload, options(s), policy, s.profile);
      const where = `seed ${s.seed}, ${s.workload}, ${policy}`;
      assert.equal(report.outcome, "ok", `${where}: ${report.outcomeReason}`);
      // A request is answered, or its message was given up on after maxReceives (never both lost).
      assert.equal(report.completed + report.faults.deadLetteredUnanswered, report.requests, where);
      assert.ok(result.counts.slotsPeak <= s.instancesMax, where);
      assert.equal(report.faults.slotsOverMax, 0, where);
      assert.equal(report.faults.busyStops, 0, where);
      assert.ok(report.makespanMs >= report.oracle.makespanMs - 1e-6, `${where}: beat the oracle`);
      assert.ok(report.instanceSecondsBusy >= report.oracle.instanceSeconds - 1e-3, where);
    }),
    { numRuns: 60 },
  );
});

Deno.test("simulate reaches zero instances within keep-alive + one tick (+ count lag) after the last completion (property)", () => {
  fc.assert(
    fc.property(
      scenarioArb,
      fc.constantFrom<PolicyName>("controller", "keep-alive"),
      (s, policy) => {
        const { config, result } = run(s.workload, options(s), policy, s.profile);
        const keepAliveMs = policy === "controller"
          ? config.keepAliveMs
          : config.keepAliveVariantMs;
        const boundMs = Math.ceil(keepAliveMs / config.tickMs) * config.tickMs + config.tickMs +
          config.countLagMs;
        assert.notEqual(result.zeroAtMs, null, `seed ${s.seed}: fleet never reached zero`);
        const afterMs = result.zeroAtMs! - result.lastServiceEndMs;
        assert.ok(
          afterMs <= boundMs + 1e-6,
          `seed ${s.seed}, ${s.workload}: zero ${afterMs} ms after the last completion > ${boundMs}`,
        );
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("simulate answers every request once crashes stop (liveness property)", () => {
  fc.assert(
    fc.property(scenarioArb, fc.integer({ min: 10, max: 600 }), (s, crashesPerInstanceHour) => {
      const { report } = run(
        s.workload,
        {
          ...options(s),
          crashesPerInstanceHour,
          faultsUntilMs: 60_000,
          // No give-up, and a visibility timeout longer than any service time can be (draws are
          // capped near 6.3 sigma): then liveness means every request is eventually answered.
          maxReceives: 1_000_000,
          visibilityTimeoutMs: 600_000,
        },
        "controller",
        s.profile,
      );
      assert.equal(report.outcome, "ok", `seed ${s.seed}: ${report.outcomeReason}`);
      assert.equal(report.completed, report.requests);
      assert.equal(report.faults.busyStops, 0);
    }),
    { numRuns: 40 },
  );
});

Deno.test("simulate is deterministic: the same seed gives the same JSON report (property)", () => {
  fc.assert(
    fc.property(scenarioArb, fc.constantFrom(...POLICY_NAMES), (s, policy) => {
      const a = reportJson(run(s.workload, options(s), policy, s.profile).report);
      const b = reportJson(run(s.workload, options(s), policy, s.profile).report);
      assert.equal(a, b);
    }),
    { numRuns: 20 },
  );
});

Deno.test("deno task sim --workload burst:100 --seed 7 --json prints byte-identical output twice", async () => {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const once = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        main,
        "--workload",
        "burst:100",
        "--seed",
        "7",
        "--json",
        "--no-svg",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return out.stdout;
  };
  const [a, b] = [await once(), await once()];
  assert.deepEqual(a, b);
  const report = JSON.parse(new TextDecoder().decode(a));
  for (
    const field of [
      "makespanMs",
      "latencyMs",
      "instanceSeconds",
      "instancesMax",
      "timeToZeroMs",
      "oracle",
    ]
  ) {
    assert.ok(field in report, `missing ${field}`);
  }
  assert.deepEqual(Object.keys(report.latencyMs).slice(0, 4), ["p50", "p95", "p99", "max"]);
  assert.deepEqual(Object.keys(report.oracle), ["makespanMs", "instanceSeconds"]);
});

Deno.test("simulate replays the controller's back-off while workers cannot become ready, then serves everything once they can", () => {
  // Local profile (boots in about a second); the model is missing for the first 60 s.
  const { result, report } = run(
    "burst:20",
    { seed: 3, notReadyUntilMs: 60_000, instancesMax: 4 },
    "controller",
    "local",
  );
  assert.equal(report.outcome, "ok");
  assert.equal(report.completed, 20);
  // Back-off 1, 2, 4, 8, 16, 30 s: a handful of failed boots in 60 s, not one per tick.
  const failed = result.counts.notReadyExits;
  assert.ok(failed >= 4 && failed <= 10, `${failed} failed boots`);
  // Nothing could be answered before the model was there; every answer comes after it.
  assert.ok(result.latenciesMs[0] >= 60_000 - 1000);
  // Recovered within one back-off cap (30 s) plus a boot and a service of the whole burst.
  assert.ok(result.lastCompletionMs <= 60_000 + 30_000 + 30_000, `${result.lastCompletionMs}`);
});
