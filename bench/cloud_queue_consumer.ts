/**
 * A consumer process for bench/cloud_queue.ts. Mode "drain": receive one message at a time
 * (as a worker does), delete it, record send→delete latency; exit on a "stop" body. Mode
 * "wake": long-poll (20 s) and record send→receive latency for each message; exit on "stop".
 * Prints one JSON line: {latenciesMs:[...]} (bodies carry the send time in ms, performance
 * timeOrigin-based, so both processes use the same clock).
 * Usage: cloud_queue_consumer.ts <db> <queue> <drain|wake>
 */
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";

const [db, queue, mode] = Deno.args;
const mq = await SqliteMessageQueue.open(db);
const latenciesMs: number[] = [];
const now = () => performance.timeOrigin + performance.now();
for (;;) {
  const [m] = await mq.receive(queue, { waitMs: 20_000 });
  if (!m) continue;
  const receivedMs = now();
  if (m.body === "stop") {
    await mq.delete(queue, m.receipt);
    break;
  }
  if (mode === "wake") {
    latenciesMs.push(receivedMs - Number(m.body));
    await mq.delete(queue, m.receipt);
  } else {
    await mq.delete(queue, m.receipt);
    latenciesMs.push(now() - Number(m.body));
  }
}
await mq.close();
console.log(JSON.stringify({ latenciesMs }));
