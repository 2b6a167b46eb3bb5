/**
 * The fleet contract: the behaviour every {@linkcode Fleet} adapter must show (local worker
 * processes; the EC2 adapter against a mocked EC2 API: EC2 itself cannot run here, so its
 * `settled()` is checked against the mock's transitions, not real instance timings).
 * @module
 */
import assert from "node:assert/strict";
import {
  InvalidNameError,
  InvalidStateError,
  LimitExceededError,
  NotFoundError,
} from "../errors.ts";
import type { Fleet, Instance, InstanceState } from "../fleet.ts";
import { eventually } from "./helpers.ts";

/** How long the contract watches `settled()` stay pending while instances run. */
const SETTLE_PROBE_MS = 300;

/** How to get a fleet under test. */
export interface FleetTarget {
  readonly name: string;
  /** The `instancesMax` the opened fleet enforces (the contract creates up to it). */
  readonly instancesMax: number;
  /** Opens an empty fleet; the contract stops what it started, then calls `cleanup`. */
  open(): Promise<{ fleet: Fleet; cleanup(): Promise<void> }>;
}

/**
 * Runs the contract as steps of `t`.
 * @param t the enclosing test
 * @param target the fleet under test; `instancesMax` must be at least 4
 */
export async function fleetContract(t: Deno.TestContext, target: FleetTarget) {
  assert.ok(target.instancesMax >= 4);
  const step = (name: string, fn: (fleet: Fleet) => Promise<void>) =>
    t.step(`${target.name} ${name}`, async () => {
      const { fleet, cleanup } = await target.open();
      try {
        await fn(fleet);
      } finally {
        // EC2 refuses to stop a pending instance, so let transitions finish first.
        const live = await fleet.describe({ states: ["pending", "running", "stopping"] });
        const ids = live.map((i) => i.id);
        if (ids.length > 0) {
          await waitForStates(fleet, ids, ["running", "stopped", "terminated"]);
          await fleet.stop(ids);
          await waitForStates(fleet, ids, ["stopped", "terminated"]);
        }
        await fleet.close();
        await cleanup();
      }
    });

  await step(
    "create makes stopped instances named app-tier-instance-<n>, numbering on",
    async (f) => {
      const first = await f.create(2);
      assert.deepEqual(first.map((i) => [i.name, i.state]), [
        ["app-tier-instance-1", "stopped"],
        ["app-tier-instance-2", "stopped"],
      ]);
      assert.ok(first.every((i) => /^i-[0-9a-f]{8,17}$/.test(i.id)));
      const next = await f.create(1);
      assert.equal(next[0].name, "app-tier-instance-3");
      const all = await f.describe();
      assert.deepEqual(all.map((i) => i.name), [
        "app-tier-instance-1",
        "app-tier-instance-2",
        "app-tier-instance-3",
      ]);
    },
  );

  await step("start and stop are idempotent and reach running and stopped", async (f) => {
    const [a, b] = await f.create(2);
    await f.start([a.id]);
    await f.start([a.id]);
    const running = await waitForStates(f, [a.id], ["running"]);
    assert.ok(running[0].stateChangedAtMs !== null);
    assert.ok(running[0].stateChangedAtMs! >= (a.stateChangedAtMs ?? 0));
    assert.equal((await f.describe({ ids: [b.id] }))[0].state, "stopped");
    await f.stop([a.id]);
    await f.stop([a.id]);
    await waitForStates(f, [a.id], ["stopped"]);
    await f.stop([b.id]);
    await f.start([a.id, b.id]);
    await waitForStates(f, [a.id, b.id], ["running"]);
  });

  await step("describe filters by ids, names and states together", async (f) => {
    const [a, b, c] = await f.create(3);
    await f.start([b.id]);
    await waitForStates(f, [b.id], ["running"]);
    assert.deepEqual((await f.describe({ states: ["running"] })).map((i) => i.id), [b.id]);
    assert.deepEqual(
      (await f.describe({ states: ["stopped"] })).map((i) => i.id),
      [a.id, c.id],
    );
    assert.deepEqual((await f.describe({ names: [c.name] })).map((i) => i.id), [c.id]);
    assert.deepEqual(
      (await f.describe({ ids: [a.id, b.id], states: ["stopped"] })).map((i) => i.id),
      [a.id],
    );
    assert.deepEqual(await f.describe({ ids: [a.id], names: [c.name] }), []);
  });

  await step("unknown and malformed ids are refused with typed errors", async (f) => {
    await f.create(1);
    await assert.rejects(f.start(["i-0123456789abcdef0"]), NotFoundError);
    await assert.rejects(f.stop(["i-0123456789abcdef0"]), NotFoundError);
    await assert.rejects(f.start(["../../etc"]), InvalidNameError);
  });

  await step("create refuses a bad count and growth past instancesMax", async (f) => {
    await assert.rejects(f.create(0), RangeError);
    await assert.rejects(f.create(1.5), RangeError);
    await f.create(target.instancesMax);
    const error = await f.create(1).then(() => undefined, (e) => e);
    assert.ok(error instanceof LimitExceededError, `got ${error}`);
    assert.equal(error.limitName, "instancesMax");
  });

  await step(
    "settled waits while runs it started go on and resolves once its stops took effect",
    async (f) => {
      const [a, b] = await f.create(2);
      await f.settled(); // nothing in motion: resolves at once
      await f.start([a.id, b.id]);
      let settled = false;
      const settling = f.settled().then(() => settled = true);
      await waitForStates(f, [a.id, b.id], ["running"]);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_PROBE_MS));
      assert.equal(settled, false, "settled while instances it started still run");
      await f.stop([a.id, b.id]);
      await settling;
      // No waiting here: what a caller sees right after settled() (a shutdown then closes).
      const after = await f.describe({ ids: [a.id, b.id] });
      assert.deepEqual(after.map((i) => i.state), ["stopped", "stopped"]);
      await f.settled();
    },
  );

  await step("terminate is final: a terminated instance cannot start again", async (f) => {
    const [a] = await f.create(1);
    await f.terminate([a.id]);
    await f.terminate([a.id]);
    await waitForStates(f, [a.id], ["terminated"]);
    await assert.rejects(f.start([a.id]), InvalidStateError);
  });
}

/** Waits until every instance in `ids` is in one of `states`; returns them. */
export function waitForStates(
  fleet: Fleet,
  ids: readonly string[],
  states: readonly InstanceState[],
  timeoutMs = 20_000,
): Promise<Instance[]> {
  return eventually(
    async () => {
      const found = await fleet.describe({ ids });
      return found.length === ids.length && found.every((i) => states.includes(i.state))
        ? found
        : undefined;
    },
    `instances ${ids.join(",")} to be ${states.join("|")}`,
    timeoutMs,
  );
}
