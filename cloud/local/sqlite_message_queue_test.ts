import assert from "node:assert/strict";
import { ManualClock } from "../clock.ts";
import { messageQueueContract } from "../contract/message_queue_contract.ts";
import { CorruptStoreError, InvalidNameError } from "../errors.ts";
import { SqliteMessageQueue } from "./sqlite_message_queue.ts";

Deno.test("SqliteMessageQueue keeps the message queue contract", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  try {
    await messageQueueContract(t, {
      name: "SqliteMessageQueue",
      visibilityTimeoutMsMin: 300,
      open: () => SqliteMessageQueue.open(`${dir}/cloud.db`),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteMessageQueue times visibility and delays by the injected clock", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  const clock = new ManualClock(1_000_000);
  const mq = await SqliteMessageQueue.open(`${dir}/cloud.db`, { clock });
  try {
    await mq.ensureQueue("req", { visibilityTimeoutMs: 30_000 });
    await mq.send("req", "a");
    await mq.send("req", "b", { delayMs: 5_000 });
    const [a] = await mq.receive("req");
    assert.equal(a.body, "a");
    assert.deepEqual(await mq.counts("req"), { visible: 0, inFlight: 1, delayed: 1 });
    clock.advanceMs(5_000);
    assert.deepEqual(await mq.counts("req"), { visible: 1, inFlight: 1, delayed: 0 });
    assert.equal((await mq.receive("req"))[0].body, "b");
    clock.advanceMs(24_999);
    assert.deepEqual(await mq.receive("req"), []);
    clock.advanceMs(1);
    const [again] = await mq.receive("req");
    assert.equal(again.body, "a");
    assert.equal(again.receiveCount, 2);
  } finally {
    await mq.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteMessageQueue.open reports a corrupt database file clearly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  try {
    await Deno.writeTextFile(
      `${dir}/cloud.db`,
      "this is not a database, but it is long enough ".repeat(40),
    );
    const error = await SqliteMessageQueue.open(`${dir}/cloud.db`).then(() => undefined, (e) => e);
    assert.ok(error instanceof CorruptStoreError, `got ${error}`);
    assert.match(error.message, /not a SQLite file|damaged/);
    assert.match(error.message, /move it aside/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteMessageQueue refuses a receipt it did not issue", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  const mq = await SqliteMessageQueue.open(`${dir}/cloud.db`);
  try {
    await mq.ensureQueue("q");
    await assert.rejects(mq.delete("q", "forged"), InvalidNameError);
  } finally {
    await mq.close();
    await Deno.remove(dir, { recursive: true });
  }
});
