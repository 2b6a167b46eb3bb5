/**
 * Embedded queue benchmarks (issue 3): send → receive → delete throughput and p99 latency with
 * 1, 4 and 16 consumer processes, and how fast a long-polling receive in another process wakes
 * after a send. Consumers receive one message at a time, as app-tier workers do.
 *
 * Usage: deno run -A bench/cloud_queue.ts [--messages N] [--repeats R] [--consumers 1,4,16]
 *          [--wake-samples N] [--json]
 * Prints medians over R repeats (with --json: one JSON object with every run, for
 * bench/cloud_queue_compare.ts). Targets: >= 2,000 msg/s with 4 consumers; wake <= 50 ms.
 */
import { parseArgs } from "node:util";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { median, quantileSorted } from "../internal/mod.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "4000" },
    repeats: { type: "string", default: "3" },
    consumers: { type: "string", default: "1,4,16" },
    "wake-samples": { type: "string", default: "50" },
    json: { type: "boolean", default: false },
  },
});
const messages = Number(values.messages);
const repeats = Number(values.repeats);
const consumerCounts = values.consumers.split(",").filter((c) => c !== "").map(Number);
const wakeSamples = Number(values["wake-samples"]);
function checkCount(name: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`--${name} must be an integer >= ${min}, got ${n}`);
  }
}
checkCount("messages", messages, 1);
checkCount("repeats", repeats, 1);
for (const c of consumerCounts) checkCount("consumers", c, 1);
checkCount("wake-samples", wakeSamples, 0);
const CONSUMER = new URL("./cloud_queue_consumer.ts", import.meta.url).pathname;
const now = () => performance.timeOrigin + performance.now();

function spawn(db: string, queue: string, mode: "drain" | "wake") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CONSUMER, db, queue, mode],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  return (async () => {
    const out = await new Response(child.stdout).text();
    await child.status;
    return JSON.parse(out).latenciesMs as number[];
  })();
}

async function throughput(consumers: number): Promise<{ msgPerS: number; p99Ms: number }> {
  const dir = await Deno.makeTempDir({ prefix: "bench-mq-" });
  const db = `${dir}/cloud.db`;
  const mq = await SqliteMessageQueue.open(db);
  await mq.ensureQueue("bench", { messageBytesMax: 1024 });
  const results = Array.from({ length: consumers }, () => spawn(db, "bench", "drain"));
  await new Promise((resolve) => setTimeout(resolve, 1500)); // let the processes start
  const startMs = now();
  for (let i = 0; i < messages; i++) await mq.send("bench", String(now()));
  for (let i = 0; i < consumers; i++) await mq.send("bench", "stop");
  const latencies = (await Promise.all(results)).flat().sort((a, b) => a - b);
  const elapsedS = (now() - startMs) / 1000;
  await mq.close();
  await Deno.remove(dir, { recursive: true });
  if (latencies.length !== messages) throw new Error(`lost messages: ${latencies.length}`);
  return { msgPerS: messages / elapsedS, p99Ms: quantileSorted(latencies, 0.99) };
}

async function wake(samples: number): Promise<{ medianMs: number; p99Ms: number }> {
  const dir = await Deno.makeTempDir({ prefix: "bench-wake-" });
  const db = `${dir}/cloud.db`;
  const mq = await SqliteMessageQueue.open(db);
  await mq.ensureQueue("wake");
  const result = spawn(db, "wake", "wake");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let i = 0; i < samples; i++) {
    // Gaps long enough that the consumer is asleep in its long poll when the send comes.
    await new Promise((resolve) => setTimeout(resolve, 100 + (i % 7) * 20));
    await mq.send("wake", String(now()));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  await mq.send("wake", "stop");
  const latencies = (await result).sort((a, b) => a - b);
  await mq.close();
  await Deno.remove(dir, { recursive: true });
  return { medianMs: quantileSorted(latencies, 0.5), p99Ms: quantileSorted(latencies, 0.99) };
}

const report = {
  messages,
  repeats,
  target: Deno.build.target,
  throughput: [] as { consumers: number; runs: { msgPerS: number; p99Ms: number }[] }[],
  wake: [] as { medianMs: number; p99Ms: number }[],
};
const log = (line: string) => values.json || console.log(line);
log(`embedded queue, ${messages} messages, median of ${repeats} runs, ${Deno.build.target}`);
for (const consumers of consumerCounts) {
  const runs = [];
  for (let r = 0; r < repeats; r++) runs.push(await throughput(consumers));
  report.throughput.push({ consumers, runs });
  log(
    `consumers=${consumers}  throughput=${median(runs.map((x) => x.msgPerS)).toFixed(0)} msg/s  ` +
      `p99 send→delete=${median(runs.map((x) => x.p99Ms)).toFixed(1)} ms`,
  );
}
if (wakeSamples > 0) {
  for (let r = 0; r < repeats; r++) report.wake.push(await wake(wakeSamples));
  log(
    `long-poll wake (other process): median=${
      median(report.wake.map((w) => w.medianMs)).toFixed(1)
    } ms  p99=${median(report.wake.map((w) => w.p99Ms)).toFixed(1)} ms`,
  );
}
if (values.json) console.log(JSON.stringify(report));
