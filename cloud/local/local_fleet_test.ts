import assert from "node:assert/strict";
import { eventually } from "../contract/helpers.ts";
import { fleetContract, waitForStates } from "../contract/fleet_contract.ts";
import { SqliteMessageQueue } from "./sqlite_message_queue.ts";
import { LocalFleet, type LocalFleetOptions } from "./local_fleet.ts";

const WORKER = new URL("./testdata/echo_worker.ts", import.meta.url).pathname;

/** A temp data dir with a request and response queue, and the worker's command line. */
async function setUp(idleMs: number, visibilityTimeoutMs = 30_000) {
  const dir = await Deno.makeTempDir({ prefix: "fleet-" });
  const db = `${dir}/cloud.db`;
  const mq = await SqliteMessageQueue.open(db);
  await mq.ensureQueue("req", { messageBytesMax: 1024, visibilityTimeoutMs });
  await mq.ensureQueue("resp");
  const options: LocalFleetOptions = {
    command: [Deno.execPath(), "run", "-A", "--quiet", WORKER],
    env: { FR_QUEUE_DB: db, FR_REQ_QUEUE: "req", FR_RESP_QUEUE: "resp", FR_IDLE_MS: `${idleMs}` },
    output: "inherit",
    instancesMax: 6,
    stopGraceMs: 2_000,
  };
  const tearDown = async () => {
    await mq.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, db, mq, options, tearDown };
}

Deno.test("LocalFleet keeps the fleet contract with real worker processes", async (t) => {
  await fleetContract(t, {
    name: "LocalFleet",
    instancesMax: 6,
    open: async () => {
      const env = await setUp(120_000);
      const fleet = await LocalFleet.open(env.db, env.options);
      return {
        fleet,
        cleanup: async () => {
          await fleet.settled();
          await env.tearDown();
        },
      };
    },
  });
});

Deno.test("LocalFleet marks a worker that exits on its own as stopped", async () => {
  const env = await setUp(300);
  const fleet = await LocalFleet.open(env.db, env.options);
  try {
    const [w] = await fleet.create(1);
    await fleet.start([w.id]);
    await env.mq.send("req", "hello");
    const [answer] = await eventually(async () => {
      const got = await env.mq.receive("resp", { waitMs: 1000 });
      return got.length > 0 ? got : undefined;
    }, "the worker's answer");
    assert.equal(answer.body, "app-tier-instance-1:hello");
    const [stopped] = await waitForStates(fleet, [w.id], ["stopped"]);
    assert.ok(stopped.stateChangedAtMs! >= w.stateChangedAtMs!);
  } finally {
    await fleet.settled();
    await fleet.close();
    await env.tearDown();
  }
});

Deno.test("LocalFleet shows a killed worker as stopped and its message comes back after the visibility timeout", async () => {
  const env = await setUp(60_000, 1_500);
  const fleet = await LocalFleet.open(env.db, env.options);
  try {
    const [w] = await fleet.create(1);
    await fleet.start([w.id]);
    await env.mq.send("req", "hang");
    await eventually(
      async () => (await env.mq.counts("req")).inFlight === 1,
      "the worker to take the message",
    );
    const pid = await fleet.processId(w.id);
    assert.ok(pid !== null && pid > 0, "worker pid");
    Deno.kill(pid, "SIGKILL");
    await waitForStates(fleet, [w.id], ["stopped"]);
    assert.deepEqual(await env.mq.receive("req"), [], "message still hidden right after the kill");
    const back = await eventually(
      async () => (await env.mq.receive("req"))[0],
      "redelivery",
      10_000,
    );
    assert.equal(back.body, "hang");
    assert.equal(back.receiveCount, 2);
  } finally {
    await fleet.settled();
    await fleet.close();
    await env.tearDown();
  }
});

Deno.test("LocalFleet opened by a restarted controller sees workers another process started", async () => {
  const env = await setUp(60_000);
  const controller = new URL("./testdata/start_one.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", controller, env.db, JSON.stringify(env.options)],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0, "the first controller ran");
  const id = new TextDecoder().decode(out.stdout).trim();
  const fleet = await LocalFleet.open(env.db, env.options);
  try {
    const [seen] = await fleet.describe({ ids: [id] });
    assert.equal(seen.state, "running", "the first controller exited; its worker did not");
    await env.mq.send("req", "after-restart");
    const [answer] = await eventually(async () => {
      const got = await env.mq.receive("resp", { waitMs: 1000 });
      return got.length > 0 ? got : undefined;
    }, "an answer from the orphaned worker");
    assert.equal(answer.body, "app-tier-instance-1:after-restart");
    await fleet.stop([id]);
    await waitForStates(fleet, [id], ["stopped"]);
  } finally {
    await fleet.close();
    await env.tearDown();
  }
});

Deno.test("LocalFleet records each run: its start, when its worker was ready, and how it ended", async () => {
  const env = await setUp(300);
  const fleet = await LocalFleet.open(env.db, env.options);
  try {
    const [w] = await fleet.create(1);
    assert.equal(w.lastExit, null);
    const beforeMs = Date.now();
    await fleet.start([w.id]);
    // Idle 300 ms, then it exits on its own.
    const [exited] = await waitForStates(fleet, [w.id], ["stopped"]);
    assert.ok(exited.lastStartedAtMs! >= beforeMs);
    assert.ok(exited.readyAtMs! >= exited.lastStartedAtMs!, "it said it was ready");
    assert.equal(exited.lastExit?.kind, "exited");
    assert.ok(exited.lastExit!.atMs >= exited.readyAtMs!);

    const slow = await LocalFleet.open(env.db, {
      ...env.options,
      env: { ...env.options.env, FR_IDLE_MS: "60000" },
    });
    try {
      await slow.start([w.id]);
      const [running] = await waitForStates(slow, [w.id], ["running"]);
      assert.ok(running.lastStartedAtMs! > exited.lastStartedAtMs!);
      assert.equal(running.lastExit?.kind, "exited", "the last run's end is kept while it runs");
      await eventually(
        async () => (await slow.describe({ ids: [w.id] }))[0].readyAtMs !== null,
        "ready",
      );
      Deno.kill((await slow.processId(w.id))!, "SIGKILL");
      const [killed] = await waitForStates(slow, [w.id], ["stopped"]);
      assert.deepEqual(killed.lastExit && { ...killed.lastExit, atMs: 0 }, {
        atMs: 0,
        kind: "crashed",
        reason: "killed by SIGKILL",
      });

      await slow.start([w.id]);
      await waitForStates(slow, [w.id], ["running"]);
      assert.equal((await slow.describe({ ids: [w.id] }))[0].readyAtMs, null, "a new run");
      await slow.stop([w.id]);
      const [stopped] = await waitForStates(slow, [w.id], ["stopped"]);
      assert.equal(stopped.lastExit?.kind, "stopped");
    } finally {
      await slow.settled();
      await slow.close();
    }
  } finally {
    await fleet.settled();
    await fleet.close();
    await env.tearDown();
  }
});

Deno.test("LocalFleet records a worker that cannot become ready, with its reason and no server path", async () => {
  const env = await setUp(60_000);
  const fleet = await LocalFleet.open(env.db, {
    ...env.options,
    env: {
      ...env.options.env,
      FR_NOT_READY: 'NotFound: Model "ssd_mobilenetv1" is not built in /srv/app/.cache/models/',
    },
  });
  const bare = await LocalFleet.open(env.db, { ...env.options, command: ["sh", "-c", "exit 78"] });
  try {
    const [w, v] = await fleet.create(2);
    await fleet.start([w.id]);
    await bare.start([v.id]);
    const [failed, silent] = await waitForStates(fleet, [w.id, v.id], ["stopped"]);
    assert.equal(failed.lastExit?.kind, "not_ready");
    assert.equal(
      failed.lastExit?.reason,
      'NotFound: Model "ssd_mobilenetv1" is not built in …/.cache/models',
    );
    assert.equal(failed.readyAtMs, null);
    assert.equal(silent.lastExit?.kind, "not_ready", "the exit code alone says not ready");
    assert.match(silent.lastExit!.reason!, /code 78 \(not ready\) without a reason/);
  } finally {
    await fleet.settled();
    await bare.settled();
    await bare.close();
    await fleet.close();
    await env.tearDown();
  }
});

Deno.test("LocalFleet upgrades a version 2 database in place, keeping its instances", async () => {
  const env = await setUp(60_000);
  try {
    const first = await LocalFleet.open(env.db, env.options);
    const [w] = await first.create(1);
    await first.close();
    await env.mq.close();
    // Turn the file back into what version 2 wrote: no run columns.
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(env.db);
    for (
      const c of ["started_ms", "ready_ms", "run_reason", "exit_ms", "exit_kind", "exit_reason"]
    ) {
      db.exec(`ALTER TABLE instances DROP COLUMN ${c}`);
    }
    db.exec("PRAGMA user_version = 2");
    db.close();
    const fleet = await LocalFleet.open(env.db, env.options);
    try {
      const [seen] = await fleet.describe();
      assert.equal(seen.id, w.id);
      assert.equal(seen.lastExit, null);
      assert.equal(seen.lastStartedAtMs, null);
    } finally {
      await fleet.close();
    }
  } finally {
    await Deno.remove(env.dir, { recursive: true });
  }
});

Deno.test("LocalFleet.settled waits for a worker it stopped that another handle started", async () => {
  const env = await setUp(60_000);
  const starter = await LocalFleet.open(env.db, env.options);
  const stopper = await LocalFleet.open(env.db, env.options);
  try {
    const [w] = await starter.create(1);
    await starter.start([w.id]);
    await waitForStates(stopper, [w.id], ["running"]);
    await stopper.stop([w.id]);
    await stopper.settled();
    // No waiting here: a shutdown closes right after settled().
    const [after] = await stopper.describe({ ids: [w.id] });
    assert.equal(after.state, "stopped");
    assert.equal(after.lastExit?.kind, "stopped");
  } finally {
    await starter.settled();
    await stopper.close();
    await starter.close();
    await env.tearDown();
  }
});
