/**
 * The log lines the worker loop and the controller really write, on real queues and fleets, are
 * read back by the simulator's decoder (`sim/log_lines.ts`) as the events they were: nothing the
 * emitters put in a line (an undefined, a non-finite number) is lost or changed on the way
 * through JSON. `sim/log_lines_test.ts` covers every kind from examples; this covers the kinds
 * these components emit in-process, from the emitters themselves.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { ManualClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { Controller, type ControllerEvent, controllerLine } from "../controller/mod.ts";
import { encodeRequest, type WorkerEvent, workerLine } from "../protocol/mod.ts";
import { decodeControllerLine, decodeWorkerLine } from "../sim/log_lines.ts";
import { installFakeEc2 } from "../testing/fake_ec2.ts";
import { runWorker, type WorkerRoutes } from "../worker/mod.ts";

const routes: WorkerRoutes = {
  requestQueue: "t-req-queue",
  responseQueue: "t-resp-queue",
  inBucket: "t-in-bucket",
  outBucket: "t-out-bucket",
  deadLetterQueue: "t-req-dlq",
};

/** Describes the instance until the EC2 stand-in has moved it past pending. */
async function untilRunning(fleet: Ec2Fleet, id: string): Promise<void> {
  for (let k = 0; k < 10; k++) {
    if ((await fleet.describe({ ids: [id] }))[0].state === "running") return;
  }
  throw new Error(`${id} is not running after 10 describes`);
}

/** The line as the process prints it, decoded as `sim/validate.ts` decodes it. */
function roundTrip<T>(line: T, decode: (value: unknown) => T): void {
  const text = JSON.stringify(line);
  assert.deepEqual(decode(JSON.parse(text)), JSON.parse(text), text);
  assert.deepEqual(JSON.parse(text), line, `${text}: nothing lost in JSON`);
}

Deno.test("every line the worker loop writes decodes to the event it wrote", async () => {
  const dir = await Deno.makeTempDir({ prefix: "log_events_test_" });
  const queue = await SqliteMessageQueue.open(join(dir, "cloud.db"));
  const blobs = await LocalBlobStore.open(join(dir, "blobs"), { syncData: false });
  try {
    await queue.ensureQueue(routes.deadLetterQueue!);
    await queue.ensureQueue(routes.requestQueue, {
      deadLetter: { queue: routes.deadLetterQueue!, receiveCountMax: 2 },
    });
    await queue.ensureQueue(routes.responseQueue);
    await blobs.ensureBucket(routes.inBucket);
    await blobs.ensureBucket(routes.outBucket);
    const request = (id: string, key: string) =>
      encodeRequest({ v: 1, id, key, stem: key.replace(/\..*$/, ""), acceptedAtMs: 0 });
    await blobs.put(routes.inBucket, "ok.jpg", new Uint8Array([1]));
    await blobs.put(routes.inBucket, "crash.jpg", new Uint8Array([2]));
    await queue.send(routes.requestQueue, request("a1", "ok.jpg"));
    await queue.send(routes.requestQueue, request("a2", "gone.jpg"));
    await queue.send(routes.requestQueue, request("a3", "crash.jpg"));
    await queue.send(routes.requestQueue, "not a request");
    const events: WorkerEvent[] = [];
    await runWorker({
      queue,
      blobs,
      clock: new ManualClock(0),
      recognize: (bytes) =>
        bytes[0] === 1
          ? Promise.resolve({ label: "Paul", faces: [], timingsMs: { detectMs: 1 } })
          : Promise.reject(new Error("the session crashed")),
    }, { routes, workerName: "app-tier-instance-1", requestsMax: 5, log: (e) => events.push(e) });
    const kinds = new Set(events.map((e) => e.event));
    for (const kind of ["answered", "refused", "released", "bad_message"] as const) {
      assert.ok(kinds.has(kind), `${kind} in ${[...kinds]}`);
    }
    for (const event of events) {
      roundTrip(workerLine("app-tier-instance-1", event), decodeWorkerLine);
    }
  } finally {
    await queue.close();
    await blobs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every line the controller writes decodes to the event it wrote", async () => {
  const fake = installFakeEc2();
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    pollIntervalMs: 0,
  });
  const dir = await Deno.makeTempDir({ prefix: "log_events_test_" });
  const queue = await SqliteMessageQueue.open(join(dir, "cloud.db"));
  const events: ControllerEvent[] = [];
  const log = (e: ControllerEvent) => events.push(e);
  try {
    const REQ = "c-req-queue";
    await queue.ensureQueue(REQ);
    const [one, two] = await fleet.create(2);
    // The fake EC2 stamps launches with the wall clock; the readiness marks must come after.
    const clock = new ManualClock(Date.now());
    const controller = new Controller({ queue, fleet, clock }, {
      requestQueue: REQ,
      policy: { instancesMax: 2 },
      log,
    });
    await queue.send(REQ, "a");
    await queue.send(REQ, "b");
    await controller.tick(); // starts both
    clock.advanceMs(1_000);
    await fleet.markWorker!(one.id, {
      ready: false,
      atMs: clock.nowMs(),
      reason: "ModelError: bad",
    });
    // The worker stops its own instance once it is running (EC2 refuses a pending one).
    await untilRunning(fleet, one.id);
    await fleet.stop([one.id]);
    await controller.tick(); // workers_not_ready
    clock.advanceMs(1_000);
    await untilRunning(fleet, two.id);
    await fleet.markWorker!(two.id, { ready: true, atMs: clock.nowMs() });
    await queue.purge(REQ);
    await controller.tick(); // workers_ready; stops with nothing pending
    clock.advanceMs(1_000);
    await controller.tick();
    // A queue that does not exist: the tick fails, the loop logs it and goes on.
    const broken = new Controller({ queue, fleet }, {
      requestQueue: "missing-queue",
      policy: { tickMs: 10 },
      log,
    });
    const stop = new AbortController();
    const running = broken.run(stop.signal);
    await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await running;
    const kinds = new Set(events.map((e) => e.event));
    for (const kind of ["decision", "workers_not_ready", "workers_ready", "tick_failed"] as const) {
      assert.ok(kinds.has(kind), `${kind} in ${[...kinds]}`);
    }
    for (const event of events) roundTrip(controllerLine(event), decodeControllerLine);
  } finally {
    await fleet.close();
    fake.restore();
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});
