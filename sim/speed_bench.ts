/**
 * The simulator's speed. Two ways to run it:
 *
 * - `deno run -A sim/speed_bench.ts [--runs N] [--workload W]`: runs each workload N times (default
 *   3) and prints the median wall time, the median CPU time of this process and events per second
 *   for each; the targets are ≥ 1 million events/s and `poisson:50:24h` in ≤ 10 s.
 * - `deno bench sim/speed_bench.ts`: the quick cases under Deno's bench runner.
 * @module
 */
import process from "node:process";
import { median } from "../internal/mod.ts";
import { resolveSimConfig } from "./config.ts";
import { EventQueue } from "./event_queue.ts";
import { buildReport } from "./report.ts";
import { simulate } from "./simulation.ts";
import { parseWorkload } from "./workloads.ts";

const noFiles = (p: string): string => {
  throw new Error(`no trace files in benchmarks (${p})`);
};

/** One measured run: simulation and report, wall and CPU. */
interface Sample {
  events: number;
  simWallMs: number;
  simCpuMs: number;
  totalWallMs: number;
  totalCpuMs: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(spec: string): Sample {
  const config = resolveSimConfig({ seed: 7 });
  const workload = parseWorkload(spec, noFiles);
  const w0 = performance.now();
  const c0 = cpuMs();
  const result = simulate(config, workload);
  const w1 = performance.now();
  const c1 = cpuMs();
  buildReport(result);
  return {
    events: result.events,
    simWallMs: w1 - w0,
    simCpuMs: c1 - c0,
    totalWallMs: performance.now() - w0,
    totalCpuMs: cpuMs() - c0,
  };
}

function main(args: string[]): void {
  let runs = 3;
  const workloads: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--runs") runs = Number(args[++i]);
    else if (args[i] === "--workload") workloads.push(args[++i]);
    else throw new Error(`unknown argument ${args[i]}; use --runs N and --workload W`);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be >= 1, got ${runs}`);
  if (workloads.length === 0) workloads.push("burst:100", "poisson:50:1h", "poisson:50:24h");
  console.log(`runs per workload: ${runs} (medians; CPU is this process's user + system time)`);
  for (const spec of workloads) {
    measure(spec); // warm-up: compile the hot paths once
    const samples = Array.from({ length: runs }, () => measure(spec));
    const events = samples[0].events;
    const simWall = median(samples.map((s) => s.simWallMs));
    const simCpu = median(samples.map((s) => s.simCpuMs));
    const totalWall = median(samples.map((s) => s.totalWallMs));
    const totalCpu = median(samples.map((s) => s.totalCpuMs));
    console.log(
      `${spec.padEnd(16)} ${String(events).padStart(9)} events  sim ${
        (simWall / 1000).toFixed(2)
      } s wall / ${(simCpu / 1000).toFixed(2)} s CPU  → ${
        (events / simWall / 1000).toFixed(2)
      } M events/s wall, ${(events / simCpu / 1000).toFixed(2)} M/s CPU;  with report ${
        (totalWall / 1000).toFixed(2)
      } s wall / ${(totalCpu / 1000).toFixed(2)} s CPU`,
    );
  }
}

if (import.meta.main) main(Deno.args);

Deno.bench("simulate burst:100 (controller, aws profile) with report", () => {
  measure("burst:100");
});

Deno.bench("simulate poisson:50:10m with report", { n: 5, warmup: 1 }, () => {
  measure("poisson:50:10m");
});

Deno.bench("event queue: 1e6 pop+push at 32 pending", () => {
  const q = new EventQueue(1 << 20);
  let t = 0;
  for (let i = 0; i < 32; i++) q.push(i, 1, i, 0);
  for (let i = 0; i < 1_000_000; i++) {
    q.pop();
    t = q.timeMs;
    q.push(t + ((i * 7919) % 1000), 1, i, 0);
  }
});
