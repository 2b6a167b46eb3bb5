/**
 * A long-polling consumer process for the wake tests: receives with a 20 s wait and re-checks
 * only every 20 s (so a prompt delivery proves a wake-up, not a re-check), prints one JSON line
 * per message {body, pid} and deletes it. Prints "ready" once its first long poll is
 * registered. Stops when stdin closes.
 * Usage: long_poll_consumer.ts <db> <queue>
 */
import { SqliteMessageQueue } from "../sqlite_message_queue.ts";

const [db, queue] = Deno.args;
const mq = await SqliteMessageQueue.open(db, { pollIntervalMsMax: 20_000 });
const stop = new AbortController();
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until closed */ }
  stop.abort();
})();
const out = Deno.stdout.writable.getWriter();
const encoder = new TextEncoder();
let first = true;
while (!stop.signal.aborted) {
  const polling = mq.receive(queue, { waitMs: 20_000, signal: stop.signal });
  if (first) {
    // Past lingering (5 ms by default), the poll is asleep and registered.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await out.write(encoder.encode("ready\n"));
    first = false;
  }
  for (const m of await polling) {
    await out.write(encoder.encode(JSON.stringify({ body: m.body, pid: Deno.pid }) + "\n"));
    await mq.delete(queue, m.receipt);
  }
}
await mq.close();
await out.close();
