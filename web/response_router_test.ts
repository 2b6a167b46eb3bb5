import assert from "node:assert/strict";
import { join } from "node:path";
import { ManualClock, systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { encodeResponse, type RecognitionResponse } from "../protocol/mod.ts";
import { OverloadedError, ResponseRouter, type RouterEvent } from "./response_router.ts";

const RESP = "r-resp-queue";
const OUT = "r-out-bucket";

function ok(id: string, label: string, stem = `s-${id}`): RecognitionResponse {
  return { v: 1, id, stem, ok: true, label, faces: [], timingsMs: {}, worker: "w" };
}

async function open(clock = systemClock, options = {}) {
  const root = await Deno.makeTempDir({ prefix: "fr-router-test-" });
  const queue = await SqliteMessageQueue.open(join(root, "q.db"));
  const blobs = await LocalBlobStore.open(join(root, "blobs"), { syncData: false });
  await queue.ensureQueue(RESP);
  await blobs.ensureBucket(OUT);
  const events: RouterEvent[] = [];
  const router = new ResponseRouter({ queue, blobs, clock, log: (e) => events.push(e) }, {
    responseQueue: RESP,
    outBucket: OUT,
    receiveWaitMs: 500,
    ...options,
  });
  return {
    queue,
    blobs,
    router,
    events,
    async close() {
      await router.stop();
      await queue.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const track = (router: ResponseRouter, id: string, acceptedAtMs = 0) =>
  router.track({ id, key: `s-${id}.jpg`, stem: `s-${id}`, acceptedAtMs });

Deno.test("ResponseRouter hands each answer to the request waiting on its id and empties the queue", async () => {
  const t = await open();
  try {
    t.router.start();
    const ids = Array.from({ length: 30 }, (_, i) => `req-${i}`);
    for (const id of ids) track(t.router, id);
    const waits = ids.map((id) => t.router.wait(id, 10_000));
    // Answer in reverse order: routing must go by id, not arrival.
    for (const id of [...ids].reverse()) await t.queue.send(RESP, encodeResponse(ok(id, `L${id}`)));
    const results = await Promise.all(waits);
    results.forEach((r, i) => {
      assert.equal(r?.response.ok && r.response.label, `L${ids[i]}`);
      assert.equal(r?.source, "queue");
    });
    // Deletes follow the hand-over; give the loop a moment to finish them.
    for (let i = 0; i < 50 && (await t.queue.counts(RESP)).inFlight > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(await t.queue.counts(RESP), { visible: 0, inFlight: 0, delayed: 0 });
    const stats = t.router.stats();
    assert.equal(stats.matched, 30);
    assert.equal(stats.pending, 0);
    assert.equal(stats.waiting, 0);
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter keeps an answer that arrives after the wait timed out, for status()", async () => {
  const clock = new ManualClock(1_000);
  const t = await open(clock);
  try {
    t.router.start();
    track(t.router, "late", 1_000);
    const waiting = t.router.wait("late", 5_000);
    clock.advanceMs(5_000);
    assert.equal(await waiting, undefined);
    assert.equal((await t.router.status("late"))?.state, "pending");
    await t.queue.send(RESP, encodeResponse(ok("late", "Paul")));
    const result = await t.router.wait("late", 60_000);
    assert.equal(result?.response.ok && result.response.label, "Paul");
    const status = await t.router.status("late");
    assert.equal(status?.state, "done");
    assert.equal(await t.router.status("never-tracked"), undefined);
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter stores answers for unknown ids, drops malformed messages, and logs both", async () => {
  const t = await open();
  try {
    t.router.start();
    await t.queue.send(RESP, "not json at all");
    await t.queue.send(
      RESP,
      JSON.stringify({ v: 1, id: "x", stem: "x", ok: "maybe", worker: "w" }),
    );
    await t.queue.send(RESP, encodeResponse(ok("stranger", "Emily")));
    const result = await t.router.wait("stranger", 10_000);
    assert.equal(result?.response.ok && result.response.label, "Emily");
    for (let i = 0; i < 50 && t.router.stats().malformed < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(t.router.stats().malformed, 2);
    assert.equal(t.router.stats().unmatched, 1);
    assert.deepEqual(t.events.map((e) => e.event).sort(), [
      "response_malformed",
      "response_malformed",
      "response_unmatched",
    ]);
    assert.equal((await t.router.status("stranger"))?.state, "done");
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter ignores a redelivered duplicate: the first answer stands", async () => {
  const t = await open();
  try {
    t.router.start();
    track(t.router, "dup");
    await t.queue.send(RESP, encodeResponse(ok("dup", "First")));
    await t.queue.send(RESP, encodeResponse(ok("dup", "Second")));
    assert.equal((await t.router.wait("dup", 10_000))?.response.ok, true);
    for (
      let i = 0;
      i < 50 && (await t.queue.counts(RESP)).visible + (await t.queue.counts(RESP)).inFlight > 0;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const status = await t.router.status("dup");
    assert.equal(
      status?.state === "done" && status.result.response.ok && status.result.response.label,
      "First",
    );
    assert.equal(t.router.stats().matched, 1);
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter answers from the out-bucket label when the answer message is missing, but not from an older label", async () => {
  const clock = new ManualClock(Date.now());
  const t = await open(clock);
  try {
    // An older upload with the same stem left a label before this request was accepted.
    await t.blobs.put(OUT, "s-old", new TextEncoder().encode("Stale"));
    track(t.router, "old", clock.nowMs() + 60_000);
    assert.equal((await t.router.status("old"))?.state, "pending");
    track(t.router, "lost", clock.nowMs() - 60_000);
    await t.blobs.put(OUT, "s-lost", new TextEncoder().encode("Salma\n"));
    const status = await t.router.status("lost");
    assert.equal(status?.state, "done");
    if (status?.state !== "done") return;
    assert.equal(status.result.source, "out-bucket");
    assert.equal(status.result.response.ok && status.result.response.label, "Salma");
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter refuses tracking past pendingRequestsMax unless old entries can go, and bounds kept results", async () => {
  const clock = new ManualClock(0);
  const t = await open(clock, {
    pendingRequestsMax: 3,
    pendingRetentionMs: 1_000,
    resultEntriesMax: 2,
  });
  try {
    for (const id of ["a", "b", "c"]) track(t.router, id, 0);
    assert.throws(() => track(t.router, "d", 0), (e: Error) => {
      assert.ok(e instanceof OverloadedError);
      assert.match(e.message, /pendingRequestsMax = 3/);
      return true;
    });
    clock.advanceMs(2_000);
    track(t.router, "d", 2_000); // a..c are past retention and make room
    assert.equal(t.router.stats().pending, 1);
    t.router.start();
    for (const id of ["r1", "r2", "r3"]) await t.queue.send(RESP, encodeResponse(ok(id, "X")));
    await t.router.wait("r3", 10_000);
    assert.equal(t.router.stats().results, 2);
    assert.equal(await t.router.status("r1"), undefined); // the oldest answer went first
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter.stop ends the long poll at once and releases waiters with no answer", async () => {
  const t = await open(systemClock, { receiveWaitMs: 20_000 });
  try {
    t.router.start();
    track(t.router, "w");
    const waiting = t.router.wait("w", 60_000);
    const started = performance.now();
    await t.router.stop();
    assert.equal(await waiting, undefined);
    assert.ok(performance.now() - started < 5_000, "stop waited for the 20 s long poll");
    assert.equal(t.router.stats().running, false);
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter refuses bad options, naming the setting", () => {
  const deps = { queue: {} as SqliteMessageQueue, clock: systemClock };
  for (
    const [option, value] of [
      ["receiveWaitMs", 30_000],
      ["receiveMessagesMax", 11],
      ["pendingRequestsMax", 0],
      ["resultEntriesMax", 1.5],
    ] as const
  ) {
    assert.throws(
      () => new ResponseRouter(deps, { responseQueue: RESP, [option]: value }),
      new RegExp(option),
    );
  }
});
