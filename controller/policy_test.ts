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
