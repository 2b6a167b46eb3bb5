import assert from "node:assert/strict";
import { quantile } from "../internal/mod.ts";
import {
  type BurstRecord,
  compare,
  fitLocalProfile,
  measureBurst,
  parseRecords,
  simulateBurst,
  type StampedLine,
  validate,
  validationText,
} from "./validate.ts";
import { controllerLine } from "../controller/log_events.ts";
import { workerLine } from "../protocol/worker_events.ts";

/** A controller tick that started `started`, as the controller logs it. */
function decision(started: string[]): StampedLine["entry"] {
  const inputs = {
    visible: started.length,
    inFlight: 0,
    delayed: 0,
    pending: 0,
    running: 0,
    stopping: 0,
    stopped: started.length,
    awaiting: 0,
    busy: 0,
  };
  return {
    ...controllerLine({
      event: "decision",
      nowMs: 0,
      inputs,
      demand: started.length,
      desired: started.length,
      target: started.length,
      clamps: [],
      decisions: started.map((name) => ({ action: "start", id: `i-${name}`, name })),
      notReady: null,
      applied: { started, launched: [], stopped: [] },
      errors: [],
    }),
  };
}

/** A worker's ready line, as the worker logs it. */
function ready(worker: string, readyMs: number): StampedLine["entry"] {
  return { ...workerLine(worker, { event: "ready", modelBackend: "web", importMs: 50, readyMs }) };
}

/**
 * A small stack run written the way bench/validate_sim.ts records one: a tick that starts two
 * workers at 400 ms, their ready lines, then answers whose serviceMs and stamps are known.
 */
function record(): BurstRecord {
  const lines: StampedLine[] = [
    { atMs: -600, entry: decision([]) },
    { atMs: 400, entry: decision(["app-tier-instance-1", "app-tier-instance-2"]) },
    { atMs: 900, entry: { component: "service", event: "noise" } },
    { atMs: 2400, entry: ready("app-tier-instance-1", 1900) },
    { atMs: 2600, entry: ready("app-tier-instance-2", 2100) },
  ];
  // Worker 1: a cold first answer (1000 ms), then 100 ms answers 5 ms apart (queue calls).
  // Worker 2: a cold first answer (600 ms), then 200 ms ones, 5 ms apart.
  const answered = (worker: number, id: string, atMs: number, serviceMs: number) =>
    lines.push({
      atMs,
      entry: {
        ...workerLine(`app-tier-instance-${worker}`, {
          event: "answered",
          id,
          stem: id,
          label: "Paul",
          receiveCount: 1,
          serviceMs,
        }),
      },
    });
  let t1 = 2400 + 1000;
  answered(1, "a0", t1, 1000);
  for (let k = 1; k <= 4; k++) answered(1, `a${k}`, t1 += 105, 100);
  let t2 = 2600 + 600;
  answered(2, "b0", t2, 600);
  for (let k = 1; k <= 4; k++) answered(2, `b${k}`, t2 += 205, 200);
  const answers = lines
    .filter((l) => l.entry.event === "answered")
    .map((l) => ({ id: l.entry.id as string, sentMs: 1, answeredMs: l.atMs + 3, status: 200 }));
  return {
    requests: 10,
    instancesMax: 2,
    tickMs: 1000,
    successes: 10,
    makespanMs: 4000,
    latencyMs: { p50: 3500, p95: 4000 },
    loadAverage: { before: 1, after: 1 },
    lines,
    answers,
    uploadsMs: [100, 110, 120, 130, 140, 150, 160, 170, 180, 300],
  };
}

Deno.test("measureBurst takes boots, service, queue calls, uploads and responses out of the lines", () => {
  const m = measureBurst(record());
  assert.equal(m.firstStartMs, 400);
  assert.deepEqual(m.boots.map((b) => [b.worker, b.startMs, b.readyMs]), [
    ["app-tier-instance-1", 2000, 1900],
    ["app-tier-instance-2", 2200, 2100],
  ]);
  assert.deepEqual(m.boots[0].serviceMs, [1000, 100, 100, 100, 100]);
  assert.deepEqual(m.boots[1].overheadMs, [5, 5, 5, 5]);
  assert.deepEqual(m.responseMs, Array(10).fill(3));
  assert.equal(m.uploadMs.length, 10);
});

Deno.test("measureBurst refuses a malformed worker line, naming when it was stamped", () => {
  const run = record();
  const lines = [...run.lines, { atMs: 1234, entry: { ...ready("w", 0), readyMs: "soon" } }];
  assert.throws(() => measureBurst({ ...run, lines }), {
    name: "LogLineError",
    message: 'the line stamped 1234 ms: worker line "ready": readyMs must be a number, got "soon"',
  });
});

Deno.test("fitLocalProfile adds a boot's warm-up to its start and fits service to warm answers", () => {
  const fit = fitLocalProfile([measureBurst(record())], 2, { warmupAnswers: 1 });
  // Warm answers: 100 ms ×4 and 200 ms ×4 (mean 150); worker 1's first is 850 over, worker 2's 450.
  assert.equal(fit.basis.serviceMsMedian, 100);
  assert.equal(fit.basis.serviceMsP95, 200);
  assert.equal(fit.basis.overheadMsMedian, 5);
  assert.equal(fit.settings.serviceMsMedian, 105);
  assert.equal(fit.settings.serviceMsP95, 205);
  assert.equal(fit.settings.startMsMedian, 2200 + 450);
  assert.equal(fit.settings.startMsP95, 2000 + 850);
  assert.equal(fit.settings.launchMsMedian, fit.settings.startMsMedian);
  assert.equal(fit.settings.uploadMsMedian, 140);
  assert.equal(fit.settings.uploadMsP95, 300);
  assert.equal(fit.settings.responseMsMedian, 3);
  assert.equal(fit.settings.instancesMax, 2);
});

Deno.test("fitLocalProfile refuses runs with no warm answer, naming what is missing", () => {
  assert.throws(
    () => fitLocalProfile([measureBurst(record())], 2, { warmupAnswers: 5 }),
    /no warm serviceMs/,
  );
  assert.throws(
    () => fitLocalProfile([measureBurst(record())], 2, { warmupAnswers: 0 }),
    /warmupAnswers must be/,
  );
});

Deno.test("simulateBurst spreads the bursts over one tick and is deterministic", () => {
  const settings = { serviceMsMedian: 100, serviceMsP95: 150 };
  const a = simulateBurst(settings, 20, { seeds: 4 });
  const b = simulateBurst(settings, 20, { seeds: 4 });
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((r) => r.workload), [
    "burst:20@125ms",
    "burst:20@375ms",
    "burst:20@625ms",
    "burst:20@875ms",
  ]);
  assert.ok(a.every((r) => r.completed === 20));
});

Deno.test("compare passes a simulated burst against itself and fails one 30% off", () => {
  const reports = simulateBurst({}, 100, { seeds: 3 });
  const mid = (pick: (r: (typeof reports)[number]) => number) => quantile(reports.map(pick), 0.5);
  const same = {
    makespanMs: mid((r) => r.makespanMs),
    p50Ms: mid((r) => r.latencyMs.p50),
    p95Ms: mid((r) => r.latencyMs.p95),
  };
  assert.ok(compare(same, reports).every((r) => r.within && r.errorPct === 0));
  const row = compare({ ...same, makespanMs: same.makespanMs * 1.3 }, reports)[0];
  assert.equal(row.within, false);
  assert.ok(row.errorPct < -15);
});

Deno.test("parseRecords names the run and the field that is missing", () => {
  const good = record();
  assert.equal(parseRecords(JSON.stringify([good]), "r.json").length, 1);
  assert.throws(() => parseRecords("{}", "r.json"), /r\.json must be a JSON array/);
  const { uploadsMs: _, ...bad } = good;
  assert.throws(
    () => parseRecords(JSON.stringify([good, bad]), "r.json"),
    /run 2 lacks uploadsMs/,
  );
});

Deno.test("validate compares a run with the profile fitted to it and prints the table", () => {
  const v = validate([record()], [record()], { seeds: 3, warmupAnswers: 1 });
  assert.equal(v.workload, "burst:10");
  assert.equal(v.rows.length, 3);
  assert.equal(v.fittedOn, "these runs");
  const text = validationText(v, 3);
  assert.match(text, /makespanMs +4000/);
  assert.throws(
    () => validate([record()], [{ ...record(), instancesMax: 3 }], { warmupAnswers: 1 }),
    /differ in --max/,
  );
});
