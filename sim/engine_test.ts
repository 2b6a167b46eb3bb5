import assert from "node:assert/strict";
import { Engine, SimInvariantError } from "./engine.ts";

const limits = { timeMaxMs: 1e6, eventsMax: 1e6, eventsPendingMax: 1024 };

Deno.test("Engine reports a deadlock when no event is left but work is pending", () => {
  const e = new Engine(limits);
  e.schedule(5, 1, 0, 0);
  const outcome = e.run(() => {}, {
    done: () => false,
    describePending: () => "3 requests pending",
  });
  assert.equal(outcome.kind, "deadlock");
  assert.match(
    (outcome as { reason: string }).reason,
    /no event left at 5 ms while 3 requests pending/,
  );
});

Deno.test("Engine runs events in time order and stops when the model is done", () => {
  const e = new Engine(limits);
  const seen: number[] = [];
  e.schedule(30, 1, 3, 0);
  e.schedule(10, 1, 1, 0);
  e.schedule(10, 1, 2, 0);
  const outcome = e.run((_k, a) => seen.push(a), {
    done: () => seen.length === 3,
    describePending: () => "",
  });
  assert.deepEqual(outcome, { kind: "ok" });
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(e.nowMs, 30);
});

Deno.test("Engine stops at timeMaxMs and at eventsMax with the reason", () => {
  const forever = (e: Engine) => () => e.schedule(e.nowMs + 10, 1, 0, 0);
  const e1 = new Engine({ ...limits, timeMaxMs: 100 });
  e1.schedule(0, 1, 0, 0);
  assert.equal(
    e1.run(forever(e1), { done: () => false, describePending: () => "x" }).kind,
    "time-limit",
  );
  assert.ok(e1.nowMs <= 100);
  const e2 = new Engine({ ...limits, eventsMax: 50 });
  e2.schedule(0, 1, 0, 0);
  assert.equal(
    e2.run(forever(e2), { done: () => false, describePending: () => "x" }).kind,
    "event-limit",
  );
  assert.equal(e2.events, 50);
});

Deno.test("Engine refuses an event in the past: time never goes backwards", () => {
  const e = new Engine(limits);
  e.schedule(10, 1, 0, 0);
  e.run(() => assert.throws(() => e.schedule(9, 1, 0, 0), SimInvariantError), {
    done: () => e.events === 1,
    describePending: () => "",
  });
  assert.throws(() => e.schedule(NaN, 1, 0, 0), SimInvariantError);
});
