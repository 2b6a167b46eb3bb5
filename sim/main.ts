/**
 * `deno task sim`: the simulator's command line. The only file here that touches the file system,
 * the console and the wall clock (to report speed); everything it prints about the run comes from
 * the deterministic core.
 * @module
 */
import {
  type CliOptions,
  parseCli,
  replayCommand,
  type ReplayOverrides,
  usage,
  UsageError,
} from "./cli.ts";
import { readFailureReason } from "../internal/cli.ts";
import { INTEGER_KEYS, resolveSimConfig, type SimConfig } from "./config.ts";
import { POLICY_NAMES } from "./policies.ts";
import { buildReport, reportJson, reportText } from "./report.ts";
import { seedsOf, type SimResult, simulate } from "./simulation.ts";
import { parseSweep, policyTable, sweepTable } from "./sweep.ts";
import { sweepSvg, timelineSvg } from "./svg.ts";
import { parseWorkload, WorkloadError } from "./workloads.ts";

function hex(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

function printSeeds(config: SimConfig): void {
  const s = seedsOf(config.seed);
  console.error(
    `sim: seed ${config.seed} (service ${hex(s.service)}, upload ${hex(s.upload)}, response ${
      hex(s.response)
    }, start ${hex(s.start)}, launch ${hex(s.launch)}, stop ${hex(s.stop)}, faults ${
      hex(s.faults)
    }, workload/0 ${hex(s.workload0)})`,
  );
}

/**
 * Says that a run failed, with its seed and the command that replays it exactly (STYLE: the
 * seed is printed at the start and again on failure).
 */
function printFailure(what: string, replay: string, seed: number): void {
  console.error(`sim: FAILED (${what}) with seed ${seed}; replay it exactly with:\n  ${replay}`);
}

/** The command's own run (set once its config is known), for a failure outside any run. */
let commandRun: { replay: string; seed: number } | undefined;

/** A run that threw; carries what {@linkcode printFailure} needs. */
class RunFailure extends Error {
  override name = "RunFailure";
  readonly replay: string;
  readonly seed: number;
  constructor(cause: unknown, replay: string, seed: number) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.replay = replay;
    this.seed = seed;
  }
}

/** Runs `simulate`, turning a throw into a {@linkcode RunFailure} that can say how to replay. */
function run(
  cli: CliOptions,
  config: SimConfig,
  overrides: ReplayOverrides,
  go: () => SimResult,
): SimResult {
  try {
    return go();
  } catch (error) {
    throw new RunFailure(error, replayCommand(cli, config.seed, overrides), config.seed);
  }
}

/** Prints the failure line for each run in `runs` that did not end ok; true when all did. */
function allOk(
  cli: CliOptions,
  runs: readonly { config: SimConfig; overrides: ReplayOverrides; outcome: string }[],
): boolean {
  for (const r of runs) {
    if (r.outcome === "ok") continue;
    printFailure(r.outcome, replayCommand(cli, r.config.seed, r.overrides), r.config.seed);
  }
  return runs.every((r) => r.outcome === "ok");
}

function writeText(path: string, text: string): void {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  if (dir !== "") Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(path, text);
}

function main(args: string[]): number {
  const cli = parseCli(args);
  if (cli.help) {
    console.log(usage());
    return 0;
  }
  const config = resolveSimConfig(cli.settings, cli.profile);
  const workload = parseWorkload(cli.workload, (p) => {
    try {
      return Deno.readTextFileSync(p);
    } catch (error) {
      throw new Error(readFailureReason(error), { cause: error });
    }
  });
  printSeeds(config);
  commandRun = { replay: replayCommand(cli, config.seed), seed: config.seed };

  if (cli.sweep !== null) {
    const spec = parseSweep(cli.sweep, INTEGER_KEYS);
    // parseCli refuses --sweep with --policy all.
    const policy = cli.policy === "all" ? "controller" : cli.policy;
    const runs = spec.values.map((value) => {
      const overrides = { settings: { [spec.key]: value } };
      const c = resolveSimConfig({ ...cli.settings, ...overrides.settings }, cli.profile);
      const report = buildReport(run(cli, c, overrides, () => simulate(c, workload, { policy })));
      return { value, report, config: c, overrides, outcome: report.outcome };
    });
    const points = runs.map(({ value, report }) => ({ value, report }));
    if (cli.json) console.log(JSON.stringify({ sweep: spec.key, points }, null, 2));
    else console.log(sweepTable(spec.key, points));
    writeText(cli.sweepSvgPath, sweepSvg(spec.key, points));
    console.error(`sim: wrote ${cli.sweepSvgPath}`);
    return allOk(cli, runs) ? 0 : 1;
  }

  if (cli.policy === "all") {
    const runs = POLICY_NAMES.map((policy) => {
      const overrides = { policy };
      const report = buildReport(
        run(cli, config, overrides, () => simulate(config, workload, { policy })),
      );
      return { report, config, overrides, outcome: report.outcome };
    });
    const reports = runs.map((r) => r.report);
    if (cli.json) console.log(JSON.stringify(reports, null, 2));
    else console.log(policyTable(reports));
    return allOk(cli, runs) ? 0 : 1;
  }

  const decisions: string[] = [];
  const started = performance.now();
  const policy = cli.policy;
  const result = run(cli, config, {}, () =>
    simulate(config, workload, {
      policy,
      onDecision: cli.decisionsPath === null
        ? undefined
        : (log) => decisions.push(JSON.stringify(log)),
    }));
  const elapsedMs = performance.now() - started;
  const report = buildReport(result);
  if (cli.json) Deno.stdout.writeSync(new TextEncoder().encode(reportJson(report)));
  else console.log(reportText(report));
  console.error(
    `sim: ${result.events} events in ${(elapsedMs / 1000).toFixed(2)} s wall (${
      (result.events / Math.max(elapsedMs, 1) / 1000).toFixed(2)
    } M events/s)`,
  );
  if (cli.decisionsPath !== null) {
    writeText(cli.decisionsPath, decisions.join("\n") + (decisions.length ? "\n" : ""));
    console.error(`sim: wrote ${decisions.length} decisions to ${cli.decisionsPath}`);
  }
  if (cli.svgPath !== null) {
    writeText(cli.svgPath, timelineSvg(report, result.timeline));
    console.error(`sim: wrote ${cli.svgPath}`);
  }
  if (report.outcome !== "ok") {
    console.error(`sim: run ended with ${report.outcome}: ${report.outcomeReason}`);
  }
  return allOk(cli, [{ config, overrides: {}, outcome: report.outcome }]) ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (e) {
    if (e instanceof RunFailure) {
      // A limit the run hit (RangeError: raise requestsMax) is said in a line; anything else is
      // a bug (a broken invariant), shown with its stack.
      const cause = e.cause;
      const limit = cause instanceof RangeError;
      console.error(`sim: ${limit ? cause.message : (cause as Error)?.stack ?? String(cause)}`);
      printFailure(limit ? "a limit" : "an exception", e.replay, e.seed);
      Deno.exit(limit ? 2 : 1);
    }
    if (e instanceof UsageError || e instanceof WorkloadError || e instanceof RangeError) {
      console.error(`sim: ${e.message}`);
      Deno.exit(2);
    }
    if (commandRun === undefined) throw e;
    console.error(`sim: ${(e as Error)?.stack ?? String(e)}`);
    printFailure("an exception", commandRun.replay, commandRun.seed);
    Deno.exit(1);
  }
}
