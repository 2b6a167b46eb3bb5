import assert from "node:assert/strict";
import { RequestQueue } from "./request_queue.ts";

Deno.test("RequestQueue serves visible messages first in, first out across growth", () => {
  const q = new RequestQueue(10_000, 0);
  for (let i = 0; i < 3000; i++) q.pushVisible(i);
  const out: number[] = [];
  for (let i = 0; i < 1000; i++) out.push(q.popVisible());
  for (let i = 3000; i < 5000; i++) q.pushVisible(i);
  while (q.visible > 0) out.push(q.popVisible());
  assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => i));
});

Deno.test("RequestQueue shows counts as they were countLagMs ago", () => {
  const q = new RequestQueue(100, 1000);
  q.pushVisible(1);
  q.record(100);
  q.pushVisible(2);
  q.inFlight = 1;
  q.record(1500);
  assert.deepEqual(q.observe(1000), { visible: 0, inFlight: 0 }); // as of 0 ms
  assert.deepEqual(q.observe(1100), { visible: 1, inFlight: 0 }); // as of 100 ms
  assert.deepEqual(q.observe(2400), { visible: 1, inFlight: 0 }); // as of 1400 ms
  assert.deepEqual(q.observe(2500), { visible: 2, inFlight: 1 }); // as of 1500 ms
});

Deno.test("RequestQueue without lag shows the counts now", () => {
  const q = new RequestQueue(100, 0);
  q.pushVisible(1);
  q.inFlight = 2;
  assert.deepEqual(q.observe(0), { visible: 1, inFlight: 2 });
});
