import assert from "node:assert/strict";
import { type InstanceView, type Observation, resolvePolicyConfig } from "../controller/mod.ts";
import { resolveSimConfig } from "./config.ts";
import {
  createPolicy,
  decideKeda,
  decideTargetTracking,
  initialKedaState,
  initialTargetTrackingState,
  type KedaConfig,
  type TargetTrackingConfig,
} from "./policies.ts";

function stopped(n: number): InstanceView[] {
  return Array.from({ length: n }, (_, k) => ({
    id: `i-${k + 1}`,
    name: `app-tier-instance-${k + 1}`,
    state: "stopped" as const,
    stateChangedAtMs: 0,
  }));
}

function running(n: number, busy: boolean): InstanceView[] {
  return stopped(n).map((i) => ({ ...i, state: "running" as const, busy }));
}

function obs(
  nowMs: number,
  visible: number,
  inFlight: number,
  instances: InstanceView[],
): Observation {
  return { nowMs, queue: { visible, inFlight, delayed: 0 }, instances };
}

const keda: KedaConfig = {
  fleet: resolvePolicyConfig({ instancesMax: 15 }),
  queueLength: 5,
  activationQueueLength: 0,
  cooldownMs: 300_000,
  stabilizationMs: 300_000,
};

Deno.test("decideKeda aims at ceil(backlog / queueLength), counting in-flight messages", () => {
  const r = decideKeda(obs(0, 18, 4, stopped(15)), initialKedaState(), keda);
  assert.equal(r.decisions.length, 5); // ceil(22 / 5)
  assert.ok(r.decisions.every((d) => d.action === "start"));
});

Deno.test("decideKeda stays at zero until the backlog passes the activation threshold", () => {
  const c = { ...keda, activationQueueLength: 3 };
  assert.equal(decideKeda(obs(0, 3, 0, stopped(15)), initialKedaState(), c).decisions.length, 0);
  assert.equal(decideKeda(obs(0, 4, 0, stopped(15)), initialKedaState(), c).decisions.length, 1);
});

Deno.test("decideKeda holds instances through the cooldown, then scales to zero", () => {
  let state = decideKeda(obs(0, 10, 0, stopped(15)), initialKedaState(), keda).state;
  const fleet = running(2, false);
  const during = decideKeda(obs(200_000, 0, 0, fleet), state, keda);
  assert.deepEqual(during.decisions, []);
  state = during.state;
  const after = decideKeda(obs(300_000, 0, 0, fleet), state, keda);
  assert.equal(after.decisions.filter((d) => d.action === "stop").length, 2);
});

Deno.test("decideKeda scales down above zero only after the stabilisation window", () => {
  let state = decideKeda(obs(0, 50, 0, stopped(15)), initialKedaState(), keda).state; // 10
  const ten = running(10, false);
  const soon = decideKeda(obs(60_000, 10, 0, ten), state, keda); // raw 2, window max 10
  assert.deepEqual(soon.decisions, []);
  state = soon.state;
  const later = decideKeda(obs(300_001, 10, 0, ten), state, keda); // 0 s entry expired
  assert.equal(later.decisions.filter((d) => d.action === "stop").length, 8);
});

const tt: TargetTrackingConfig = {
  fleet: resolvePolicyConfig({ instancesMax: 15 }),
  targetBacklogPerInstance: 10,
  scaleOutPeriods: 3,
  scaleInPeriods: 15,
};

Deno.test("decideTargetTracking scales out only after scaleOutPeriods above target", () => {
  let state = initialTargetTrackingState();
  const counts: number[] = [];
  for (let p = 0; p < 3; p++) {
    const r = decideTargetTracking(obs(p * 60_000, 100, 0, stopped(15)), state, tt);
    counts.push(r.decisions.length);
    state = r.state;
  }
  assert.deepEqual(counts, [0, 0, 10]); // ceil(100 / 10) after the third period
});

Deno.test("decideTargetTracking scales in after scaleInPeriods below target, to ceil(backlog / target)", () => {
  let state = { ...initialTargetTrackingState(), desiredCapacity: 10 };
  let stops = 0;
  for (let p = 0; p < 15; p++) {
    const r = decideTargetTracking(obs(p * 60_000, 20, 0, running(10, false)), state, tt);
    stops += r.decisions.filter((d) => d.action === "stop").length;
    state = r.state;
    if (p < 14) assert.equal(stops, 0);
  }
  assert.equal(stops, 8); // metric 2 per instance → ceil(10 × 2 / 10) = 2 instances
});

Deno.test("createPolicy wires each policy's tick and worker behaviour from the settings", () => {
  const config = resolveSimConfig({ sloMs: 11_000, serviceMsMedian: 500, serviceMsP95: 600 });
  assert.equal(createPolicy("controller", config).tickMs, 1000);
  assert.equal(createPolicy("keep-alive", config).keepAliveMs, 10_000);
  assert.equal(createPolicy("keda", config).tickMs, 30_000);
  assert.equal(createPolicy("keda", config).workerSelfStop, false);
  assert.equal(createPolicy("target-tracking", config).tickMs, 60_000);
  assert.throws(() => createPolicy("hpa" as never, config), /policy must be one of/);
});
