import assert from "node:assert/strict";
import { join } from "node:path";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { installFakeEc2 } from "../testing/fake_ec2.ts";
import { ManualClock } from "../cloud/clock.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { Controller, type ControllerCondition } from "./controller_loop.ts";
import type { ControllerEvent } from "./log_events.ts";

const REQ = "c-req-queue";

/**
 * A real embedded queue and a real local fleet whose "workers" are `sleep` processes: the
 * controller's job is only to start and stop them, so what they run does not matter here.
 */
async function setUp(instancesMax = 8) {
  const dir = await Deno.makeTempDir({ prefix: "controller_loop_test_" });
  const db = join(dir, "cloud.db");
  const queue = await SqliteMessageQueue.open(db);
  await queue.ensureQueue(REQ, { messageBytesMax: 1024 });
  const fleetOptions = {
    command: ["sleep", "120"],
    output: "null" as const,
    instancesMax,
    stopGraceMs: 1_000,
  };
  const fleet = await LocalFleet.open(db, fleetOptions);
  const lines: Record<string, unknown>[] = [];
  return {
    db,
    queue,
    fleet,
    fleetOptions,
    lines,
    log: (line: ControllerEvent) => lines.push({ ...line }),
    async running(): Promise<string[]> {
      return (await fleet.describe({ states: ["pending", "running"] })).map((i) => i.name);
    },
    async tearDown() {
      const live = await fleet.describe({ states: ["pending", "running", "stopping"] });
      await fleet.terminate(live.map((i) => i.id));
      await fleet.settled();
      await fleet.close();
      await queue.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function send(queue: SqliteMessageQueue, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await queue.send(REQ, `{"n":${i}}`);
}

Deno.test("Controller.tick starts stopped instances before creating new ones, up to the maximum", async () => {
  const s = await setUp();
  try {
    const pool = await s.fleet.create(2);
    await send(s.queue, 6);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 4 },
      log: s.log,
    });
    const report = await controller.tick();
    assert.deepEqual(report.applied.started, pool.map((i) => i.name));
    assert.deepEqual(report.applied.launched, ["app-tier-instance-3", "app-tier-instance-4"]);
    assert.deepEqual(report.errors, []);
    assert.equal(report.decision.desired, 4);
    assert.deepEqual(report.decision.clamps, ["instancesMax"]);
    assert.equal((await s.running()).length, 4);
    clock.advanceMs(1_000);
    const again = await controller.tick();
    assert.deepEqual(again.decision.decisions, [], "already at the maximum: nothing more to do");
    assert.equal((await s.fleet.describe()).length, 4, "never created past the maximum");
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller.tick stops every instance once nothing is pending (keep-alive 0)", async () => {
  const s = await setUp();
  try {
    await send(s.queue, 3);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      log: s.log,
    });
    await controller.tick();
    assert.equal((await s.running()).length, 3);
    await s.queue.purge(REQ);
    clock.advanceMs(1_000);
    const report = await controller.tick();
    assert.equal(report.applied.stopped.length, 3);
    assert.deepEqual(await s.running(), []);
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller.tick holds instances for keepAliveMs, then stops them", async () => {
  const s = await setUp();
  try {
    await send(s.queue, 2);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      policy: { keepAliveMs: 5_000 },
    });
    await controller.tick();
    await s.queue.purge(REQ);
    clock.advanceMs(1_000);
    assert.deepEqual((await controller.tick()).decision.clamps, ["keepAlive"]);
    assert.equal((await s.running()).length, 2);
    clock.advanceMs(5_000);
    assert.equal((await controller.tick()).applied.stopped.length, 2);
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller adopts a fleet another controller started, without starting more", async () => {
  const s = await setUp();
  try {
    await send(s.queue, 3);
    const first = new Controller({ queue: s.queue, fleet: s.fleet }, { requestQueue: REQ });
    await first.tick();
    assert.equal((await s.running()).length, 3);
    // A new process: new fleet handle, new controller, no memory of the first.
    const fleet2 = await LocalFleet.open(s.db, s.fleetOptions);
    try {
      const second = new Controller({ queue: s.queue, fleet: fleet2 }, {
        requestQueue: REQ,
        log: s.log,
      });
      const report = await second.tick();
      assert.deepEqual(report.decision.decisions, []);
      assert.equal(report.decision.inputs.running, 3);
      await s.queue.purge(REQ);
      assert.equal((await second.tick()).applied.stopped.length, 3, "and scales it to 0");
      assert.deepEqual(await s.running(), []);
    } finally {
      await fleet2.close();
    }
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller logs one JSON line per decision with inputs, desired, clamps and actions", async () => {
  const s = await setUp();
  try {
    await send(s.queue, 20);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2 },
      log: s.log,
    });
    await controller.tick();
    clock.advanceMs(1_000);
    await controller.tick(); // the fleet changed (2 running): logged
    clock.advanceMs(1_000);
    await controller.tick(); // nothing changed, nothing to do: not logged again
    assert.equal(s.lines.length, 2);
    assert.equal(JSON.parse(JSON.stringify(s.lines[1])).inputs.running, 2);
    const line = JSON.parse(JSON.stringify(s.lines[0]));
    assert.equal(line.event, "decision");
    assert.equal(line.inputs.visible, 20);
    assert.equal(line.demand, 20);
    assert.equal(line.desired, 2);
    assert.deepEqual(line.clamps, ["instancesMax"]);
    assert.deepEqual(line.applied.launched, ["app-tier-instance-1", "app-tier-instance-2"]);
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller reports a failing fleet call and retries it on the next tick", async () => {
  const s = await setUp(1);
  try {
    // A second service sharing the fleet took the only slot the fleet allows.
    const [other] = await s.fleet.create(1);
    await send(s.queue, 2);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2 },
      log: s.log,
    });
    const report = await controller.tick();
    assert.deepEqual(report.applied.started, [other.name]);
    assert.equal(report.errors.length, 1);
    assert.match(report.errors[0], /^launch: LimitExceededError/);
    clock.advanceMs(1_000);
    const retry = await controller.tick();
    assert.equal(retry.decision.decisions.length, 1, "asks again instead of waiting 30 s");
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller retries a stop EC2 refused for a pending instance, and stops the others at once", async () => {
  // The real Ec2Fleet over the EC2 stand-in, which refuses StopInstances for a pending instance
  // with IncorrectInstanceState (the fleet port's InvalidStateError), as EC2 does.
  const fake = installFakeEc2();
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    pollIntervalMs: 0,
  });
  const dir = await Deno.makeTempDir({ prefix: "controller_loop_test_" });
  const queue = await SqliteMessageQueue.open(join(dir, "cloud.db"));
  try {
    await queue.ensureQueue(REQ, { messageBytesMax: 1024 });
    const [one, two] = await fleet.create(2);
    const clock = new ManualClock(1_000);
    const controller = new Controller({ queue, fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2 },
    });
    await send(queue, 1);
    assert.deepEqual((await controller.tick()).applied.started, [one.name]);
    await send(queue, 1);
    clock.advanceMs(1_000);
    assert.deepEqual((await controller.tick()).applied.started, [two.name]);
    await queue.purge(REQ);
    clock.advanceMs(1_000);
    // Now one is running and two still pending: nothing is pending in the queue, stop both.
    const refused = await controller.tick();
    assert.deepEqual(refused.decision.decisions.map((d) => d.action), ["stop", "stop"]);
    assert.deepEqual(refused.applied.stopped, [one.name], "the running one stops at once");
    assert.equal(refused.errors.length, 1);
    assert.match(refused.errors[0], new RegExp(`^stop ${two.name}: InvalidStateError`));
    clock.advanceMs(1_000);
    const retried = await controller.tick();
    assert.deepEqual(retried.applied.stopped, [two.name], "the refused stop is asked again");
    assert.deepEqual(retried.errors, []);
    const live = await fleet.describe({ states: ["pending", "running"] });
    assert.deepEqual(live, []);
  } finally {
    await fleet.close();
    fake.restore();
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Controller.run ticks until aborted and survives an unobservable queue", async () => {
  const s = await setUp();
  try {
    const controller = new Controller({ queue: s.queue, fleet: s.fleet }, {
      requestQueue: "missing-queue",
      policy: { tickMs: 20 },
      log: s.log,
    });
    const abort = new AbortController();
    const running = controller.run(abort.signal);
    await new Promise((r) => setTimeout(r, 150));
    abort.abort();
    await running;
    const failures = s.lines.filter((l) => l.event === "tick_failed");
    assert.ok(failures.length >= 2, `ticked repeatedly, got ${failures.length}`);
    assert.match(String(failures[0].error), /missing-queue/);
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller rejects a bad policy setting at construction, naming it", async () => {
  const s = await setUp();
  try {
    assert.throws(
      () =>
        new Controller({ queue: s.queue, fleet: s.fleet }, {
          requestQueue: REQ,
          policy: { instancesMax: 0 },
        }),
      /instancesMax/,
    );
  } finally {
    await s.tearDown();
  }
});

Deno.test("Controller backs off workers that exit not ready, reports why, and clears it once one is ready", async () => {
  const s = await setUp(2);
  // Workers that cannot become ready: the dedicated exit code, at once.
  const failing = await LocalFleet.open(s.db, {
    ...s.fleetOptions,
    command: ["sh", "-c", "exit 78"],
  });
  try {
    const [one] = await failing.create(1);
    await send(s.queue, 3);
    const reports: (ControllerCondition | null)[] = [];
    const latest = (): ControllerCondition | null => reports[reports.length - 1] ?? null;
    // The fleet stamps real time: the controller's clock starts with it (as both read the
    // system clock in a stack), then runs ahead.
    const clock = new ManualClock(Date.now());
    const controller = new Controller({ queue: s.queue, fleet: failing, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2, notReadyBackoffMs: 2_000, notReadyBackoffMsMax: 8_000 },
      log: s.log,
      report: (condition) => reports.push(condition),
    });
    const first = await controller.tick();
    assert.deepEqual(first.applied.started, [one.name]);
    assert.equal(first.applied.launched.length, 1);
    assert.deepEqual([...reports], [null], "told once at the first tick: nothing wrong");
    await failing.settled();
    clock.advanceMs(1_000);
    const failed = await controller.tick();
    assert.deepEqual(failed.decision.decisions, [], "no respawn right after the failure");
    const condition = latest()!;
    assert.equal(condition.code, "workers_not_ready");
    assert.equal(condition.refuseUploads, true);
    assert.match(condition.message, /^workers cannot become ready: .*code 78 \(not ready\)/);
    clock.advanceMs(1_000);
    assert.deepEqual((await controller.tick()).decision.decisions, [], "still backing off");
    clock.advanceMs(1_000);
    const probe = await controller.tick();
    assert.deepEqual(probe.applied.started, [one.name], "one probe after the back-off");
    assert.equal(reports.length, 2, "the same condition is not reported again");
    await failing.settled();
    // The next failure doubles the wait: 4 s.
    for (let k = 0; k < 4; k++) {
      clock.advanceMs(1_000);
      assert.deepEqual((await controller.tick()).decision.decisions, [], `tick ${k}`);
    }
    assert.equal(latest()?.detail.failures, 2);
    // A worker says it is ready (the model was fixed): the condition clears.
    const reporter = LocalFleet.reporter(s.db, one.id);
    await reporter.ready();
    await reporter.close();
    clock.advanceMs(1_000);
    await controller.tick();
    assert.equal(latest(), null);
    assert.ok(s.lines.some((l) => l.event === "workers_ready"));
  } finally {
    await failing.settled();
    await failing.close();
    await s.tearDown();
  }
});

Deno.test("Controller.tick tells observe what it read: the request queue's counts and the fleet, before acting", async () => {
  const s = await setUp();
  try {
    const pool = await s.fleet.create(2);
    await send(s.queue, 3);
    const clock = new ManualClock(5_000);
    const seen: { nowMs: number; visible: number; states: string[] }[] = [];
    const controller = new Controller({ queue: s.queue, fleet: s.fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2 },
      log: s.log,
      observe: ({ nowMs, queue, instances }) =>
        seen.push({ nowMs, visible: queue.visible, states: instances.map((i) => i.state) }),
    });
    await controller.tick();
    assert.deepEqual(seen, [{ nowMs: 5_000, visible: 3, states: pool.map(() => "stopped") }]);
  } finally {
    await s.tearDown();
  }
});
