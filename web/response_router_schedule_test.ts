/**
 * The response router under every interleaving fast-check's scheduler can find: answers that
 * arrive before, during and after a wait, two waiters on one id, a client that goes away, a
 * forget while waiting, timeouts at any moment, answers for unknown and forgotten ids, duplicate
 * deliveries, and ledger writes that land in any order. The queue's receives and deletes, the
 * wait timers and the ledger's writes are all promises the scheduler resolves one at a time; the
 * test's own actions (track, record, send an answer, wait, abort, forget) are scheduled
 * sequences, one per request id, so they interleave with everything else.
 *
 * Each run logs what happened in the order it happened; a small model replays the log and says
 * what the router must have answered. A failure prints fast-check's seed and path, and the
 * scheduler's task order; replay it with `FC_SEED=<seed> FC_PATH=<path> deno test -A <this file>`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Clock } from "../cloud/clock.ts";
import type { MessageQueue, ReceivedMessage, ReceiveOptions } from "../cloud/message_queue.ts";
import type { RecordStore } from "../cloud/record_store.ts";
import { encodeResponse, type RecognitionResponse } from "../protocol/mod.ts";
import { RequestLedger, type RequestRecord } from "./request_ledger.ts";
import { type RequestStatus, ResponseRouter, type StoredResult } from "./response_router.ts";

/** The router's clock stands still: only the scheduler decides when a wait times out. */
const NOW_MS = 1_700_000_000_000;
/** What every wait asks for; the scheduler fires its timer at any point all the same. */
const WAIT_TIMEOUT_MS = 60_000;
/** The ledger's prune period: a sleep this long never ends within a scenario. */
const PRUNE_MS = 86_400_000;
/** Runs per property (each is one interleaving of one scenario). */
const RUNS = 150;

/** One step of a request's script, after its track (and record). */
type Op =
  | { readonly kind: "send"; readonly ok: boolean }
  | { readonly kind: "wait" }
  | { readonly kind: "abort" }
  | { readonly kind: "forget" };

/** What happens to one request id: tracked (or an id the router never heard of) and its ops. */
interface Plan {
  readonly tracked: boolean;
  readonly record: boolean;
  readonly ops: readonly Op[];
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("send" as const), ok: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constant({ kind: "wait" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "abort" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "forget" as const }) },
);
const planArb: fc.Arbitrary<Plan> = fc.record({
  tracked: fc.oneof(
    { weight: 4, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  record: fc.boolean(),
  ops: fc.array(opArb, { maxLength: 5 }),
});
const plansArb = fc.array(planArb, { minLength: 1, maxLength: 4 });

/** What happened, in order. */
type Event =
  | { readonly t: "track" | "record" | "forget"; readonly id: string }
  | { readonly t: "send"; readonly id: string; readonly n: number }
  | { readonly t: "wait"; readonly id: string; readonly k: number }
  | { readonly t: "abort" | "timeout"; readonly k: number }
  | { readonly t: "deliver"; readonly id: string; readonly n: number }
  | { readonly t: "written"; readonly id: string; readonly failure: boolean };

/** One `wait` call and what it returned. */
interface Wait {
  readonly id: string;
  readonly abort: AbortController;
  settled: boolean;
  result: StoredResult | undefined;
}

/** Everything a property looks at after a run. */
interface Observed {
  readonly plans: readonly Plan[];
  readonly ids: readonly string[];
  readonly log: readonly Event[];
  readonly waits: readonly Wait[];
  /** The n-th answer sent for each id: ok or not. */
  readonly answers: ReadonlyMap<string, readonly boolean[]>;
  readonly stats: ReturnType<ResponseRouter["stats"]>;
  readonly statuses: ReadonlyMap<string, RequestStatus | undefined>;
  /** The ledger's records at the end, parsed. */
  readonly ledger: ReadonlyMap<string, RequestRecord>;
}

const idOf = (i: number) => `req-${i}`;
/** An answer says which request and which of its answers it is, ok or not. */
const answerText = (id: string, n: number) => `${id}#${n}`;

function answer(id: string, n: number, ok: boolean): RecognitionResponse {
  return ok
    ? { v: 1, id, stem: id, ok, label: answerText(id, n), faces: [], timingsMs: {}, worker: "w" }
    : {
      v: 1,
      id,
      stem: id,
      ok,
      error: { code: "image_unreadable", message: answerText(id, n) },
      worker: "w",
    };
}

/** What a stored result says: whose answer, which one, ok or not. */
function describeResult(result: StoredResult | undefined): string | undefined {
  if (result === undefined) return undefined;
  const r = result.response;
  return `${r.ok ? "ok" : "error"} ${r.ok ? r.label : r.error.message}`;
}

/** The response queue: receives and deletes resolve when the scheduler says. */
class ScheduledQueue {
  readonly #s: fc.Scheduler;
  readonly #log: Event[];
  readonly #inbox: { body: string; id: string; n: number }[] = [];
  #wake: (() => void) | undefined;
  #receipts = 0;

  constructor(s: fc.Scheduler, log: Event[]) {
    this.#s = s;
    this.#log = log;
  }

  push(id: string, n: number, body: string): void {
    this.#inbox.push({ body, id, n });
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  receive(_queue: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    return new Promise((resolve) => {
      const take = () => {
        const batch = this.#inbox.splice(0, options.messagesMax ?? 1);
        const label = `receive ${batch.map((m) => answerText(m.id, m.n)).join(",")}`;
        this.#s.schedule(Promise.resolve(), label).then(() => {
          for (const m of batch) this.#log.push({ t: "deliver", id: m.id, n: m.n });
          resolve(batch.map((m) => ({
            messageId: answerText(m.id, m.n),
            body: m.body,
            receipt: `r${++this.#receipts}`,
            receiveCount: 1,
          })));
        });
      };
      if (this.#inbox.length > 0) return take();
      this.#wake = take;
      options.signal?.addEventListener("abort", () => resolve([]), { once: true });
    });
  }

  delete(_queue: string, receipt: string): Promise<void> {
    return this.#s.schedule(Promise.resolve(), `delete ${receipt}`);
  }
}

/** The ledger's store: writes land when the scheduler says, in any order. */
class ScheduledRecords implements RecordStore {
  readonly map = new Map<string, string>();
  readonly #s: fc.Scheduler;
  readonly #log: Event[];

  constructor(s: fc.Scheduler, log: Event[]) {
    this.#s = s;
    this.#log = log;
  }

  put(key: string, value: string): Promise<void> {
    const failure = (JSON.parse(value) as RequestRecord).failure !== undefined;
    return this.#s.schedule(Promise.resolve(), `put ${key}${failure ? " (failure)" : ""}`)
      .then(() => {
        this.map.set(key, value);
        this.#log.push({ t: "written", id: key, failure });
      });
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.map.get(key));
  }

  delete(key: string): Promise<void> {
    return this.#s.schedule(Promise.resolve(), `delete record ${key}`)
      .then(() => void this.map.delete(key));
  }

  prune(): Promise<number> {
    return Promise.resolve(0);
  }
}

/** Runs one scenario under the scheduler `s` and collects what happened. */
async function run(s: fc.Scheduler, plans: readonly Plan[]): Promise<Observed> {
  const log: Event[] = [];
  const queue = new ScheduledQueue(s, log);
  const records = new ScheduledRecords(s, log);
  const waits: Wait[] = [];
  /** The wait whose timer the router is asking the clock for (it asks within `wait`). */
  let timerFor: number | undefined;
  const clock: Clock = {
    nowMs: () => NOW_MS,
    sleepMs(durationMs, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener("abort", () => resolve(), { once: true });
        if (durationMs >= PRUNE_MS) return;
        const k = timerFor;
        assert.ok(k !== undefined, `an unexpected ${durationMs} ms sleep`);
        s.schedule(Promise.resolve(), `timer of wait ${k}`).then(() => {
          log.push({ t: "timeout", k });
          resolve();
        });
      });
    },
  };
  const router = new ResponseRouter({
    queue: queue as unknown as MessageQueue,
    clock,
    ledger: new RequestLedger({ records, clock }),
  }, { responseQueue: "resp", ledgerPruneMs: PRUNE_MS });
  router.start();

  const ids = plans.map((_, i) => idOf(i));
  const answers = new Map<string, boolean[]>(ids.map((id) => [id, []]));
  const sequences = plans.map((plan, i) => {
    const id = ids[i];
    const steps: { label: string; builder: () => Promise<unknown> }[] = [];
    const step = (label: string, fn: () => void) =>
      steps.push({ label: `${label} ${id}`, builder: () => Promise.resolve(fn()) });
    if (plan.tracked) {
      step("track", () => {
        log.push({ t: "track", id });
        router.track({ id, key: `${id}.jpg`, stem: id, acceptedAtMs: NOW_MS });
      });
      if (plan.record) {
        step("record", () => {
          log.push({ t: "record", id });
          router.record(id).catch((error) => assert.fail(`record failed: ${error}`));
        });
      }
    }
    const mine: number[] = [];
    for (const op of plan.ops) {
      if (op.kind === "send") {
        const n = answers.get(id)!.push(op.ok) - 1;
        step(`send #${n}`, () => {
          log.push({ t: "send", id, n });
          queue.push(id, n, encodeResponse(answer(id, n, op.ok)));
        });
      } else if (op.kind === "wait") {
        const k =
          waits.push({ id, abort: new AbortController(), settled: false, result: undefined }) -
          1;
        mine.push(k);
        step(`wait ${k} on`, () => {
          log.push({ t: "wait", id, k });
          timerFor = k;
          const waiting = router.wait(id, WAIT_TIMEOUT_MS, waits[k].abort.signal);
          timerFor = undefined;
          waiting.then((result) => {
            assert.equal(waits[k].settled, false, `wait ${k} settled twice`);
            waits[k].settled = true;
            waits[k].result = result;
          });
        });
      } else if (op.kind === "abort") {
        const k = mine.at(-1);
        if (k === undefined) continue;
        step(`client of wait ${k} leaves, on`, () => {
          log.push({ t: "abort", k });
          waits[k].abort.abort("client gone");
        });
      } else {
        step("forget", () => {
          log.push({ t: "forget", id });
          router.forget(id);
        });
      }
    }
    return s.scheduleSequence(steps);
  });

  await s.waitAll();
  for (const [i, sequence] of sequences.entries()) {
    assert.ok(sequence.done && !sequence.faulty, `the script of ${ids[i]} ran to its end`);
  }
  const stats = router.stats();
  const statuses = new Map<string, RequestStatus | undefined>();
  for (const id of ids) statuses.set(id, await s.waitFor(router.status(id)));
  await s.waitFor(router.stop());
  const ledger = new Map(
    [...records.map].map(([id, text]) => [id, JSON.parse(text) as RequestRecord]),
  );
  return { plans, ids, log, waits, answers, stats, statuses, ledger };
}

/** What the log says the router must have done. */
interface Expected {
  /** Per wait: the answer it must return (`describeResult` form), or undefined. */
  readonly waits: readonly (string | undefined | "still waiting")[];
  /** The first answer delivered per id (later duplicates must change nothing). */
  readonly first: ReadonlyMap<string, string>;
  readonly pending: ReadonlySet<string>;
  readonly matched: number;
  readonly unmatched: number;
  readonly forgotten: ReadonlySet<string>;
  /** Ids whose record write was started while pending, and whether a forget cut it short. */
  readonly recorded: ReadonlyMap<string, { readonly dropped: boolean }>;
}

/** Replays the log: the router's documented behaviour, written as simply as possible. */
function expect(o: Observed): Expected {
  const waits: (string | undefined | "still waiting")[] = o.waits.map(() => "still waiting");
  const open = new Set<number>();
  const first = new Map<string, string>();
  const pending = new Set<string>();
  const forgotten = new Set<string>();
  const recordWritten = new Set<string>();
  const recorded = new Map<string, { dropped: boolean }>();
  let matched = 0;
  let unmatched = 0;
  const text = (id: string, n: number) =>
    `${o.answers.get(id)![n] ? "ok" : "error"} ${answerText(id, n)}`;
  for (const e of o.log) {
    switch (e.t) {
      case "track":
        pending.add(e.id);
        break;
      case "record":
        if (pending.has(e.id)) recorded.set(e.id, { dropped: false });
        break;
      case "written":
        if (!e.failure) recordWritten.add(e.id);
        break;
      case "forget": {
        // A forget while the record is still being written deletes it once written; a record
        // already written stays (documented: it says pending for an id no client was given).
        const record = recorded.get(e.id);
        if (pending.has(e.id) && record && !recordWritten.has(e.id)) record.dropped = true;
        pending.delete(e.id);
        forgotten.add(e.id);
        break;
      }
      case "deliver":
        if (first.has(e.id)) break; // a duplicate: changes nothing
        first.set(e.id, text(e.id, e.n));
        if (pending.delete(e.id)) matched++;
        else unmatched++;
        for (const k of open) {
          if (o.waits[k].id === e.id) {
            waits[k] = first.get(e.id);
            open.delete(k);
          }
        }
        break;
      case "wait":
        if (first.has(e.id)) waits[e.k] = first.get(e.id);
        else open.add(e.k);
        break;
      case "abort":
      case "timeout":
        if (open.delete(e.k)) waits[e.k] = undefined;
        break;
      case "send":
        break;
    }
  }
  return { waits, first, pending, matched, unmatched, forgotten, recorded };
}

/** Seed and path from the environment, to replay a reported failure exactly. */
function replay(): fc.Parameters<[fc.Scheduler, Plan[]]> {
  const seed = Deno.env.get("FC_SEED");
  const path = Deno.env.get("FC_PATH");
  return {
    numRuns: RUNS,
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
  };
}

/**
 * Between two scheduled steps, lets every microtask the last one started run to its end, so a
 * step and all it causes happen before the next step: the log then orders cause and effect.
 */
async function act(step: () => Promise<unknown>): Promise<void> {
  await step();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * `fc.scheduler`, except that every copy of a generated scheduler resolves tasks in the same
 * order. fast-check 4.10.2 runs each try on a copy, and its copies draw their order from a
 * random source the previous copies advanced, so a shrunk failure (seed and path) would replay
 * with another order than the one that failed; here each copy starts from the generated state.
 */
class ReplayableScheduler extends fc.Arbitrary<fc.Scheduler> {
  readonly #inner = fc.scheduler({ act });

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<fc.Scheduler> {
    const origin = mrng.clone();
    const fresh = (): fc.Scheduler => {
      const scheduler = this.#inner.generate(origin.clone(), biasFactor).value_;
      Object.defineProperty(scheduler, fc.cloneMethod, { value: fresh, configurable: true });
      return scheduler;
    };
    return new fc.Value(fresh(), undefined);
  }

  canShrinkWithoutContext(_value: unknown): _value is fc.Scheduler {
    return false;
  }

  shrink(): fc.Stream<fc.Value<fc.Scheduler>> {
    return fc.Stream.nil();
  }
}

/** Runs `check` on every scenario under every interleaving fast-check tries. */
async function property(check: (o: Observed, expected: Expected) => void): Promise<void> {
  await fc.assert(
    fc.asyncProperty(new ReplayableScheduler(), plansArb, async (s, plans) => {
      const o = await run(s, plans);
      check(o, expect(o));
    }),
    replay(),
  );
}

Deno.test("ResponseRouter gives every waiter its own request's first answer, or nothing once its timer fires or its client leaves, in any interleaving", async () => {
  await property((o, expected) => {
    o.waits.forEach((w, k) => {
      assert.ok(w.settled, `wait ${k} on ${w.id} never ended`);
      if (w.result) assert.equal(w.result.response.id, w.id, `wait ${k} got another's answer`);
      assert.equal(describeResult(w.result), expected.waits[k], `wait ${k} on ${w.id}`);
    });
  });
});

Deno.test("ResponseRouter leaves nothing behind: no waiter once the waits end, pending only what is tracked, unanswered and not forgotten", async () => {
  await property((o, expected) => {
    assert.equal(o.stats.waiting, 0, "waiters left after every wait ended");
    assert.equal(o.stats.pending, expected.pending.size, "pending requests");
    for (const id of expected.pending) assert.equal(o.statuses.get(id)?.state, "pending", id);
    for (const id of expected.forgotten) {
      if (expected.first.has(id)) continue;
      const record = expected.recorded.get(id);
      const kept = record !== undefined && !record.dropped;
      // A forgotten id is unknown, unless its record was written before the forget (the
      // ledger then says pending, as documented, until pruned).
      assert.equal(o.statuses.get(id)?.state, kept ? "pending" : undefined, `forgotten ${id}`);
    }
  });
});

Deno.test("ResponseRouter keeps the first answer for every id, known, unknown or forgotten, and counts the strays as unmatched", async () => {
  await property((o, expected) => {
    for (const id of o.ids) {
      const status = o.statuses.get(id);
      const first = expected.first.get(id);
      if (first === undefined) continue;
      assert.equal(status?.state, "done", `${id} was answered`);
      assert.equal(
        describeResult(status.state === "done" ? status.result : undefined),
        first,
        `${id}: a later duplicate replaced the first answer`,
      );
    }
    assert.equal(o.stats.matched, expected.matched, "matched");
    assert.equal(o.stats.unmatched, expected.unmatched, "unmatched");
  });
});

Deno.test("ResponseRouter's ledger keeps each recorded request, writes an error answer over its record whatever order the writes land in, and drops a record being written when forgotten", async () => {
  await property((o, expected) => {
    for (const id of o.ids) {
      const record = o.ledger.get(id);
      const first = expected.first.get(id);
      const recorded = expected.recorded.get(id);
      if (first?.startsWith("error ") && !expected.forgotten.has(id)) {
        assert.equal(record?.failure?.message, first.slice("error ".length), `${id}'s error`);
      } else if (first?.startsWith("error ")) {
        // Forgotten, then answered with an error: the delete and the failure race (either
        // ending is fine, no client has the id), but never a failure of another answer.
        if (record?.failure) assert.equal(record.failure.message, first.slice("error ".length));
      } else if (recorded && !recorded.dropped) {
        assert.ok(record !== undefined, `${id}'s record is lost`);
        assert.equal(record.failure, undefined, `${id} has a failure but no error answer`);
        assert.equal(record.stem, id);
      } else {
        assert.equal(record, undefined, `${id} has a record it should not`);
      }
    }
  });
});
