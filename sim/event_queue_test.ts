import assert from "node:assert/strict";
import * as fc from "fast-check";
import { EventQueue, EventQueueFullError } from "./event_queue.ts";

Deno.test("EventQueue pops by time, then by insertion order, for any interleaving (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(-1)), { maxLength: 300 }),
      (ops) => {
        const q = new EventQueue(1 << 20, 2);
        const model: { t: number; seq: number }[] = [];
        let seq = 0;
        for (const op of ops) {
          if (op >= 0) {
            q.push(op, 1, seq, 0);
            model.push({ t: op, seq: seq++ });
          } else if (model.length > 0) {
            model.sort((x, y) => x.t - y.t || x.seq - y.seq);
            const want = model.shift()!;
            assert.ok(q.pop());
            assert.deepEqual([q.timeMs, q.a], [want.t, want.seq]);
          } else {
            assert.equal(q.pop(), false);
          }
        }
        assert.equal(q.size, model.length);
      },
    ),
  );
});

Deno.test("EventQueue throws EventQueueFullError past its capacity", () => {
  const q = new EventQueue(4, 2);
  for (let i = 0; i < 4; i++) q.push(i, 1, i, 0);
  assert.throws(() => q.push(9, 1, 9, 0), EventQueueFullError);
});
