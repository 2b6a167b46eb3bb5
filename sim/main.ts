/**
 * `deno task sim`: the simulator's command line. The only file here that touches the file system,
 * the console and the wall clock (to report speed); everything it prints about the run comes from
 * the deterministic core.
 * @module
 */
import { parseCli, usage, UsageError } from "./cli.ts";
import { INTEGER_KEYS, resolveSimConfig, type SimConfig } from "./config.ts";
import { POLICY_NAMES } from "./policies.ts";
import { buildReport, reportJson, reportText } from "./report.ts";
import { seedsOf, simulate } from "./simulation.ts";
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
  const workload = parseWorkload(cli.workload, (p) => Deno.readTextFileSync(p));
  printSeeds(config);

  if (cli.sweep !== null) {
    const spec = parseSweep(cli.sweep, INTEGER_KEYS);
    // parseCli refuses --sweep with --policy all.
    const policy = cli.policy === "all" ? "controller" : cli.policy;
    const points = spec.values.map((value) => {
      const c = resolveSimConfig({ ...cli.settings, [spec.key]: value }, cli.profile);
      return { value, report: buildReport(simulate(c, workload, { policy })) };
    });
    if (cli.json) console.log(JSON.stringify({ sweep: spec.key, points }, null, 2));
    else console.log(sweepTable(spec.key, points));
    writeText(cli.sweepSvgPath, sweepSvg(spec.key, points));
    console.error(`sim: wrote ${cli.sweepSvgPath}`);
    return points.every((p) => p.report.outcome === "ok") ? 0 : 1;
  }

  if (cli.policy === "all") {
    const reports = POLICY_NAMES.map((policy) =>
      buildReport(simulate(config, workload, { policy }))
    );
    if (cli.json) console.log(JSON.stringify(reports, null, 2));
    else console.log(policyTable(reports));
    return reports.every((r) => r.outcome === "ok") ? 0 : 1;
  }

  const decisions: string[] = [];
  const started = performance.now();
  const result = simulate(config, workload, {
    policy: cli.policy,
    onDecision: cli.decisionsPath === null
      ? undefined
      : (log) => decisions.push(JSON.stringify(log)),
  });
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
  return report.outcome === "ok" ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError || e instanceof WorkloadError || e instanceof RangeError) {
      console.error(`sim: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
