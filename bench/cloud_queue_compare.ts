/**
 * Before/after for the embedded queue, measured side by side: the same harness
 * (bench/cloud_queue.ts of this checkout) runs against this checkout's queue and against the
 * queue of a baseline git revision, alternating run by run (and which goes first), so both see
 * the same load on a shared machine.
 *
 * Usage: deno run -A bench/cloud_queue_compare.ts [--baseline REV] [--messages N] [--rounds R]
 *          [--consumers 1,4,16] [--wake-samples N]
 * Prints, per consumer count, the median throughput and p99 of each side over R rounds, every
 * run's figure, and the long-poll wake medians.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { median } from "../internal/mod.ts";
import { exportRevision, REPO_ROOT } from "./_baseline.ts";

const { values } = parseArgs({
  options: {
    baseline: { type: "string", default: "HEAD" },
    messages: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    consumers: { type: "string", default: "1,4,16" },
    "wake-samples": { type: "string", default: "50" },
  },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  throw new RangeError(`--rounds must be an integer >= 1, got ${values.rounds}`);
}
const consumerCounts = values.consumers.split(",").filter((c) => c !== "");
const here = REPO_ROOT;

interface Report {
  throughput: { consumers: number; runs: { msgPerS: number; p99Ms: number }[] }[];
  wake: { medianMs: number; p99Ms: number }[];
}

/** The baseline's cloud/ and consumer, driven by this checkout's harness. */
async function extractBaseline(rev: string): Promise<string> {
  const dir = await exportRevision(rev, ["cloud", "bench/cloud_queue_consumer.ts"]);
  await Deno.copyFile(join(here, "bench/cloud_queue.ts"), join(dir, "bench/cloud_queue.ts"));
  // The harness's own imports (its command line, medians) come from this checkout too.
  await Deno.mkdir(join(dir, "internal"), { recursive: true });
  for (const entry of Deno.readDirSync(join(here, "internal"))) {
    if (entry.isFile && !entry.name.endsWith("_test.ts")) {
      await Deno.copyFile(join(here, "internal", entry.name), join(dir, "internal", entry.name));
    }
  }
  return dir;
}

async function run(root: string, args: string[]): Promise<Report> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(root, "bench/cloud_queue.ts"), "--json", ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`bench in ${root} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const baselineDir = await extractBaseline(values.baseline);
const sides = [
  { name: `baseline ${values.baseline}`, root: baselineDir },
  { name: "this checkout", root: here },
];
const runs = new Map<string, { msgPerS: number; p99Ms: number }[]>();
const wakes = new Map<string, { medianMs: number; p99Ms: number }[]>();
console.log(
  `embedded queue before/after: ${values.messages} messages, ${rounds} rounds, ` +
    `load average at start ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}`,
);
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const consumers of consumerCounts) {
      for (const side of order) {
        const report = await run(side.root, [
          "--messages",
          values.messages,
          "--repeats",
          "1",
          "--consumers",
          consumers,
          "--wake-samples",
          "0",
        ]);
        const key = `${side.name}|${consumers}`;
        runs.set(key, [...(runs.get(key) ?? []), ...report.throughput[0].runs]);
      }
    }
    if (Number(values["wake-samples"]) > 0) {
      for (const side of order) {
        const report = await run(side.root, [
          "--repeats",
          "1",
          "--consumers",
          "",
          "--wake-samples",
          values["wake-samples"],
        ]);
        wakes.set(side.name, [...(wakes.get(side.name) ?? []), ...report.wake]);
      }
    }
  }
} finally {
  await Deno.remove(baselineDir, { recursive: true });
}
for (const consumers of consumerCounts) {
  for (const side of sides) {
    const r = runs.get(`${side.name}|${consumers}`) ?? [];
    console.log(
      `consumers=${consumers.padStart(2)}  ${side.name.padEnd(16)} ` +
        `median ${median(r.map((x) => x.msgPerS)).toFixed(0).padStart(5)} msg/s  ` +
        `p99 ${median(r.map((x) => x.p99Ms)).toFixed(1).padStart(6)} ms  ` +
        `runs ${r.map((x) => x.msgPerS.toFixed(0)).join(", ")}`,
    );
  }
}
for (const side of sides) {
  const w = wakes.get(side.name) ?? [];
  if (w.length === 0) continue;
  console.log(
    `long-poll wake  ${side.name.padEnd(16)} median ${
      median(w.map((x) => x.medianMs)).toFixed(1)
    } ms  p99 ${median(w.map((x) => x.p99Ms)).toFixed(1)} ms`,
  );
}
