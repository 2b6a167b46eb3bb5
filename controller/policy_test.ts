import assert from "node:assert/strict";
import * as fc from "fast-check";
import {
  decide,
  initialPolicyState,
  type InstanceState,
  type InstanceView,
  type Observation,
  type PolicyConfig,
  PolicyInvariantError,
  type PolicyState,
  resolvePolicyConfig,
  type ScalingDecision,
} from "./policy.ts";

const PREFIX = "app-tier-instance-";

function instance(
  n: number,
  state: InstanceState,
  busy?: boolean,
  stateChangedAtMs = 0,
): InstanceView {
  return { id: `i-${n}`, name: `${PREFIX}${n}`, state, stateChangedAtMs, busy };
}

function observe(
  nowMs: number,
  visible: number,
  inFlight: number,
  instances: InstanceView[],
): Observation {
  return { nowMs, queue: { visible, inFlight, delayed: 0 }, instances };
}

function actions(decisions: readonly ScalingDecision[]): string[] {
  return decisions.map((d) => `${d.action} ${d.name}`);
}

Deno.test("decide launches one instance per pending request when the fleet is empty", () => {
  const { decisions } = decide(observe(0, 2, 1, []), initialPolicyState(), resolvePolicyConfig());
  assert.deepEqual(actions(decisions), [
    `launch ${PREFIX}1`,
    `launch ${PREFIX}2`,
    `launch ${PREFIX}3`,
  ]);
});

Deno.test("decide starts the fleet's names by number before names no fleet gives (0, leading zeros)", () => {
  const named = (id: string, name: string): InstanceView => ({
    id,
    name,
    state: "stopped",
    stateChangedAtMs: 0,
  });
  const fleet = [
    named("i-a", `${PREFIX}0`),
    named("i-b", `${PREFIX}010`),
    named("i-c", `${PREFIX}10`),
    named("i-d", `${PREFIX}9`),
  ];
  const { decisions } = decide(
    observe(0, 3, 0, fleet),
    initialPolicyState(),
    resolvePolicyConfig(),
  );
  assert.deepEqual(actions(decisions), [
    `start ${PREFIX}9`,
    `start ${PREFIX}10`,
    `start ${PREFIX}0`,
  ]);
});

Deno.test("decide starts stopped instances, lowest number first, before launching new ones", () => {
  const fleet = [instance(10, "stopped"), instance(2, "stopped"), instance(1, "running", true)];
  const { decisions } = decide(
    observe(0, 4, 1, fleet),
    initialPolicyState(),
    resolvePolicyConfig(),
  );
  assert.deepEqual(actions(decisions), [
    `start ${PREFIX}2`,
    `start ${PREFIX}10`,
    `launch ${PREFIX}3`,
    `launch ${PREFIX}4`,
  ]);
});

Deno.test("decide caps the desired count at instancesMax and says so in the log", () => {
  const config = resolvePolicyConfig({ instancesMax: 15 });
  const { decisions, log } = decide(observe(0, 100, 0, []), initialPolicyState(), config);
  assert.equal(decisions.length, 15);
  assert.equal(log.desired, 15);
  assert.deepEqual(log.clamps, ["instancesMax"]);
  assert.equal(log.demand, 100);
});

Deno.test("decide counts stopping instances against the maximum", () => {
  const config = resolvePolicyConfig({ instancesMax: 3 });
  const fleet = [instance(1, "stopping"), instance(2, "stopping"), instance(3, "running", true)];
  const { decisions, log } = decide(observe(0, 5, 1, fleet), initialPolicyState(), config);
  assert.deepEqual(decisions, []);
  assert.ok(log.clamps.includes("slots"));
});

Deno.test("decide stops idle instances at once when nothing is pending and keep-alive is 0", () => {
  const fleet = [instance(1, "running", false), instance(2, "running", false)];
  const { decisions } = decide(
    observe(0, 0, 0, fleet),
    initialPolicyState(),
    resolvePolicyConfig(),
  );
  assert.deepEqual(actions(decisions), [`stop ${PREFIX}2`, `stop ${PREFIX}1`]);
});

Deno.test("decide holds a surplus for keepAliveMs, then stops it", () => {
  const config = resolvePolicyConfig({ keepAliveMs: 2000 });
  const fleet = [instance(1, "running", false)];
  let state = initialPolicyState();
  const held: string[][] = [];
  for (const nowMs of [0, 1000, 2000]) {
    const result = decide(observe(nowMs, 0, 0, fleet), state, config);
    held.push(actions(result.decisions));
    state = result.state;
  }
  assert.deepEqual(held, [[], [], [`stop ${PREFIX}1`]]);
});

Deno.test("decide never stops a busy instance, even above the target", () => {
  const fleet = [instance(1, "running", true), instance(2, "running", false)];
  const { decisions, log } = decide(
    observe(0, 0, 0, fleet),
    initialPolicyState(),
    resolvePolicyConfig(),
  );
  assert.deepEqual(actions(decisions), [`stop ${PREFIX}2`]);
  assert.ok(log.clamps.includes("busy"));
});

Deno.test("decide stops instances of unknown business only when no request is pending", () => {
  const fleet = [instance(1, "running"), instance(2, "running")];
  const config = resolvePolicyConfig();
  const whilePending = decide(observe(0, 0, 1, fleet), initialPolicyState(), config);
  assert.deepEqual(whilePending.decisions, []);
  const whenEmpty = decide(observe(0, 0, 0, fleet), initialPolicyState(), config);
  assert.equal(whenEmpty.decisions.length, 2);
});

Deno.test("decide stops pending instances before idle running ones", () => {
  const fleet = [instance(1, "running", false), instance(2, "pending", false, 5)];
  const { decisions } = decide(
    observe(10, 1, 0, fleet),
    initialPolicyState(),
    resolvePolicyConfig(),
  );
  assert.deepEqual(actions(decisions), [`stop ${PREFIX}2`]);
});

Deno.test("decide does not launch again while an earlier launch is not yet visible", () => {
  const config = resolvePolicyConfig({ actionSettleMs: 5000 });
  const first = decide(observe(0, 1, 0, []), initialPolicyState(), config);
  assert.equal(first.decisions.length, 1);
  const second = decide(observe(1000, 1, 0, []), first.state, config);
  assert.deepEqual(second.decisions, []);
  assert.equal(second.log.inputs.awaiting, 1);
  // After actionSettleMs the launch is presumed lost and asked for again, under the same name.
  const third = decide(observe(6001, 1, 0, []), second.state, config);
  assert.deepEqual(actions(third.decisions), [`launch ${PREFIX}1`]);
});

Deno.test("decide does not start a stopped instance twice while its start is not yet visible", () => {
  const config = resolvePolicyConfig();
  const fleet = [instance(1, "stopped"), instance(2, "stopped")];
  const first = decide(observe(0, 1, 0, fleet), initialPolicyState(), config);
  assert.deepEqual(actions(first.decisions), [`start ${PREFIX}1`]);
  const second = decide(observe(1000, 2, 0, fleet), first.state, config);
  assert.deepEqual(actions(second.decisions), [`start ${PREFIX}2`]);
});

Deno.test("decide keeps instancesMin serving when nothing is pending", () => {
  const config = resolvePolicyConfig({ instancesMin: 2 });
  const { decisions, log } = decide(observe(0, 0, 0, []), initialPolicyState(), config);
  assert.equal(decisions.length, 2);
  assert.deepEqual(log.clamps, ["instancesMin"]);
});

Deno.test("decide throws PolicyInvariantError when time goes backwards", () => {
  const config = resolvePolicyConfig();
  const { state } = decide(observe(5000, 0, 0, []), initialPolicyState(), config);
  assert.throws(() => decide(observe(4999, 0, 0, []), state, config), PolicyInvariantError);
});

Deno.test("decide rejects a negative queue count naming the field", () => {
  assert.throws(
    () => decide(observe(0, -1, 0, []), initialPolicyState(), resolvePolicyConfig()),
    /observation\.queue\.visible must be a non-negative integer, got -1/,
  );
});

Deno.test("decide's log line is one JSON object with inputs, desired, clamps and decisions", () => {
  const { log } = decide(observe(0, 20, 0, []), initialPolicyState(), resolvePolicyConfig());
  const line = JSON.stringify(log);
  assert.ok(!line.includes("\n"));
  const parsed = JSON.parse(line);
  assert.deepEqual(Object.keys(parsed), [
    "nowMs",
    "inputs",
    "demand",
    "desired",
    "target",
    "clamps",
    "decisions",
    "notReady",
  ]);
  assert.equal(parsed.decisions.length, 15);
});

Deno.test("resolvePolicyConfig rejects a bad setting with a message naming it", () => {
  assert.throws(() => resolvePolicyConfig({ instancesMax: 0 }), /instancesMax must be an integer/);
  assert.throws(
    () => resolvePolicyConfig({ instancesMax: 3, instancesMin: 4 }),
    /instancesMin must be an integer in \[0, 3\], got 4/,
  );
  assert.throws(() => resolvePolicyConfig({ keepAliveMs: -1 }), /keepAliveMs/);
  assert.throws(() => resolvePolicyConfig({ tickMs: NaN }), /tickMs/);
  assert.throws(() => resolvePolicyConfig({ instanceNamePrefix: "" }), /instanceNamePrefix/);
});

// ---- properties over random fleets and queues ----

const stateArb = fc.constantFrom<InstanceState>(
  "pending",
  "running",
  "stopping",
  "stopped",
  "terminated",
);

const fleetArb = fc.uniqueArray(
  fc.record({
    n: fc.integer({ min: 1, max: 40 }),
    state: stateArb,
    busy: fc.constantFrom<boolean | undefined>(true, false, undefined),
    changedAtMs: fc.integer({ min: 0, max: 1000 }),
  }),
  { selector: (r) => r.n, maxLength: 25 },
).map((rows) =>
  rows.map((r) =>
    instance(
      r.n,
      r.state,
      r.state === "running" || r.state === "pending" ? r.busy : false,
      r.changedAtMs,
    )
  )
);

const configArb = fc.record({
  instancesMax: fc.integer({ min: 1, max: 20 }),
  instancesMinShare: fc.double({ min: 0, max: 1, noNaN: true }),
  keepAliveMs: fc.constantFrom(0, 500, 3000),
}).map((c) =>
  resolvePolicyConfig({
    instancesMax: c.instancesMax,
    instancesMin: Math.floor(c.instancesMinShare * c.instancesMax * 0.5),
    keepAliveMs: c.keepAliveMs,
  })
);

const queueArb = fc.record({
  visible: fc.integer({ min: 0, max: 60 }),
  inFlight: fc.integer({ min: 0, max: 20 }),
});

function slots(fleet: readonly InstanceView[]): number {
  return fleet.filter((i) =>
    i.state === "pending" || i.state === "running" || i.state === "stopping"
  )
    .length;
}

/** Applies decisions the way a fleet that acts instantly would. */
function apply(
  fleet: readonly InstanceView[],
  decisions: readonly ScalingDecision[],
  nowMs: number,
): InstanceView[] {
  const next = fleet.map((i) => ({ ...i }));
  for (const d of decisions) {
    if (d.action === "launch") {
      next.push({
        id: `new-${d.name}`,
        name: d.name,
        state: "pending",
        stateChangedAtMs: nowMs,
        busy: false,
      });
      continue;
    }
    const target = next.find((i) => i.id === d.id);
    assert.ok(target, `decision names unknown instance ${d.id}`);
    target.state = d.action === "start" ? "pending" : "stopping";
    target.stateChangedAtMs = nowMs;
  }
  return next;
}

Deno.test("decide never plans more slots than instancesMax (property)", () => {
  fc.assert(
    fc.property(fleetArb, queueArb, configArb, (fleet, queue, config) => {
      fc.pre(slots(fleet) <= config.instancesMax);
      const { decisions } = decide(
        observe(1000, queue.visible, queue.inFlight, fleet),
        initialPolicyState(),
        config,
      );
      assert.ok(slots(apply(fleet, decisions, 1000)) <= config.instancesMax);
    }),
  );
});

Deno.test("decide never stops a busy instance and only starts stopped ones (property)", () => {
  fc.assert(
    fc.property(fleetArb, queueArb, configArb, (fleet, queue, config) => {
      const { decisions } = decide(
        observe(1000, queue.visible, queue.inFlight, fleet),
        initialPolicyState(),
        config,
      );
      const byId = new Map(fleet.map((i) => [i.id, i]));
      const launched = decisions.filter((d) => d.action === "launch").length;
      const started = decisions.filter((d) => d.action === "start").length;
      for (const d of decisions) {
        if (d.action === "stop") {
          const i = byId.get(d.id)!;
          assert.notEqual(i.busy, true, `stopped busy ${d.id}`);
          assert.ok(i.state === "running" || i.state === "pending");
        } else if (d.action === "start") {
          assert.equal(byId.get(d.id)?.state, "stopped");
        } else {
          assert.ok(!fleet.some((i) => i.name === d.name && i.state !== "terminated"));
        }
      }
      // Launch only once every stopped instance is being started.
      const stopped = fleet.filter((i) => i.state === "stopped").length;
      if (launched > 0) assert.equal(started, stopped);
    }),
  );
});

Deno.test("decide keeps desired within [instancesMin, instancesMax] (property)", () => {
  fc.assert(
    fc.property(fleetArb, queueArb, configArb, (fleet, queue, config) => {
      const { log } = decide(
        observe(0, queue.visible, queue.inFlight, fleet),
        initialPolicyState(),
        config,
      );
      assert.ok(log.desired >= config.instancesMin && log.desired <= config.instancesMax);
      assert.equal(
        log.desired,
        Math.max(
          config.instancesMin,
          Math.min(config.instancesMax, queue.visible + queue.inFlight),
        ),
      );
    }),
  );
});

/** Runs ticks against an instant fleet whose instances become running (idle) at once. */
function converge(
  fleet0: InstanceView[],
  visible: number,
  config: PolicyConfig,
  ticks: number,
): { fleet: InstanceView[]; state: PolicyState } {
  let fleet = fleet0;
  let state = initialPolicyState();
  for (let t = 0; t < ticks; t++) {
    const nowMs = t * config.tickMs;
    const result = decide(observe(nowMs, visible, 0, fleet), state, config);
    state = result.state;
    fleet = apply(fleet, result.decisions, nowMs).map((i) => ({
      ...i,
      state: i.state === "pending" ? "running" : i.state === "stopping" ? "stopped" : i.state,
      busy: i.state === "pending" || i.state === "running" ? false : i.busy,
    }));
  }
  return { fleet, state };
}

Deno.test("decide reaches exactly the desired count and holds it (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10 }),
      fc.integer({ min: 0, max: 40 }),
      configArb,
      (stoppedPool, visible, config) => {
        const pool = Array.from({ length: stoppedPool }, (_, k) => instance(k + 1, "stopped"));
        const ticks = 3 + Math.ceil(config.keepAliveMs / config.tickMs);
        const { fleet } = converge(pool, visible, config, ticks);
        const running = fleet.filter((i) => i.state === "running").length;
        const desired = Math.max(config.instancesMin, Math.min(config.instancesMax, visible));
        assert.equal(running, desired);
        assert.ok(slots(fleet) <= config.instancesMax);
      },
    ),
  );
});

Deno.test("decide returns to zero within keep-alive plus one tick once the queue empties (property)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), configArb, (visible, config0) => {
      const config = resolvePolicyConfig({ ...config0, instancesMin: 0 });
      const busyPhase = converge([], visible, config, 2);
      let fleet = busyPhase.fleet;
      let state = busyPhase.state;
      const emptyAtMs = 2 * config.tickMs;
      let zeroAtMs = Infinity;
      for (let t = 2; t < 2 + 2 + Math.ceil(config.keepAliveMs / config.tickMs); t++) {
        const nowMs = t * config.tickMs;
        const result = decide(observe(nowMs, 0, 0, fleet), state, config);
        state = result.state;
        fleet = apply(fleet, result.decisions, nowMs);
        const serving = fleet.filter((i) => i.state === "running" || i.state === "pending");
        if (serving.length === 0) {
          zeroAtMs = Math.min(zeroAtMs, nowMs);
        }
      }
      const boundMs = Math.ceil(config.keepAliveMs / config.tickMs) * config.tickMs + config.tickMs;
      assert.ok(
        zeroAtMs - emptyAtMs <= boundMs,
        `zero after ${zeroAtMs - emptyAtMs} ms > ${boundMs}`,
      );
    }),
  );
});

// ---- instances that come and go within a tick; apply outcomes; workers that cannot get ready ----

Deno.test("decide does not await a start whose instance already exited again within the tick", () => {
  const config = resolvePolicyConfig({ instancesMax: 2 });
  const fleet = [instance(1, "stopped"), instance(2, "stopped")];
  const first = decide(observe(1000, 1, 0, fleet), initialPolicyState(), config);
  assert.deepEqual(actions(first.decisions), [`start ${PREFIX}1`]);
  // Started at 1005, served its request, exited at 1400: stopped again before the next tick.
  const exited: InstanceView = {
    ...instance(1, "stopped", false, 1400),
    lastStartedAtMs: 1005,
    lastExit: { atMs: 1400, kind: "exited" },
  };
  const second = decide(observe(2000, 1, 0, [exited, fleet[1]]), first.state, config);
  assert.equal(second.log.inputs.awaiting, 0);
  assert.deepEqual(actions(second.decisions), [`start ${PREFIX}1`]);
});

Deno.test("decide still awaits a start the fleet does not show yet (stale stopped view)", () => {
  const config = resolvePolicyConfig({ instancesMax: 2 });
  const stale = { ...instance(1, "stopped", false, 500), lastStartedAtMs: 100 };
  const first = decide(observe(1000, 1, 0, [stale]), initialPolicyState(), config);
  assert.deepEqual(actions(first.decisions), [`start ${PREFIX}1`]);
  const second = decide(observe(2000, 1, 0, [stale]), first.state, config);
  assert.equal(second.log.inputs.awaiting, 1);
  assert.deepEqual(second.decisions, []);
});

Deno.test("decide asks again for an action the previous tick's outcome says failed", () => {
  const config = resolvePolicyConfig();
  const first = decide(observe(1000, 1, 0, []), initialPolicyState(), config);
  assert.deepEqual(actions(first.decisions), [`launch ${PREFIX}1`]);
  const failed = { decidedAtMs: 1000, failed: [`${PREFIX}1`], renamed: [] };
  const second = decide({ ...observe(2000, 1, 0, []), applied: failed }, first.state, config);
  assert.deepEqual(actions(second.decisions), [`launch ${PREFIX}1`]);
});

Deno.test("decide follows a launch the fleet renamed instead of launching again", () => {
  const config = resolvePolicyConfig();
  const first = decide(observe(1000, 1, 0, []), initialPolicyState(), config);
  const renamed = {
    decidedAtMs: 1000,
    failed: [],
    renamed: [{ from: `${PREFIX}1`, to: `${PREFIX}7` }],
  };
  // The fleet does not list the renamed instance yet: still awaited, under its new name.
  const second = decide({ ...observe(2000, 1, 0, []), applied: renamed }, first.state, config);
  assert.deepEqual(second.decisions, []);
  assert.deepEqual(second.state.requested.map((r) => r.name), [`${PREFIX}7`]);
});

function notReadyExit(n: number, atMs: number, startedMs = atMs - 500): InstanceView {
  return {
    ...instance(n, "stopped", false, atMs),
    lastStartedAtMs: startedMs,
    lastExit: { atMs, kind: "not_ready", reason: "model not built" },
  };
}

Deno.test("decide backs off exponentially while workers cannot become ready, up to the cap", () => {
  const config = resolvePolicyConfig({ notReadyBackoffMs: 1000, notReadyBackoffMsMax: 4000 });
  let state = initialPolicyState();
  const waits: number[] = [];
  let exitMs = 500;
  let nowMs = 1000;
  for (let failure = 0; failure < 5; failure++) {
    const fleet = [notReadyExit(1, exitMs), instance(2, "stopped")];
    const seen = decide(observe(nowMs, 5, 0, fleet), state, config);
    assert.deepEqual(seen.decisions, [], "nothing starts right after a failure");
    assert.ok(seen.log.clamps.includes("notReady"));
    assert.equal(seen.log.notReady?.reason, "model not built");
    assert.equal(seen.log.notReady?.failures, failure + 1);
    assert.equal(seen.log.notReady?.noneReady, true);
    state = seen.state;
    waits.push(state.notReady.retryAtMs - nowMs);
    // Ticks until the retry: only then one probe, however many requests wait.
    let probe;
    for (let t = nowMs + 1000;; t += 1000) {
      probe = decide(observe(t, 5, 0, fleet), state, config);
      state = probe.state;
      if (probe.decisions.length > 0) {
        nowMs = t;
        break;
      }
    }
    assert.deepEqual(actions(probe.decisions), [`start ${PREFIX}1`]);
    exitMs = nowMs + 300;
    nowMs += 1000;
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 4000, 4000]);
});

Deno.test("decide probes with one instance when nothing is pending, and recovers once a worker is ready", () => {
  const config = resolvePolicyConfig({ notReadyBackoffMs: 1000 });
  const failed = decide(
    observe(1000, 0, 0, [notReadyExit(1, 900)]),
    initialPolicyState(),
    config,
  );
  assert.deepEqual(failed.decisions, []);
  const probe = decide(observe(2000, 0, 0, [notReadyExit(1, 900)]), failed.state, config);
  assert.deepEqual(actions(probe.decisions), [`start ${PREFIX}1`], "probes with no demand");
  // The probe is pending, nothing is pending in the queue: it is kept, not stopped.
  // Its last exit is still the failed run's: the fleet keeps it until the next exit.
  const booting = {
    ...notReadyExit(1, 900),
    ...instance(1, "running", false, 2010),
    lastStartedAtMs: 2005,
  };
  const kept = decide(observe(3000, 0, 0, [booting]), probe.state, config);
  assert.deepEqual(kept.decisions, []);
  assert.ok(kept.log.notReady !== null, "no worker ready yet");
  // Ready at 3500: the condition clears and the idle instance is stopped as usual.
  const ready = { ...booting, readyAtMs: 3500 };
  const fine = decide(
    observe(4000, 0, 0, [ready, notReadyExit(2, 900)]),
    kept.state,
    config,
  );
  assert.equal(fine.log.notReady, null);
  assert.equal(fine.state.notReady.failures, 0);
  assert.deepEqual(actions(fine.decisions), [`stop ${PREFIX}1`]);
});

Deno.test("decide counts a probe that crashes before it is ready as another failure, not a reason to retry at once", () => {
  const config = resolvePolicyConfig({ notReadyBackoffMs: 1000 });
  const failed = decide(
    observe(1000, 1, 0, [notReadyExit(1, 900)]),
    initialPolicyState(),
    config,
  );
  const probe = decide(observe(2000, 1, 0, [notReadyExit(1, 900)]), failed.state, config);
  assert.deepEqual(actions(probe.decisions), [`start ${PREFIX}1`]);
  // The probe dies (killed, out of memory) before saying anything.
  const crashed: InstanceView = {
    ...notReadyExit(2, 900),
    ...instance(1, "stopped", false, 2600),
    lastStartedAtMs: 2005,
    lastExit: { atMs: 2600, kind: "crashed", reason: "killed by SIGKILL" },
  };
  const after = decide(observe(3000, 1, 0, [crashed, notReadyExit(2, 900)]), probe.state, config);
  assert.deepEqual(after.decisions, [], "backs off again");
  assert.equal(after.state.notReady.failures, 2);
  assert.equal(after.state.notReady.retryAtMs, 5000);
});

Deno.test("decide reports a worker not ready but does not refuse while another serves ready", () => {
  const config = resolvePolicyConfig();
  const serving = { ...instance(2, "running", true, 100), lastStartedAtMs: 100, readyAtMs: 200 };
  const { log } = decide(
    observe(1000, 3, 1, [notReadyExit(1, 900), serving]),
    initialPolicyState(),
    config,
  );
  assert.equal(log.notReady?.noneReady, false);
  assert.deepEqual(log.decisions, [], "holds the fleet while backing off");
});

/**
 * A model fleet for the exit property: applies decisions at once (a start is pending at the
 * tick's time), names launches as the fleet port does (after the highest number, so a launch can
 * be renamed), fails a chosen share of calls, and lets running or pending instances exit at
 * random moments between ticks.
 */
interface ModelInstance {
  id: string;
  n: number;
  state: InstanceState;
  changedMs: number;
  startedMs?: number;
  exit?: { atMs: number; kind: "exited" | "crashed" | "stopped" };
}

Deno.test("decide gives a pending request an instance within one tick after any worker exit (property)", () => {
  const tickArb = fc.record({
    visible: fc.integer({ min: 0, max: 8 }),
    inFlight: fc.integer({ min: 0, max: 3 }),
    // Per live instance: exit before the next tick, and when within the tick (share of it).
    exits: fc.array(fc.option(fc.double({ min: 0.01, max: 0.99, noNaN: true })), {
      maxLength: 10,
    }),
    failCalls: fc.boolean(),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(tickArb, { minLength: 2, maxLength: 25 }),
      (pool, instancesMax, ticks) => {
        const config = resolvePolicyConfig({ instancesMax, tickMs: 1000 });
        const fleet: ModelInstance[] = Array.from({ length: Math.min(pool, instancesMax) }, (
          _,
          k,
        ) => ({ id: `i-${k + 1}`, n: k + 1, state: "stopped", changedMs: 0 }));
        let state = initialPolicyState();
        let applied: Observation["applied"];
        for (let t = 0; t < ticks.length; t++) {
          const tick = ticks[t];
          const nowMs = 1000 + t * 1000;
          const view: InstanceView[] = fleet.map((i) => ({
            id: i.id,
            name: `${PREFIX}${i.n}`,
            state: i.state,
            stateChangedAtMs: i.changedMs,
            busy: i.state === "running" || i.state === "pending" ? false : undefined,
            ...(i.startedMs !== undefined ? { lastStartedAtMs: i.startedMs } : {}),
            ...(i.exit ? { lastExit: i.exit } : {}),
          }));
          const demand = tick.visible + tick.inFlight;
          const result = decide(
            {
              nowMs,
              queue: { visible: tick.visible, inFlight: tick.inFlight, delayed: 0 },
              instances: view,
              applied,
            },
            state,
            config,
          );
          state = result.state;
          // Apply: starts and launches may fail as a whole (the fleet call throws).
          const fail = tick.failCalls && result.decisions.some((d) => d.action !== "stop");
          const failed: string[] = [];
          const renamed: { from: string; to: string }[] = [];
          for (const d of result.decisions) {
            if (d.action === "stop") {
              const i = fleet.find((x) => x.id === d.id)!;
              i.state = "stopping";
              i.changedMs = nowMs;
            } else if (fail) failed.push(d.name);
            else if (d.action === "start") {
              const i = fleet.find((x) => x.id === d.id)!;
              assert.equal(i.state, "stopped");
              Object.assign(i, { state: "pending", changedMs: nowMs, startedMs: nowMs });
              i.exit = undefined;
            } else {
              const n = Math.max(0, ...fleet.map((i) => i.n)) + 1;
              if (`${PREFIX}${n}` !== d.name) renamed.push({ from: d.name, to: `${PREFIX}${n}` });
              fleet.push({
                id: `i-${n}`,
                n,
                state: "pending",
                changedMs: nowMs,
                startedMs: nowMs,
              });
            }
          }
          applied = failed.length + renamed.length > 0
            ? { decidedAtMs: nowMs, failed, renamed }
            : undefined;
          const live = fleet.filter((i) => i.state === "pending" || i.state === "running");
          const stopping = fleet.filter((i) => i.state === "stopping").length;
          if (!fail) {
            // What a user notices: as many instances serve or boot as requests wait, up to the
            // slots left, at this very tick, whatever exited since the last one.
            const want = Math.min(demand, instancesMax - stopping);
            assert.ok(
              live.length >= want,
              `tick ${t}: ${live.length} instances for ${demand} requests (${stopping} stopping, max ${instancesMax}); log ${
                JSON.stringify(result.log)
              }`,
            );
          }
          // Between ticks: stopping ones stop, pending ones run, and some exit.
          for (const i of fleet) {
            if (i.state === "stopping") {
              Object.assign(i, { state: "stopped", changedMs: nowMs + 500 });
              i.exit = { atMs: nowMs + 500, kind: "stopped" };
            }
          }
          live.forEach((i, k) => {
            const at = tick.exits[k];
            if (at === null || at === undefined) {
              if (i.state === "pending") Object.assign(i, { state: "running" });
              return;
            }
            const atMs = nowMs + Math.round(at * 1000);
            Object.assign(i, { state: "stopped", changedMs: atMs });
            i.exit = { atMs, kind: k % 2 === 0 ? "exited" : "crashed" };
          });
        }
      },
    ),
  );
});
