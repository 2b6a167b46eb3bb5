import assert from "node:assert/strict";
import { join } from "node:path";
import { type Clock, ManualClock, systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { SqliteRecordStore } from "../cloud/local/sqlite_record_store.ts";
import { encodeResponse } from "../protocol/mod.ts";
import { isRequestId } from "../protocol/mod.ts";
import { RequestLedger, uuidV7 } from "./request_ledger.ts";
import { ResponseRouter } from "./response_router.ts";

const BUCKET = "t-requests-bucket";
const RESP = "t-resp-queue";
const OUT = "t-out-bucket";

/** The embedded stores as the service opens them: records in the queue database. */
async function open(
  clock: ManualClock,
  options: { pruneKeysMax?: number } = {},
  queueClock: Clock = clock,
) {
  const root = await Deno.makeTempDir({ prefix: "fr-ledger-test-" });
  const blobs = await LocalBlobStore.open(join(root, "blobs"), { syncData: false, clock });
  const queue = await SqliteMessageQueue.open(join(root, "q.db"), { clock: queueClock });
  await blobs.ensureBucket(OUT);
  const records = await SqliteRecordStore.open(queue, BUCKET);
  const ledger = new RequestLedger({ records, clock }, {
    recordRetentionMs: 10_000,
    ...options,
  });
  return {
    root,
    blobs,
    queue,
    records,
    ledger,
    async close() {
      await queue.close();
      await blobs.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("uuidV7 ids are request ids whose text sorts by their time", () => {
  const ids = [5, 1_000, 1_001, 2 ** 40, 1_796_285_280_963].map((t) => uuidV7(t));
  for (const id of ids) {
    assert.ok(isRequestId(id), id);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.deepEqual([...ids].reverse().sort(), ids);
  assert.notEqual(uuidV7(1_000), uuidV7(1_000), "random bits differ within a millisecond");
  assert.throws(() => uuidV7(-1), RangeError);
});

Deno.test("RequestLedger reads back what it recorded, an error answer replaces it, unknown ids are undefined", async () => {
  const clock = new ManualClock(1_000_000);
  const t = await open(clock);
  try {
    const id = t.ledger.newId();
    await t.ledger.record({ id, key: "a.jpg", stem: "a", acceptedAtMs: 1_000_000 });
    assert.deepEqual(await t.ledger.read(id), {
      v: 1,
      id,
      key: "a.jpg",
      stem: "a",
      acceptedAtMs: 1_000_000,
    });
    const failure = { code: "image_decode", message: "x".repeat(5_000), worker: "w1" };
    await t.ledger.fail(
      { id, key: "a.jpg", stem: "a", acceptedAtMs: 1_000_000 },
      { ...failure, answeredAtMs: 1_000_500 },
    );
    const failed = await t.ledger.read(id);
    assert.equal(failed?.failure?.code, "image_decode");
    assert.equal(failed?.failure?.message.length, 1_000, "long messages are cut");
    assert.equal(await t.ledger.read(t.ledger.newId()), undefined);
    await t.ledger.forget(id);
    assert.equal(await t.ledger.read(id), undefined);
  } finally {
    await t.close();
  }
});

Deno.test("RequestLedger.prune deletes records past recordRetentionMs, oldest first, at most pruneKeysMax per call", async () => {
  const clock = new ManualClock(1_000_000);
  const t = await open(clock, { pruneKeysMax: 3 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const id = t.ledger.newId();
      await t.ledger.record({ id, key: `k${i}.jpg`, stem: `k${i}`, acceptedAtMs: clock.nowMs() });
      ids.push(id);
      clock.advanceMs(1_000);
    }
    // Now 1_008_000: with 10 s retention nothing is old yet.
    assert.equal(await t.ledger.prune(), 0);
    clock.advanceMs(5_500); // 1_013_500: records stamped before 1_003_500 (the first 4) are old
    assert.equal(await t.ledger.prune(), 3, "pruneKeysMax bounds one call");
    assert.equal(await t.ledger.prune(), 1);
    assert.equal(await t.ledger.prune(), 0);
    for (const [i, id] of ids.entries()) {
      assert.equal((await t.ledger.read(id)) !== undefined, i >= 4, `record ${i}`);
    }
  } finally {
    await t.close();
  }
});

Deno.test("ResponseRouter with a ledger: a new router (a restarted web tier) knows the old one's requests - pending, then done by the out-bucket label or by the recorded error", async () => {
  const clock = new ManualClock(1_000_000);
  // The queue's long polls need time to pass by themselves.
  const t = await open(clock, {}, systemClock);
  const queue = t.queue;
  await queue.ensureQueue(RESP);
  const router = (ledger: RequestLedger) =>
    new ResponseRouter({ queue, blobs: t.blobs, clock, ledger }, {
      responseQueue: RESP,
      outBucket: OUT,
      receiveWaitMs: 200,
    });
  try {
    const before = router(t.ledger);
    before.start();
    const [labelled, refused, waiting] = [t.ledger.newId(), t.ledger.newId(), t.ledger.newId()];
    for (const [id, stem] of [[labelled, "p1"], [refused, "p2"], [waiting, "p3"]]) {
      before.track({ id, key: `${stem}.jpg`, stem, acceptedAtMs: clock.nowMs() });
      await before.record(id);
    }
    // The error answer reaches the old router, which records it.
    await queue.send(
      RESP,
      encodeResponse({
        v: 1,
        id: refused,
        stem: "p2",
        ok: false,
        error: { code: "image_decode", message: "not a JPEG" },
        worker: "w1",
      }),
    );
    const answer = await before.wait(refused, 60_000);
    assert.equal(answer?.response.ok, false);
    await before.stop(); // waits for the record of the error answer
    clock.advanceMs(10);

    // The process restarts: a fresh router and ledger object, nothing in memory.
    const after = router(new RequestLedger({ records: t.records, clock }));
    after.start();
    assert.equal((await after.status(labelled))?.state, "pending");
    assert.equal((await after.status(waiting))?.state, "pending");
    const failed = await after.status(refused);
    assert.equal(failed?.state, "done");
    assert.equal(failed?.state === "done" && failed.result.source, "ledger");
    assert.deepEqual(
      failed?.state === "done" && !failed.result.response.ok && failed.result.response.error,
      { code: "image_decode", message: "not a JPEG" },
    );
    // A worker's label lands in the out-bucket (its answer message went to the old process).
    await t.blobs.put(OUT, "p1", new TextEncoder().encode("Paul"));
    const done = await after.status(labelled);
    assert.equal(
      done?.state === "done" && done.result.response.ok && done.result.response.label,
      "Paul",
    );
    // An answer message for another of the old requests reaches the new router.
    await queue.send(
      RESP,
      encodeResponse({
        v: 1,
        id: waiting,
        stem: "p3",
        ok: true,
        label: "Emily",
        faces: [],
        timingsMs: {},
        worker: "w2",
      }),
    );
    const late = await after.wait(waiting, 60_000);
    assert.equal(late?.response.ok && late.response.label, "Emily");
    assert.equal(await after.status(t.ledger.newId()), undefined, "unknown ids stay unknown");
    await after.stop();
  } finally {
    await t.close();
  }
});
