/**
 * Validation against the real thing: the same 100-request burst on the embedded stack and in the
 * simulator (profile `local`, parameters measured from that stack), makespan, p50 and p95 side by
 * side. Target: the simulator within 15% of the stack on each.
 *
 * This script is the simulator's side. The stack's side is a hook: run the stack and the course
 * grader's burst, save what they print, and pass the files in:
 *
 * ```sh
 * deno task start --max 2 > stack.log &            # the embedded stack; its stdout has the
 *                                                  # workers' JSON lines ({"event":"ready","readyMs":…})
 * deno task loadgen --url http://localhost:8000 --images <dir of 100 course images> \
 *   --labels labels_100.csv --concurrency 100 --json > burst.json
 * deno run -A sim/validate.ts --stack burst.json --stack-log stack.log \
 *   --service-ms-median <measured> --service-ms-p95 <measured> --instances-max 2
 * ```
 *
 * Service time is not in the stack's logs (the worker logs what it answered, not how long it
 * took), so pass it as flags: the whole-image median and p95 for a 64×64 course image from
 * `deno task bench:model`, plus the worker's I/O per request if it is not negligible. The worker
 * process start-up (process + model sessions) comes from the `ready` lines' `readyMs` when
 * `--stack-log` is given, else from `--start-ms-median/--start-ms-p95`.
 * @module
 */
import { parseCli, UsageError } from "./cli.ts";
import { resolveSimConfig, type SimOptions } from "./config.ts";
import { buildReport, type Report } from "./report.ts";
import { simulate } from "./simulation.ts";
import { parseWorkload } from "./workloads.ts";

/** What the stack's burst measured (the fields of `deno task loadgen --json` we use). */
export interface StackBurst {
  readonly requests: number;
  readonly successes: number;
  /** First request sent → last answer, in seconds. */
  readonly totalS: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number };
}

/** One compared figure. */
export interface Comparison {
  readonly figure: "makespanMs" | "p50Ms" | "p95Ms";
  readonly stack: number;
  /** Median over the simulated seeds. */
  readonly sim: number;
  /** 5th and 95th percentile over the seeds: the simulator's own spread. */
  readonly simP5: number;
  readonly simP95: number;
  /** (sim − stack) / stack, in percent. */
  readonly errorPct: number;
  readonly within: boolean;
}

/** The validation's limits and defaults. */
export const VALIDATION = Object.freeze({
  /** The issue's target: within 15%. */
  tolerancePct: 15,
  /** Simulated seeds per validation (the stack is one run; the simulator shows its spread). */
  seeds: 21,
  /** Largest stack file read. */
  fileBytesMax: 64 * 1024 * 1024,
});

/**
 * Reads the loadgen JSON of the stack's burst.
 *
 * @param text The file's text.
 * @returns The figures used.
 * @throws {TypeError} naming the missing field.
 */
export function parseStackBurst(text: string): StackBurst {
  const data = JSON.parse(text);
  const need = (ok: boolean, field: string) => {
    if (!ok) {
      throw new TypeError(
        `stack burst file lacks a numeric ${field}; pass the output of deno task loadgen --json`,
      );
    }
  };
  need(typeof data?.requests === "number", "requests");
  need(typeof data?.successes === "number", "successes");
  need(typeof data?.totalS === "number", "totalS");
  need(typeof data?.latencyMs?.p50 === "number", "latencyMs.p50");
  need(typeof data?.latencyMs?.p95 === "number", "latencyMs.p95");
  return {
    requests: data.requests,
    successes: data.successes,
    totalS: data.totalS,
    latencyMs: { p50: data.latencyMs.p50, p95: data.latencyMs.p95 },
  };
}

/**
 * The worker start-up times (`readyMs` of `{"event":"ready"}` lines) in a stack log; other lines
 * are ignored.
 *
 * @param text The stack's stdout.
 * @returns readyMs values in log order.
 */
export function parseReadyMs(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes('"ready"')) continue;
    try {
      const entry = JSON.parse(line);
      if (entry?.event === "ready" && typeof entry.readyMs === "number") out.push(entry.readyMs);
    } catch {
      // Not a JSON line: the stack prints other things too.
    }
  }
  return out;
}

function quantile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

/**
 * Compares the stack's burst with simulated ones.
 *
 * @param stack The stack's figures.
 * @param reports One simulated report per seed.
 * @param tolerancePct Allowed error.
 * @returns One comparison per figure.
 */
export function compare(
  stack: StackBurst,
  reports: readonly Report[],
  tolerancePct: number = VALIDATION.tolerancePct,
): Comparison[] {
  const rows: [Comparison["figure"], number, (r: Report) => number][] = [
    ["makespanMs", stack.totalS * 1000, (r) => r.makespanMs],
    ["p50Ms", stack.latencyMs.p50, (r) => r.latencyMs.p50],
    ["p95Ms", stack.latencyMs.p95, (r) => r.latencyMs.p95],
  ];
  return rows.map(([figure, measured, pick]) => {
    const values = reports.map(pick);
    const sim = quantile(values, 0.5);
    const errorPct = measured > 0 ? (100 * (sim - measured)) / measured : Infinity;
    return {
      figure,
      stack: measured,
      sim,
      simP5: quantile(values, 0.05),
      simP95: quantile(values, 0.95),
      errorPct: Math.round(errorPct * 10) / 10,
      within: Math.abs(errorPct) <= tolerancePct,
    };
  });
}

function main(args: string[]): number {
  let stackPath: string | null = null;
  let logPath: string | null = null;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--stack") stackPath = args[++i];
    else if (args[i] === "--stack-log") logPath = args[++i];
    else rest.push(args[i]);
  }
  if (stackPath === undefined || stackPath === null) {
    throw new UsageError(
      "--stack FILE is required: the JSON of deno task loadgen --json for the stack's 100-burst (see this file's header for the commands)",
    );
  }
  const cli = parseCli(["--profile", "local", ...rest]);
  const settings: Record<string, unknown> = { ...cli.settings };
  if (logPath !== null) {
    const ready = parseReadyMs(Deno.readTextFileSync(logPath));
    if (ready.length === 0) {
      throw new UsageError(`${logPath} holds no {"event":"ready","readyMs":…} lines`);
    }
    settings.startMsMedian = quantile(ready, 0.5);
    settings.startMsP95 = Math.max(quantile(ready, 0.95), quantile(ready, 0.5));
    settings.launchMsMedian = settings.startMsMedian;
    settings.launchMsP95 = settings.startMsP95;
    console.error(
      `validate: ${ready.length} worker start-ups in ${logPath}: median ${settings.startMsMedian} ms, p95 ${settings.startMsP95} ms`,
    );
  }
  const stat = Deno.statSync(stackPath);
  if (stat.size > VALIDATION.fileBytesMax) {
    throw new UsageError(`${stackPath} is larger than ${VALIDATION.fileBytesMax} bytes`);
  }
  const stack = parseStackBurst(Deno.readTextFileSync(stackPath));
  const workload = parseWorkload(`burst:${stack.requests}`, () => "");
  const reports = Array.from({ length: VALIDATION.seeds }, (_, seed) => {
    const config = resolveSimConfig({ ...(settings as SimOptions), seed: seed + 1 }, "local");
    return buildReport(
      simulate(config, workload, { policy: cli.policy === "all" ? "controller" : cli.policy }),
    );
  });
  const rows = compare(stack, reports);
  if (cli.json) {
    console.log(JSON.stringify({ stack, simConfig: reports[0].config, rows }, null, 2));
  } else {
    console.log(
      `burst:${stack.requests}, stack (one run) vs simulator (median of ${VALIDATION.seeds} seeds, profile local)`,
    );
    console.log("figure        stack ms     sim ms   sim p5..p95 ms        error   within 15%");
    for (const r of rows) {
      console.log(
        `${r.figure.padEnd(12)} ${r.stack.toFixed(0).padStart(9)} ${
          r.sim.toFixed(0).padStart(10)
        }   ${`${r.simP5.toFixed(0)}..${r.simP95.toFixed(0)}`.padEnd(18)} ${
          `${r.errorPct}%`.padStart(7)
        }   ${r.within ? "yes" : "NO"}`,
      );
    }
  }
  return rows.every((r) => r.within) ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError || e instanceof TypeError || e instanceof RangeError) {
      console.error(`validate: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
