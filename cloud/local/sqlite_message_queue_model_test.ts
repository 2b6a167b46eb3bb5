/**
 * Model-based tests of the SQLite queue (fast-check `fc.commands`): a plain in-memory list of
 * messages predicts every answer in one process under a hand-moved clock, and a set-level model
 * checks real consumer processes under real time.
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import { ManualClock } from "../clock.ts";
import { StaleReceiptError } from "../errors.ts";
import { SqliteMessageQueue } from "./sqlite_message_queue.ts";

// ---------------------------------------------------------------------------------------------
// One process, exact model.

interface ModelMessage {
  seq: number;
  body: string;
  queue: "main" | "dlq";
  visibleAtMs: number;
  receiveCount: number;
  receipt?: string;
  deleted: boolean;
}

interface Model {
  nowMs: number;
  messages: ModelMessage[];
  receipts: string[];
}

interface Real {
  mq: SqliteMessageQueue;
  clock: ManualClock;
}

const RECEIVE_COUNT_MAX = 3;
const QUEUES = { main: "main", dlq: "dlq" } as const;

/** The model's delivery order: as documented, by time of becoming visible, then send order. */
function deliverable(model: Model, queue: "main" | "dlq"): ModelMessage[] {
  return model.messages
    .filter((m) => m.queue === queue && !m.deleted && m.visibleAtMs <= model.nowMs)
    .sort((a, b) => a.visibleAtMs - b.visibleAtMs || a.seq - b.seq);
}

class SendCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly delayMs: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const seq = model.messages.length;
    const body = `m${seq}`;
    await real.mq.send(QUEUES.main, body, { delayMs: this.delayMs });
    model.messages.push({
      seq,
      body,
      queue: "main",
      visibleAtMs: model.nowMs + this.delayMs,
      receiveCount: 0,
      deleted: false,
    });
  }
  toString = () => `send(delay=${this.delayMs})`;
}

class ReceiveCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly queue: "main" | "dlq", readonly n: number, readonly vtMs: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const got = await real.mq.receive(QUEUES[this.queue], {
      messagesMax: this.n,
      visibilityTimeoutMs: this.vtMs,
    });
    const expected: ModelMessage[] = [];
    for (const m of deliverable(model, this.queue)) {
      if (expected.length >= this.n) break;
      if (this.queue === "main" && m.receiveCount >= RECEIVE_COUNT_MAX) {
        m.queue = "dlq";
        m.visibleAtMs = model.nowMs;
        m.receiveCount = 0;
        m.receipt = undefined;
        continue;
      }
      expected.push(m);
    }
    assert.deepEqual(got.map((g) => g.body), expected.map((m) => m.body));
    for (const [i, m] of expected.entries()) {
      m.receiveCount++;
      m.visibleAtMs = model.nowMs + this.vtMs;
      m.receipt = got[i].receipt;
      assert.equal(got[i].receiveCount, m.receiveCount);
      model.receipts.push(got[i].receipt);
    }
  }
  toString = () => `receive(${this.queue}, n=${this.n}, vt=${this.vtMs})`;
}

class DeleteCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (model: Readonly<Model>) => model.receipts.length > 0;
  async run(model: Model, real: Real) {
    const receipt = model.receipts[this.pick % model.receipts.length];
    const owner = model.messages.find((m) => m.receipt === receipt && !m.deleted);
    await real.mq.delete(owner?.queue === "dlq" ? QUEUES.dlq : QUEUES.main, receipt);
    // Only the current receipt deletes (even after its timeout, until someone receives again).
    if (owner) owner.deleted = true;
  }
  toString = () => `delete(#${this.pick})`;
}

class ChangeVisibilityCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number, readonly vtMs: number) {}
  check = (model: Readonly<Model>) => model.receipts.length > 0;
  async run(model: Model, real: Real) {
    const receipt = model.receipts[this.pick % model.receipts.length];
    const owner = model.messages.find((m) => m.receipt === receipt && !m.deleted);
    const inFlight = owner !== undefined && owner.visibleAtMs > model.nowMs;
    const queue = owner?.queue === "dlq" ? QUEUES.dlq : QUEUES.main;
    if (inFlight) {
      await real.mq.changeVisibility(queue, receipt, this.vtMs);
      owner.visibleAtMs = model.nowMs + this.vtMs;
    } else {
      await assert.rejects(real.mq.changeVisibility(queue, receipt, this.vtMs), StaleReceiptError);
    }
  }
  toString = () => `changeVisibility(#${this.pick}, ${this.vtMs})`;
}

class AdvanceCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  run(model: Model, real: Real) {
    model.nowMs += this.ms;
    real.clock.advanceMs(this.ms);
    return Promise.resolve();
  }
  toString = () => `advance(${this.ms})`;
}

class CountsCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly queue: "main" | "dlq") {}
  check = () => true;
  async run(model: Model, real: Real) {
    const live = model.messages.filter((m) => m.queue === this.queue && !m.deleted);
    const hidden = live.filter((m) => m.visibleAtMs > model.nowMs);
    assert.deepEqual(await real.mq.counts(QUEUES[this.queue]), {
      visible: live.length - hidden.length,
      inFlight: hidden.filter((m) => m.receipt !== undefined).length,
      delayed: hidden.filter((m) => m.receipt === undefined).length,
    });
  }
  toString = () => `counts(${this.queue})`;
}

const commands = [
  fc.constantFrom(0, 0, 0, 700).map((d) => new SendCommand(d)),
  fc.tuple(
    fc.constantFrom("main" as const, "main" as const, "dlq" as const),
    fc.integer({ min: 1, max: 4 }),
    fc.constantFrom(0, 100, 1000, 5000),
  )
    .map(([q, n, vt]) => new ReceiveCommand(q, n, vt)),
  fc.nat().map((p) => new DeleteCommand(p)),
  fc.tuple(fc.nat(), fc.constantFrom(0, 200, 3000)).map(([p, vt]) =>
    new ChangeVisibilityCommand(p, vt)
  ),
  fc.constantFrom(50, 300, 1500, 6000).map((ms) => new AdvanceCommand(ms)),
  fc.constantFrom("main" as const, "dlq" as const).map((q) => new CountsCommand(q)),
];

Deno.test("SqliteMessageQueue matches an in-memory list model under random command sequences", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-model-" });
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 80, size: "large" }), async (cmds) => {
        run++;
        const clock = new ManualClock(1_000_000);
        const mq = await SqliteMessageQueue.open(`${dir}/run${run}.db`, { clock });
        try {
          await mq.ensureQueue(QUEUES.dlq);
          await mq.ensureQueue(QUEUES.main, {
            visibilityTimeoutMs: 1000,
            deadLetter: { queue: QUEUES.dlq, receiveCountMax: RECEIVE_COUNT_MAX },
          });
          await fc.asyncModelRun(
            () => ({
              model: { nowMs: 1_000_000, messages: [], receipts: [] },
              real: { mq, clock },
            }),
            cmds,
          );
        } finally {
          await mq.close();
        }
      }),
      { numRuns: 100 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Consumers in separate processes, real time, set-level model.

const CONSUMER = new URL("./testdata/model_consumer.ts", import.meta.url).pathname;
const VT_MS = 400;

type Kind = "normal" | "abandon-once" | "poison" | "slow";

interface Event {
  e: "recv";
  body: string;
  count: number;
  beforeMs: number;
  afterMs: number;
}

interface Consumer {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  events: Promise<Event[]>;
}

interface ProcModel {
  sent: { body: string; kind: Kind }[];
}

interface ProcReal {
  mq: SqliteMessageQueue;
  db: string;
  queue: string;
  consumers: Consumer[];
  retired: Consumer[];
}

function startConsumer(db: string, queue: string): Consumer {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CONSUMER, db, queue, String(VT_MS)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const events = (async () => {
    const text = await new Response(child.stdout).text();
    return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Event);
  })();
  return { child, stdin: child.stdin.getWriter(), events };
}

class ProcSendCommand implements fc.AsyncCommand<ProcModel, ProcReal> {
  constructor(readonly kind: Kind) {}
  check = () => true;
  async run(model: ProcModel, real: ProcReal) {
    const body = `${this.kind}:${model.sent.length}`;
    await real.mq.send(real.queue, body);
    model.sent.push({ body, kind: this.kind });
  }
  toString = () => `send(${this.kind})`;
}

class ProcPauseCommand implements fc.AsyncCommand<ProcModel, ProcReal> {
  constructor(readonly ms: number) {}
  check = () => true;
  run = () => new Promise<void>((resolve) => setTimeout(resolve, this.ms));
  toString = () => `pause(${this.ms})`;
}

/** A consumer dies holding whatever it holds; a fresh one takes its place. */
class ProcKillCommand implements fc.AsyncCommand<ProcModel, ProcReal> {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(_model: ProcModel, real: ProcReal) {
    const i = this.pick % real.consumers.length;
    const victim = real.consumers[i];
    victim.child.kill("SIGKILL");
    await victim.child.status;
    real.retired.push(victim);
    real.consumers[i] = startConsumer(real.db, real.queue);
  }
  toString = () => `kill(#${this.pick})`;
}

Deno.test("SqliteMessageQueue with consumer processes: nothing held twice within its timeout, everything deleted or dead-lettered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mq-procs-" });
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.commands([
          fc.constantFrom<Kind>("normal", "normal", "normal", "abandon-once", "poison", "slow")
            .map((k) => new ProcSendCommand(k)),
          fc.integer({ min: 0, max: 150 }).map((ms) => new ProcPauseCommand(ms)),
          fc.nat().map((p) => new ProcKillCommand(p)),
        ], { maxCommands: 25 }),
        async (consumerCount, cmds) => {
          run++;
          const db = `${dir}/run${run}.db`;
          const mq = await SqliteMessageQueue.open(db);
          const queue = "work";
          await mq.ensureQueue("work-dlq");
          await mq.ensureQueue(queue, {
            visibilityTimeoutMs: VT_MS,
            deadLetter: { queue: "work-dlq", receiveCountMax: 3 },
          });
          const real: ProcReal = { mq, db, queue, consumers: [], retired: [] };
          for (let i = 0; i < consumerCount; i++) real.consumers.push(startConsumer(db, queue));
          const model: ProcModel = { sent: [] };
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            await drain(mq, queue);
          } finally {
            for (const c of real.consumers) await c.stdin.close().catch(() => {});
            for (const c of [...real.consumers, ...real.retired]) await c.child.status;
          }
          const events = (await Promise.all(
            [...real.consumers, ...real.retired].map((c) => c.events),
          )).flat();
          const dead = new Set<string>();
          for (;;) {
            const got = await mq.receive("work-dlq", { messagesMax: 10 });
            if (got.length === 0) break;
            for (const m of got) {
              dead.add(m.body);
              await mq.delete("work-dlq", m.receipt);
            }
          }
          await mq.close();
          checkNoDoubleHolding(events);
          // Poison messages (never deleted) end in the dead-letter queue; everything else was
          // deleted by a consumer — nothing is left and nothing else was dead-lettered.
          const poison = model.sent.filter((s) => s.kind === "poison").map((s) => s.body);
          assert.deepEqual([...dead].sort(), poison.sort());
        },
      ),
      { numRuns: 4 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits (bounded) until the queue holds nothing: every message deleted or dead-lettered. */
async function drain(mq: SqliteMessageQueue, queue: string): Promise<void> {
  const startMs = performance.now();
  for (;;) {
    const c = await mq.counts(queue);
    if (c.visible + c.inFlight + c.delayed === 0) return;
    if (performance.now() - startMs > 20_000) {
      assert.fail(`queue not drained after 20 s: ${JSON.stringify(c)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * For consecutive deliveries of one message, the later receive must have happened at least a
 * visibility timeout after the earlier one. Each side is known only within [before, after] of
 * its receive call, so the sound check is `later.after >= earlier.before + VT_MS`.
 */
function checkNoDoubleHolding(events: Event[]): void {
  const byBody = new Map<string, Event[]>();
  for (const e of events) byBody.set(e.body, [...(byBody.get(e.body) ?? []), e]);
  for (const [body, deliveries] of byBody) {
    deliveries.sort((a, b) => a.count - b.count);
    for (let i = 1; i < deliveries.length; i++) {
      const [earlier, later] = [deliveries[i - 1], deliveries[i]];
      assert.ok(
        later.afterMs >= earlier.beforeMs + VT_MS,
        `${body} delivered again ${later.afterMs - earlier.beforeMs} ms after a delivery ` +
          `whose visibility timeout was ${VT_MS} ms`,
      );
    }
  }
}
