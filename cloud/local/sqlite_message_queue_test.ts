import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
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

Deno.test("SqliteMessageQueue without change notification keeps the message queue contract", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  try {
    await messageQueueContract(t, {
      name: "SqliteMessageQueue (polling)",
      visibilityTimeoutMsMin: 300,
      open: () => SqliteMessageQueue.open(`${dir}/cloud.db`, { changeNotification: false }),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Wake-ups across processes. The consumers re-check only every 20 s, so a delivery within a few
// seconds is a wake-up.

const LONG_POLL_CONSUMER = new URL("./testdata/long_poll_consumer.ts", import.meta.url).pathname;
const DELIVERY_MS_MAX = 5_000;
const PROCFS = (() => {
  try {
    return Deno.statSync(`/proc/${Deno.pid}/task/${Deno.pid}/status`).isFile;
  } catch {
    return false;
  }
})();

interface LongPoller {
  child: Deno.ChildProcess;
  lines: ReadableStreamDefaultReader<string>;
}

async function startLongPoller(db: string, queue: string): Promise<LongPoller> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", LONG_POLL_CONSUMER, db, queue],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())
    .getReader();
  assert.equal((await lines.read()).value, "ready");
  return { child, lines };
}

function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) controller.enqueue(line);
    },
  });
}

async function stopLongPollers(pollers: LongPoller[]): Promise<void> {
  for (const p of pollers) {
    await p.child.stdin.close().catch(() => {});
    await p.lines.cancel().catch(() => {});
    await p.child.status;
  }
}

/** The next message any poller prints, with who printed it; fails after DELIVERY_MS_MAX. */
async function nextDelivery(
  pollers: LongPoller[],
  pending: Map<number, Promise<ReadableStreamReadResult<string>>>,
): Promise<{ index: number; body: string }> {
  for (const [i, p] of pollers.entries()) if (!pending.has(i)) pending.set(i, p.lines.read());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no delivery within ${DELIVERY_MS_MAX} ms: the wake-up was lost`)),
      DELIVERY_MS_MAX,
    );
  });
  try {
    const { index, result } = await Promise.race([
      ...[...pending].map(([index, read]) => read.then((result) => ({ index, result }))),
      timeout,
    ]);
    pending.delete(index);
    return { index, body: JSON.parse(result.value ?? "null").body };
  } finally {
    clearTimeout(timer);
  }
}

/** Voluntary context switches of a process's main thread: it moves only when the thread wakes. */
function mainThreadWakes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/status`);
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
}

Deno.test({
  name: PROCFS
    ? "SqliteMessageQueue wakes one of four long-polling processes per send; the others stay asleep"
    : "SqliteMessageQueue wakes one long-polling process per send (ignored: needs /proc to see which threads ran)",
  ignore: !PROCFS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mq-wake-" });
    const db = `${dir}/cloud.db`;
    const mq = await SqliteMessageQueue.open(db);
    const pollers: LongPoller[] = [];
    try {
      await mq.ensureQueue("req");
      for (let i = 0; i < 4; i++) pollers.push(await startLongPoller(db, "req"));
      const pending = new Map<number, Promise<ReadableStreamReadResult<string>>>();
      for (let round = 0; round < 3; round++) {
        // Let every poller settle asleep: a window in which no main thread woke.
        let before: number[] = [];
        for (let settled = false, tries = 0; !settled; tries++) {
          assert.ok(tries < 20, "the long-polling processes never went quiet");
          before = pollers.map((p) => mainThreadWakes(p.child.pid));
          await new Promise((resolve) => setTimeout(resolve, 300));
          settled = pollers.every((p, i) => mainThreadWakes(p.child.pid) === before[i]);
        }
        await mq.send("req", `m${round}`);
        const { index, body } = await nextDelivery(pollers, pending);
        assert.equal(body, `m${round}`);
        // Longer than the receiver's delete and next long poll take, so a woken process would
        // show up.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const woke = pollers.map((p, i) => mainThreadWakes(p.child.pid) > before[i]);
        assert.deepEqual(woke, pollers.map((_, i) => i === index), `round ${round}: woke ${woke}`);
      }
    } finally {
      await stopLongPollers(pollers);
      await mq.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: PROCFS
    ? "SqliteMessageQueue does not lose a wake-up to a long-polling process that was killed"
    : "SqliteMessageQueue does not lose a wake-up to a killed process (ignored: needs /proc to tell a process is gone)",
  ignore: !PROCFS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mq-wake-" });
    const db = `${dir}/cloud.db`;
    const mq = await SqliteMessageQueue.open(db);
    const pollers: LongPoller[] = [];
    try {
      await mq.ensureQueue("req");
      pollers.push(await startLongPoller(db, "req"));
      // Registered last, so it is the one a send would wake first.
      const victim = await startLongPoller(db, "req");
      victim.child.kill("SIGKILL");
      await victim.child.status;
      await victim.lines.cancel().catch(() => {});
      const pending = new Map<number, Promise<ReadableStreamReadResult<string>>>();
      for (let i = 0; i < 3; i++) {
        await mq.send("req", `m${i}`);
        assert.deepEqual(await nextDelivery(pollers, pending), { index: 0, body: `m${i}` });
      }
    } finally {
      await stopLongPollers(pollers);
      await mq.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("SqliteMessageQueue wakes a sleeping consumer when the busy one does not come back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-wake-" });
  // Three handles on one file behave as three processes (each has its own wake directory).
  const producer = await SqliteMessageQueue.open(`${dir}/cloud.db`);
  const busy = await SqliteMessageQueue.open(`${dir}/cloud.db`);
  const sleeper = await SqliteMessageQueue.open(`${dir}/cloud.db`, { pollIntervalMsMax: 20_000 });
  try {
    await producer.ensureQueue("req");
    await producer.send("req", "held");
    const [held] = await busy.receive("req");
    assert.equal(held.body, "held");
    const polling = sleeper.receive("req", { waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200)); // past lingering: asleep
    const startMs = performance.now();
    // A consumer is busy, so the send first gives it lingerMs to come back; it does not.
    await producer.send("req", "next");
    const [next] = await polling;
    assert.equal(next?.body, "next");
    const elapsedMs = performance.now() - startMs;
    assert.ok(elapsedMs < DELIVERY_MS_MAX, `delivered after ${elapsedMs.toFixed(0)} ms`);
  } finally {
    await producer.close();
    await busy.close();
    await sleeper.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteMessageQueue.open upgrades a version 1 database and keeps its messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-" });
  try {
    // The version 1 layout of the tables the queue uses, as the previous release wrote them.
    const v1 = new DatabaseSync(`${dir}/cloud.db`);
    v1.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE queues (name TEXT PRIMARY KEY, message_bytes_max INTEGER NOT NULL,
        visibility_timeout_ms INTEGER NOT NULL, dead_letter_queue TEXT,
        receive_count_max INTEGER) STRICT;
      CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
        message_id TEXT NOT NULL, body TEXT NOT NULL, sent_ms INTEGER NOT NULL,
        visible_at_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT) STRICT;
      CREATE INDEX messages_by_visibility ON messages (queue, visible_at_ms, seq);
      INSERT INTO queues VALUES ('req', 1024, 30000, NULL, NULL);
      INSERT INTO messages (queue, message_id, body, sent_ms, visible_at_ms)
        VALUES ('req', 'id-1', 'from v1', 0, 0);
      PRAGMA user_version = 1;
    `);
    v1.close();
    const mq = await SqliteMessageQueue.open(`${dir}/cloud.db`);
    try {
      const [m] = await mq.receive("req", { waitMs: 1000 });
      assert.equal(m?.body, "from v1");
      await mq.send("req", "after upgrade");
      assert.equal((await mq.receive("req", { waitMs: 1000 }))[0]?.body, "after upgrade");
    } finally {
      await mq.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteMessageQueue wakes a lone consumer at once when it fell asleep right after a receive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-wake-" });
  // Time moves only by hand, so a send that merely scheduled a later look (for a busy consumer
  // expected back) would never deliver: only an immediate wake-up does.
  const clock = new ManualClock(1_000_000);
  const producer = await SqliteMessageQueue.open(`${dir}/cloud.db`, { clock });
  const consumer = await SqliteMessageQueue.open(`${dir}/cloud.db`, {
    clock,
    pollIntervalMsMax: 20_000,
  });
  const realSleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    await producer.ensureQueue("resp");
    await producer.send("resp", "first");
    const [first] = await consumer.receive("resp", { waitMs: 20_000 });
    await consumer.delete("resp", first.receipt);
    const polling = consumer.receive("resp", { waitMs: 20_000 });
    // 10 ms of lingering, a millisecond at a time, then it goes to sleep.
    for (let i = 0; i < 10; i++) {
      await realSleep(20);
      clock.advanceMs(1);
    }
    await realSleep(100);
    await producer.send("resp", "second");
    const got = await Promise.race([polling, realSleep(DELIVERY_MS_MAX).then(() => "not woken")]);
    assert.deepEqual(typeof got === "string" ? got : got.map((m) => m.body), ["second"]);
  } finally {
    await producer.close();
    await consumer.close();
    await Deno.remove(dir, { recursive: true });
  }
});
