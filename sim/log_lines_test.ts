import assert from "node:assert/strict";
import {
  type ControllerEvent,
  type ControllerEventKind,
  controllerLine,
} from "../controller/log_events.ts";
import { type WorkerEvent, type WorkerEventKind, workerLine } from "../protocol/worker_events.ts";
import {
  CONTROLLER_EVENT_KINDS,
  decodeControllerLine,
  decodeStackLine,
  decodeWorkerLine,
  LogLineError,
  WORKER_EVENT_KINDS,
} from "./log_lines.ts";

/** Examples of every worker event kind, each shape of a kind with two; the type keeps it complete. */
const WORKER_EXAMPLES: { [K in WorkerEventKind]: Extract<WorkerEvent, { event: K }>[] } = {
  ready: [{ event: "ready", modelBackend: "native", importMs: 40, readyMs: 1900 }],
  not_ready: [{ event: "not_ready", reason: "NotFound: …/models/manifest.json", exitCode: 78 }],
  ready_unreported: [{ event: "ready_unreported", error: "Error: database is locked" }],
  not_ready_unreported: [{ event: "not_ready_unreported", error: "Error: database is locked" }],
  native_unavailable: [{ event: "native_unavailable", error: "Error: no prebuilt addon" }],
  stopping: [{ event: "stopping", reason: "idle", answered: 3, refused: 1, released: 0 }],
  instance_stopped: [{ event: "instance_stopped", instanceId: "i-0123456789abcdef0" }],
  failed: [
    { event: "failed", error: "NotFoundError: queue does not exist", code: "not_found" },
    { event: "failed", error: "Error: boom" },
  ],
  storage_refused: [{
    event: "storage_refused",
    step: "put_label",
    reason: "disk_full",
    error: "the disk is full; free space",
    path: "/data/blobs/objects.db",
    retryMs: 1000,
  }],
  storage_recovered: [{ event: "storage_recovered", step: "receive", attempts: 4 }],
  bad_message: [{ event: "bad_message", reason: "Request message is not JSON", body: "{" }],
  released: [
    { event: "released", id: "r1", reason: "aborted" },
    { event: "released", id: "r2", receiveCount: 2, error: "Error: session closed" },
  ],
  answered: [{
    event: "answered",
    id: "r3",
    stem: "test_00",
    label: "Paul",
    receiveCount: 1,
    serviceMs: 212,
  }],
  refused: [{
    event: "refused",
    id: "r4",
    stem: "bad",
    code: "image_truncated",
    receiveCount: 1,
    serviceMs: 3,
  }],
  heartbeat_failed: [{ event: "heartbeat_failed", error: "StaleReceiptError: stale" }],
};

const INPUTS = {
  visible: 2,
  inFlight: 1,
  delayed: 0,
  pending: 1,
  running: 1,
  stopping: 0,
  stopped: 3,
  awaiting: 1,
  busy: 1,
};
const NOT_READY = {
  reason: "ModelError: the model directory is a file",
  instance: "app-tier-instance-2",
  atMs: 1_700_000_000_000,
  failures: 2,
  retryAtMs: 1_700_000_002_000,
  noneReady: true,
};

/** Examples of every controller event kind; the type keeps it complete. */
const CONTROLLER_EXAMPLES: {
  [K in ControllerEventKind]: Extract<ControllerEvent, { event: K }>[];
} = {
  decision: [{
    event: "decision",
    nowMs: 1_700_000_000_000,
    inputs: INPUTS,
    demand: 3,
    desired: 3,
    target: 3,
    clamps: ["instancesMax", "notReady"],
    decisions: [
      { action: "start", id: "i-1", name: "app-tier-instance-1" },
      { action: "launch", name: "app-tier-instance-4" },
      { action: "stop", id: "i-2", name: "app-tier-instance-2" },
    ],
    notReady: NOT_READY,
    applied: {
      started: ["app-tier-instance-1"],
      launched: ["app-tier-instance-4"],
      stopped: [],
    },
    errors: ["stop: InvalidStateError: pending"],
  }, {
    event: "decision",
    nowMs: 0,
    inputs: INPUTS,
    demand: 0,
    desired: 0,
    target: 0,
    clamps: [],
    decisions: [],
    notReady: null,
    applied: { started: [], launched: [], stopped: [] },
    errors: [],
  }],
  workers_not_ready: [{ event: "workers_not_ready", ...NOT_READY, refuseUploads: true }],
  workers_ready: [{ event: "workers_ready" }],
  tick_failed: [{ event: "tick_failed", error: "NotFoundError: queue does not exist" }],
  crashed: [{ event: "crashed", error: "PolicyInvariantError: time went backwards" }],
  dead_letter_sweep_failed: [{ event: "dead_letter_sweep_failed", error: "Error: locked" }],
  dead_letter: [
    { event: "dead_letter", id: "r5", key: "crash.jpg" },
    { event: "dead_letter", unreadable: "Request message is not JSON", body: "{" },
  ],
};

/** What a reader gets: the line as the process writes it, through JSON. */
function written(line: object): unknown {
  return JSON.parse(JSON.stringify(line));
}

/** A value of another JSON type than `value`'s. */
function wrongType(value: unknown): unknown {
  if (typeof value === "string") return 7;
  if (value === null || typeof value === "number" || Array.isArray(value)) return "x";
  if (typeof value === "boolean") return "yes";
  return 7;
}

Deno.test("decodeWorkerLine round-trips a line of every worker event kind through JSON", () => {
  assert.deepEqual(WORKER_EVENT_KINDS.toSorted(), Object.keys(WORKER_EXAMPLES).toSorted());
  for (const event of Object.values(WORKER_EXAMPLES).flat()) {
    const line = written(workerLine("app-tier-instance-1", event));
    const decoded = decodeWorkerLine(line);
    assert.deepEqual(decoded, { component: "worker", worker: "app-tier-instance-1", ...event });
    assert.deepEqual(decodeStackLine(line), decoded);
  }
});

Deno.test("decodeControllerLine round-trips a line of every controller event kind through JSON", () => {
  assert.deepEqual(CONTROLLER_EVENT_KINDS.toSorted(), Object.keys(CONTROLLER_EXAMPLES).toSorted());
  for (const event of Object.values(CONTROLLER_EXAMPLES).flat()) {
    const line = written(controllerLine(event));
    const decoded = decodeControllerLine(line);
    assert.deepEqual(decoded, { component: "controller", ...event });
    assert.deepEqual(decodeStackLine(line), decoded);
  }
});

Deno.test("decodeStackLine refuses a line with any field of the wrong type, naming the kind and the field", () => {
  const lines = [
    ...Object.values(WORKER_EXAMPLES).flat().map((e) => written(workerLine("w", e))),
    ...Object.values(CONTROLLER_EXAMPLES).flat().map((e) => written(controllerLine(e))),
  ] as Record<string, unknown>[];
  let refused = 0;
  for (const line of lines) {
    for (const [key, value] of Object.entries(line)) {
      if (key === "component") continue; // another component's line: not read at all
      const broken = { ...line, [key]: wrongType(value) };
      assert.throws(
        () => decodeStackLine(broken),
        (e: Error) => {
          assert.ok(e instanceof LogLineError, `${line.event}.${key}: got ${e}`);
          assert.match(e.message, new RegExp(`^${line.component} line.*\\b${key}\\b must be`));
          return true;
        },
      );
      refused++;
    }
  }
  assert.ok(refused > 100, `${refused} broken lines`);
});

Deno.test("decodeStackLine says which field is wrong, where, and what it got", () => {
  const answered = written(workerLine("w", WORKER_EXAMPLES.answered[0])) as Record<string, unknown>;
  assert.throws(
    () => decodeStackLine({ ...answered, serviceMs: "212" }),
    {
      name: "LogLineError",
      message: 'worker line "answered": serviceMs must be a number, got "212"',
    },
  );
  const { serviceMs: _, ...missing } = answered;
  assert.throws(() => decodeStackLine(missing), {
    message: 'worker line "answered": serviceMs must be a number, got nothing',
  });
  assert.throws(() => decodeStackLine({ ...answered, event: "recognized" }), {
    message: /^worker line: event must be one of ready, .*answered.*, got "recognized"$/,
  });
  const decision = written(controllerLine(CONTROLLER_EXAMPLES.decision[0])) as {
    decisions: Record<string, unknown>[];
    inputs: Record<string, unknown>;
  };
  assert.throws(
    () =>
      decodeStackLine({
        ...decision,
        decisions: [decision.decisions[0], { ...decision.decisions[1], action: "boot" }],
      }),
    {
      message:
        'controller line "decision": decisions[1].action must be one of start, launch, stop, got "boot"',
    },
  );
  assert.throws(
    () => decodeStackLine({ ...decision, inputs: { ...decision.inputs, pending: null } }),
    { message: 'controller line "decision": inputs.pending must be a number, got null' },
  );
  assert.throws(() => decodeStackLine("ready"), {
    message: 'log line must be a JSON object, got "ready"',
  });
});

Deno.test("decodeStackLine leaves other components' lines unread", () => {
  assert.equal(decodeStackLine({ component: "service", event: "listening", url: 1 }), null);
  assert.equal(decodeStackLine({ component: "web", event: "request_failed" }), null);
  assert.equal(decodeStackLine({ event: "answered" }), null);
});
