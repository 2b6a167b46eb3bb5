/**
 * A consumer process for the model-based test. Polls the queue and behaves by the body's
 * kind: "normal" deletes; "abandon-once" lets its first delivery time out; "poison" never
 * deletes; "slow" holds its first delivery past the visibility timeout, then deletes with the
 * (by then possibly stale) receipt. Prints one JSON line per delivery:
 * {e:"recv", body, count, beforeMs, afterMs}. Stops when stdin closes.
 * Usage: model_consumer.ts <db> <queue> <visibility timeout ms>
 */
import { SqliteMessageQueue } from "../sqlite_message_queue.ts";

const [db, queue, vt] = Deno.args;
const vtMs = Number(vt);
const mq = await SqliteMessageQueue.open(db);
const stop = new AbortController();
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until closed */ }
  stop.abort();
})();
const out = Deno.stdout.writable.getWriter();
const encoder = new TextEncoder();
while (!stop.signal.aborted) {
  const beforeMs = Date.now();
  const got = await mq.receive(queue, {
    messagesMax: 2,
    // Short polls keep [beforeMs, afterMs] tight around the receive transaction, which is what
    // the no-double-holding check needs; long polls are covered by the contract and benches.
    waitMs: 0,
    visibilityTimeoutMs: vtMs,
  });
  const afterMs = Date.now();
  if (got.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  for (const m of got) {
    await out.write(encoder.encode(
      JSON.stringify({ e: "recv", body: m.body, count: m.receiveCount, beforeMs, afterMs }) + "\n",
    ));
    const kind = m.body.split(":")[0];
    if (kind === "poison") continue;
    if (kind === "abandon-once" && m.receiveCount === 1) continue;
    if (kind === "slow" && m.receiveCount === 1) {
      await new Promise((resolve) => setTimeout(resolve, vtMs * 1.5));
    }
    await mq.delete(queue, m.receipt);
  }
}
await mq.close();
await out.close();
Deno.exit(0);
