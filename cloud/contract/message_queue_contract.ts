/**
 * The message queue contract: the behaviour every {@linkcode MessageQueue} adapter must show.
 * A target that cannot show a behaviour (an emulator that lacks it) declares that in
 * `lacks`; the step is then reported as ignored with the reason, never silently passed.
 * @module
 */
import assert from "node:assert/strict";
import {
  InvalidNameError,
  LimitExceededError,
  NotFoundError,
  StaleReceiptError,
} from "../errors.ts";
import type { MessageQueue, ReceivedMessage } from "../message_queue.ts";
import { eventually, uniqueName } from "./helpers.ts";

/** Behaviours a target may be unable to show, each with the reason. */
export interface QueueGaps {
  /** Messages come back after their visibility timeout; receipts then go stale. */
  visibilityExpiry?: string;
  /** Receive with `waitMs` waits for a message instead of returning at once. */
  longPoll?: string;
  /** Dead-lettering after `receiveCountMax` receives. */
  deadLetter?: string;
  /** Separate in-flight and delayed counts. */
  counts?: string;
  /** Delayed sends. */
  delay?: string;
}

/** How to get a queue under test. */
export interface MessageQueueTarget {
  readonly name: string;
  /** The shortest visibility timeout the target honours (SQS: whole seconds). */
  readonly visibilityTimeoutMsMin: number;
  readonly lacks?: QueueGaps;
  /** Opens a queue client; the contract closes it. */
  open(): Promise<MessageQueue>;
}

/**
 * Runs the contract as steps of `t`.
 * @param t the enclosing test
 * @param target the queue under test
 */
export async function messageQueueContract(t: Deno.TestContext, target: MessageQueueTarget) {
  const vtMs = target.visibilityTimeoutMsMin;
  const step = (
    name: string,
    gap: keyof QueueGaps | undefined,
    fn: (mq: MessageQueue, queue: string) => Promise<void>,
  ) => {
    const reason = gap ? target.lacks?.[gap] : undefined;
    return t.step({
      name: `${target.name} ${name}${reason ? ` (not shown by this target: ${reason})` : ""}`,
      ignore: reason !== undefined,
      fn: async () => {
        const mq = await target.open();
        try {
          const queue = uniqueName("q");
          await mq.ensureQueue(queue, { messageBytesMax: 1024, visibilityTimeoutMs: vtMs });
          await fn(mq, queue);
        } finally {
          await mq.close();
        }
      },
    });
  };

  await step(
    "send then receive delivers the body once, and delete removes it",
    undefined,
    async (mq, q) => {
      const body = JSON.stringify({ id: "r1", key: "test_000.jpg" });
      const { messageId } = await mq.send(q, body);
      assert.equal(typeof messageId, "string");
      const [m, ...rest] = await mq.receive(q, { messagesMax: 10 });
      assert.equal(rest.length, 0);
      assert.equal(m.body, body);
      assert.equal(m.messageId, messageId);
      assert.equal(m.receiveCount, 1);
      await mq.delete(q, m.receipt);
      assert.deepEqual(await mq.receive(q), []);
    },
  );

  await step(
    "send refuses a body over messageBytesMax with an error naming the limit",
    undefined,
    async (mq, q) => {
      // 512 two-byte characters are exactly 1024 bytes: allowed. One more character is not.
      await mq.send(q, "é".repeat(512));
      const error = await mq.send(q, "é".repeat(513)).then(() => undefined, (e) => e);
      assert.ok(error instanceof LimitExceededError, `got ${error}`);
      assert.equal(error.limitName, "messageBytesMax");
      assert.equal(error.limit, 1024);
      assert.equal(error.actual, 1026);
      assert.match(error.message, /messageBytesMax = 1024/);
      const [m] = await mq.receive(q);
      assert.equal(m.body, "é".repeat(512));
    },
  );

  await step(
    "receive returns at most messagesMax distinct messages and rejects more than 10",
    undefined,
    async (mq, q) => {
      for (let i = 0; i < 12; i++) await mq.send(q, `m${i}`);
      const first = await mq.receive(q, { messagesMax: 10 });
      assert.ok(first.length >= 1 && first.length <= 10);
      const bodies = new Set(first.map((m) => m.body));
      assert.equal(bodies.size, first.length);
      await assert.rejects(mq.receive(q, { messagesMax: 11 }), RangeError);
      await assert.rejects(mq.receive(q, { waitMs: 20_001 }), RangeError);
    },
  );

  await step(
    "a received message stays hidden from other receives within its visibility timeout",
    undefined,
    async (mq, q) => {
      await mq.send(q, "only");
      const [m] = await mq.receive(q, { visibilityTimeoutMs: 60_000 });
      assert.equal(m.body, "only");
      assert.deepEqual(await mq.receive(q, { messagesMax: 10 }), []);
    },
  );

  await step(
    "an expired message is redelivered with a new receipt and the old one goes stale",
    "visibilityExpiry",
    async (mq, q) => {
      await mq.send(q, "again");
      const [first] = await mq.receive(q);
      const second = await eventually(
        async () => (await mq.receive(q))[0],
        "redelivery after the visibility timeout",
        vtMs * 5,
      );
      assert.equal(second.messageId, first.messageId);
      assert.equal(second.receiveCount, 2);
      assert.notEqual(second.receipt, first.receipt);
      await assert.rejects(mq.changeVisibility(q, first.receipt, 60_000), StaleReceiptError);
      await mq.delete(q, first.receipt); // resolves, as in SQS, but must not delete
      await mq.changeVisibility(q, second.receipt, 0);
      const third = await eventually(async () => (await mq.receive(q))[0], "visible again");
      assert.equal(third.messageId, first.messageId);
      await mq.delete(q, third.receipt);
      assert.deepEqual(await mq.receive(q), []);
    },
  );

  await step(
    "changeVisibility to 0 makes an in-flight message visible at once",
    "visibilityExpiry",
    async (mq, q) => {
      await mq.send(q, "retry-now");
      const [m] = await mq.receive(q, { visibilityTimeoutMs: 60_000 });
      await mq.changeVisibility(q, m.receipt, 0);
      const [again] = await mq.receive(q);
      assert.equal(again?.body, "retry-now");
    },
  );

  await step("counts separate visible, in-flight and delayed messages", "counts", async (mq, q) => {
    await mq.send(q, "a");
    await mq.send(q, "b");
    await mq.send(q, "later", { delayMs: 60_000 });
    await mq.receive(q, { visibilityTimeoutMs: 60_000 });
    const counts = await eventually(async () => {
      const c = await mq.counts(q);
      return c.visible === 1 && c.inFlight === 1 && c.delayed === 1 ? c : undefined;
    }, "counts 1/1/1 (SQS counts are approximate and may lag)");
    assert.deepEqual(counts, { visible: 1, inFlight: 1, delayed: 1 });
  });

  await step("a delayed message is not delivered before its delay", "delay", async (mq, q) => {
    await mq.send(q, "late", { delayMs: Math.max(1000, vtMs) });
    assert.deepEqual(await mq.receive(q), []);
    const m = await eventually(async () => (await mq.receive(q))[0], "the delayed message", 10_000);
    assert.equal(m.body, "late");
  });

  await step("a long-polling receive wakes when a message is sent", "longPoll", async (mq, q) => {
    const startMs = performance.now();
    const polling = mq.receive(q, { waitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await mq.send(q, "wake");
    const [m] = await polling;
    const elapsedMs = performance.now() - startMs;
    assert.equal(m?.body, "wake");
    assert.ok(elapsedMs < 5_000, `woke after ${elapsedMs.toFixed(0)} ms`);
  });

  await step(
    "a long-polling receive on an empty queue waits about waitMs then returns nothing",
    "longPoll",
    async (mq, q) => {
      const startMs = performance.now();
      assert.deepEqual(await mq.receive(q, { waitMs: 1000 }), []);
      const elapsedMs = performance.now() - startMs;
      assert.ok(elapsedMs >= 900 && elapsedMs < 5000, `returned after ${elapsedMs.toFixed(0)} ms`);
    },
  );

  await step("an aborted long poll returns early with nothing", "longPoll", async (mq, q) => {
    const abort = new AbortController();
    const startMs = performance.now();
    const polling = mq.receive(q, { waitMs: 10_000, signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    assert.deepEqual(await polling, []);
    assert.ok(performance.now() - startMs < 5_000);
  });

  await step(
    "a message received receiveCountMax times moves to the dead-letter queue",
    "deadLetter",
    async (mq) => {
      const dlq = uniqueName("dlq");
      const q = uniqueName("src");
      await mq.ensureQueue(dlq);
      await mq.ensureQueue(q, {
        visibilityTimeoutMs: vtMs,
        deadLetter: { queue: dlq, receiveCountMax: 2 },
      });
      await mq.send(q, "poison");
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        const m = await eventually(
          async () => (await mq.receive(q))[0],
          `receive ${i + 1}`,
          vtMs * 5,
        );
        counts.push(m.receiveCount);
      }
      assert.deepEqual(counts, [1, 2]);
      const dead = await eventually(
        async () => {
          const got = await mq.receive(q); // moves it once the timeout passed
          assert.deepEqual(got, [], "a message past receiveCountMax was delivered again");
          return (await mq.receive(dlq))[0];
        },
        "the message in the dead-letter queue",
        vtMs * 8,
      );
      assert.equal(dead.body, "poison");
    },
  );

  await step(
    "ensureQueue refuses a dead-letter queue that does not exist",
    undefined,
    async (mq) => {
      await assert.rejects(
        mq.ensureQueue(uniqueName("src"), {
          deadLetter: { queue: uniqueName("none"), receiveCountMax: 3 },
        }),
        NotFoundError,
      );
    },
  );

  await step("purge removes every message", undefined, async (mq, q) => {
    for (let i = 0; i < 5; i++) await mq.send(q, `p${i}`);
    await mq.purge(q);
    assert.deepEqual(await mq.receive(q, { messagesMax: 10 }), []);
  });

  await step(
    "operations on a missing queue fail with NotFoundError, bad names with InvalidNameError",
    undefined,
    async (mq) => {
      const missing = uniqueName("missing");
      await assert.rejects(mq.send(missing, "x"), NotFoundError);
      await assert.rejects(mq.receive(missing), NotFoundError);
      await assert.rejects(mq.send("bad name!", "x"), InvalidNameError);
    },
  );

  await step(
    "concurrent consumers together receive every message, none twice while held",
    undefined,
    async (mq, q) => {
      const total = 40;
      for (let i = 0; i < total; i++) await mq.send(q, `c${i}`);
      const held = new Set<string>();
      const done = new Set<string>();
      const consumer = async () => {
        for (let idle = 0; idle < 3;) {
          const got: ReceivedMessage[] = await mq.receive(q, { visibilityTimeoutMs: 60_000 });
          if (got.length === 0) {
            idle++;
            continue;
          }
          for (const m of got) {
            assert.ok(!held.has(m.body), `${m.body} held by two consumers at once`);
            held.add(m.body);
            await mq.delete(q, m.receipt);
            held.delete(m.body);
            done.add(m.body);
          }
        }
      };
      await Promise.all([consumer(), consumer(), consumer(), consumer()]);
      assert.equal(done.size, total);
    },
  );
}
