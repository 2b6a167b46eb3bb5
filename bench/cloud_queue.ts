/**
 * Embedded queue benchmarks (issue 3): send → receive → delete throughput and p99 latency with
 * 1, 4 and 16 consumer processes, and how fast a long-polling receive in another process wakes
 * after a send. Consumers receive one message at a time, as app-tier workers do.
 *
 * Usage: deno task bench:cloud:queue [--messages N] [--repeats R] [--consumers 1,4,16]
 *          [--wake-samples N] [--json]
 * Prints medians over R repeats (with --json: one JSON object with every run, for
 * bench/cloud_queue_compare.ts). Targets: >= 2,000 msg/s with 4 consumers; wake <= 50 ms.
 */
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { commandLineOrExit, integerFlag } from "../internal/cli.ts";
import { median, quantileSorted } from "../internal/mod.ts";

const USAGE = `Usage: deno task bench:cloud:queue [--messages N] [--repeats R] [--consumers 1,4,16]
                                 [--wake-samples N] [--json]

Embedded queue: send → receive → delete throughput and p99 latency with 1, 4 and 16 consumer
processes, and how fast a long-polling receive in another process wakes after a send.

  --messages N           messages per run (default 4000)
  --repeats R            runs per consumer count; medians are printed (default 3)
  --consumers LIST       consumer process counts (default 1,4,16)
  --wake-samples N       wake-up samples (default 50; 0 for none)
  --json                 one JSON object with every run (for bench/cloud_queue_compare.ts)
  -h, --help             this help`;

/** Most of anything this bench does in one run (messages, repeats, consumers, samples). */
const BENCH_COUNT_MAX = 1_000_000;

const values = commandLineOrExit(
  {
    name: "bench:cloud:queue",
    usage: USAGE,
    options: {
      messages: { type: "string" },
      repeats: { type: "string" },
      consumers: { type: "string" },
      "wake-samples": { type: "string" },
      json: { type: "boolean" },
    },
  },
  Deno.args,
  ({ values }) => ({
    messages: integerFlag("--messages", values.messages ?? "4000", 1, BENCH_COUNT_MAX),
    repeats: integerFlag("--repeats", values.repeats ?? "3", 1, BENCH_COUNT_MAX),
    consumers: (values.consumers ?? "1,4,16").split(",").filter((c) => c !== "")
      .map((c) => integerFlag("--consumers", c, 1, BENCH_COUNT_MAX)),
    wakeSamples: integerFlag("--wake-samples", values["wake-samples"] ?? "50", 0, BENCH_COUNT_MAX),
    json: values.json ?? false,
  }),
);
const { messages, repeats, wakeSamples } = values;
const consumerCounts = values.consumers;
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
