/**
 * `deno task aws`: provision, inspect and tear down a deployment on AWS with the original
 * specification's names: `plan` (every resource, every IAM document and the monthly cost,
 * without calling AWS), `iam` (the IAM templates in deploy/iam/), `up` (creates what is
 * missing), `status` (what exists) and `down` (deletes what belongs to the deployment).
 *
 * ```sh
 * deno task aws plan --id ID [--region R] [--max N] [--instance-type T] [--web-instance-type T]
 *   [--ingress-cidr CIDR] [--workload SPEC --every DURATION] [--prices FILE] [--json]
 * deno task aws iam [--write]
 * deno task aws up --id ID [settings] [--package DIR] [--dry-run]
 * deno task aws down --id ID [--region R] [--yes]
 * ```
 * @module
 */
import { relative } from "node:path";
import { ConfigError, parseAwsConfig, type ServiceConfig, settingsUsage } from "./config.ts";
import {
  type CostLine,
  COURSE_HOURLY,
  type DeploymentShape,
  idleCost,
  parsePriceTable,
  PRICES_DEFAULT,
  type PriceTable,
  runsPerMonth,
  simulateUsage,
  totalUsd,
  workloadCost,
  type WorkloadPlan,
  type WorkloadUsage,
} from "./aws_cost.ts";
import { type AwsPlan, awsPlan } from "./aws_plan.ts";
import { IAM_DOCUMENT_NAMES, iamTemplates } from "./aws_iam.ts";
import { deploymentStatus, statusText } from "./aws_status.ts";
import { openBackend } from "./backend.ts";
import { CloudError } from "../cloud/errors.ts";
import { type AwsClients, awsClients, closeClients, reportLine } from "./aws_deploy.ts";
import { BucketTakenError, deployUp, type UpOptions } from "./aws_up.ts";
import { deployDown, findDeployment } from "./aws_down.ts";

/** The subcommands. */
export const AWS_SUBCOMMANDS = ["plan", "iam", "up", "status", "down"] as const;
type Subcommand = typeof AWS_SUBCOMMANDS[number];

/** Where deploy/iam/ is. */
const IAM_DIR = new URL("../deploy/iam/", import.meta.url);

const HELP = `Usage:
  deno task aws plan --id ID [settings] [--workload SPEC --every DURATION] [--prices FILE] [--json]
      every resource of the deployment, every IAM document and the monthly cost; calls nothing
  deno task aws iam [--write]
      the IAM documents as templates on \${Id}, \${Region}, \${Account}; --write: into deploy/iam/
  deno task aws status --id ID [settings] [--json]
      which planned resources exist (queues with counts, instances with states); exit 1 if missing
  deno task aws up --id ID [settings] [--package DIR] [--dry-run]
      creates whatever of the deployment is missing (a second run creates nothing; a stopped run
      goes on where it stopped); uploads the package (deno task package; built if DIR is missing)
  deno task aws down --id ID [--region R] [--yes]
      deletes everything of the deployment: instances, address, template, groups, profiles, roles,
      queues, buckets with their objects; asks first unless --yes

plan's own flags:
  --workload SPEC     a simulator workload (deno task sim's syntax) to price (${COURSE_HOURLY.spec})
  --every DURATION    how often it repeats through the month (${COURSE_HOURLY.every})
  --prices FILE       a dated price table (deploy/prices/us-east-1-2026-12.json)
  --json              one JSON object instead of text
up's own flags:
  --package DIR       the package folder to upload, DIR.tar.gz beside it (out/package)
  --dry-run           print the plan instead (as plan does); call nothing
down's own flags:
  --yes               delete without asking (needed when stdin is not a terminal)

${settingsUsage("aws")}`;

/** Where the command's output goes (tests pass their own). */
export interface AwsOutput {
  line(text: string): void;
  error(text: string): void;
}

const stdio: AwsOutput = {
  line: (text) => console.log(text),
  error: (text) => console.error(text),
};

/** What `up` and `down` talk to and how they ask; tests give their own. */
export interface AwsDeps {
  /** The SDK clients of a deployment. @default {awsClients} */
  readonly clients?: (config: ServiceConfig) => AwsClients;
  /** Whether stdin is a terminal someone can answer on. @default {Deno.stdin.isTerminal()} */
  readonly interactive?: () => boolean;
  /** Asks a question on the terminal; null when there is no answer. @default {prompt} */
  readonly ask?: (question: string) => string | null;
  /** Waiting and interruption. */
  readonly deploy?: Omit<UpOptions, "progress" | "packageDir">;
}

/** Each subcommand's own flags: with a value, and bare. */
const OWN_FLAGS: Record<Subcommand, { valued: string[]; bare: string[] }> = {
  plan: { valued: ["workload", "every", "prices"], bare: ["json"] },
  iam: { valued: [], bare: [] },
  up: { valued: ["package"], bare: ["dry-run"] },
  status: { valued: [], bare: ["json"] },
  down: { valued: [], bare: ["yes"] },
};

/** The cost part of a plan. */
export interface PlanCost {
  readonly prices: { readonly file: string; readonly recorded: string; readonly verified: boolean };
  readonly idle: { readonly lines: readonly CostLine[]; readonly usd: number };
  readonly workload: {
    readonly spec: string;
    readonly every: string;
    readonly runsPerMonth: number;
    readonly perRun: WorkloadUsage;
    readonly low: { readonly lines: readonly CostLine[]; readonly usd: number };
    readonly high: { readonly lines: readonly CostLine[]; readonly usd: number };
  };
  /** Idle plus the workload, low and high. */
  readonly monthlyUsd: { readonly low: number; readonly high: number };
}

/**
 * Prices a deployment: idle, and with a workload repeated through the month.
 * @param config the deployment's settings
 * @param workload what to simulate and how often
 * @param prices the table and where it came from
 */
export function planCost(
  config: ServiceConfig,
  workload: WorkloadPlan,
  prices: { table: PriceTable; file: string },
): PlanCost {
  const shape: DeploymentShape = {
    webInstanceType: config.aws.webInstanceType,
    appInstanceType: config.aws.instanceType,
    instancesMax: config.instancesMax,
    tickMs: config.tickMs,
    keepAliveMs: config.keepAliveMs,
  };
  const idle = idleCost(shape, prices.table);
  const perRun = simulateUsage(workload, shape);
  const runs = runsPerMonth(workload.every);
  const { low, high } = workloadCost(perRun, runs, shape.appInstanceType, prices.table);
  const idleUsd = totalUsd(idle);
  return {
    prices: {
      file: prices.file,
      recorded: prices.table.recorded,
      verified: prices.table.verifiedAgainstLivePages,
    },
    idle: { lines: idle, usd: idleUsd },
    workload: {
      spec: workload.spec,
      every: workload.every,
      runsPerMonth: runs,
      perRun,
      low: { lines: low, usd: totalUsd(low) },
      high: { lines: high, usd: totalUsd(high) },
    },
    monthlyUsd: { low: idleUsd + totalUsd(low), high: idleUsd + totalUsd(high) },
  };
}

/**
 * Runs `deno task aws`.
 * @param args the command line
 * @param out where lines and errors go
 * @returns the exit code: 0, 1 (failed), 2 (bad usage or not built yet)
 */
export async function runAws(
  args: readonly string[],
  out: AwsOutput = stdio,
  deps: AwsDeps = {},
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    out.line(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(AWS_SUBCOMMANDS as readonly string[]).includes(sub)) {
    out.error(
      `aws: unknown subcommand ${JSON.stringify(sub)}; expected ${AWS_SUBCOMMANDS.join(", ")}`,
    );
    return 2;
  }
  const command = sub as Subcommand;
  if (command === "iam") return await runIam(rest, out);
  const own = takeFlags(rest, OWN_FLAGS[command].valued, OWN_FLAGS[command].bare);
  if (typeof own === "string") {
    out.error(`aws ${command}: ${own}`);
    return 2;
  }
  let config;
  try {
    config = parseAwsConfig(own.rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    out.error(`aws ${command}: ${error.message}`);
    return 2;
  }
  if (config === "help") {
    out.line(HELP);
    return 0;
  }
  if (command === "status") return await runStatus(config, own.flags.has("json"), out);
  if (command === "up" && !own.flags.has("dry-run")) {
    return await runUp(config, own.values.package, out, deps);
  }
  if (command === "down") return await runDown(config, own.flags.has("yes"), out, deps);
  const pricesFile = own.values.prices ?? relative(Deno.cwd(), PRICES_DEFAULT.pathname);
  let table: PriceTable;
  try {
    table = parsePriceTable(await Deno.readTextFile(pricesFile));
  } catch (error) {
    out.error(`aws plan: --prices ${pricesFile}: ${(error as Error).message}`);
    return 2;
  }
  const workload = {
    spec: own.values.workload ?? COURSE_HOURLY.spec,
    every: own.values.every ?? COURSE_HOURLY.every,
  };
  const plan = await awsPlan(config);
  let cost;
  try {
    cost = planCost(config, workload, { table, file: pricesFile });
  } catch (error) {
    if (!(error instanceof RangeError || (error as Error).name === "WorkloadError")) throw error;
    out.error(`aws plan: ${(error as Error).message}`);
    return 2;
  }
  if (own.flags.has("json")) out.line(JSON.stringify({ ...plan, cost }, null, 2));
  else out.line(planText(plan, cost, table.region));
  return 0;
}

async function runStatus(config: ServiceConfig, json: boolean, out: AwsOutput): Promise<number> {
  const plan = await awsPlan(config);
  // The web tier's view: S3, SQS and the deployment's app instances; status launches nothing.
  const backend = await openBackend({ ...config, backend: "aws" }, {
    fleet: true,
    launches: false,
  });
  const clients = awsClients(config);
  try {
    const found = await findDeployment(config, clients);
    const statuses = await deploymentStatus(plan, backend, found);
    if (json) {
      out.line(JSON.stringify({ id: plan.id, region: plan.region, resources: statuses }, null, 2));
    } else out.line(statusText(plan, statuses));
    return statuses.some((s) => s.state === "missing") ? 1 : 0;
  } catch (error) {
    out.error(`aws status: ${error instanceof CloudError ? error.message : failure(error)}`);
    return 1;
  } finally {
    closeClients(clients);
    await backend.close();
  }
}

async function runUp(
  config: ServiceConfig,
  packageDir: string | undefined,
  out: AwsOutput,
  deps: AwsDeps,
): Promise<number> {
  const clients = (deps.clients ?? awsClients)(config);
  out.line(`up: deployment ${config.id} in ${config.region}`);
  try {
    const result = await deployUp(config, clients, {
      ...deps.deploy,
      packageDir,
      progress: (r) => out.line(reportLine("up", r)),
    });
    const counts = new Map<string, number>();
    for (const r of result.reports) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
    out.line(
      `up: done (${[...counts].map(([outcome, n]) => `${n} ${outcome}`).join(", ")}). ` +
        `The web tier answers at ${result.url} once its boot script has installed it ` +
        `(a few minutes; \`deno task aws status --id ${config.id}\`)`,
    );
    return 0;
  } catch (error) {
    if (error instanceof BucketTakenError) {
      out.error(`aws up: ${error.message}`);
      return 1;
    }
    out.error(
      `aws up: ${failure(error)}; nothing created so far is lost: run the same command again ` +
        `to go on, or \`deno task aws down --id ${config.id}\``,
    );
    return 1;
  } finally {
    closeClients(clients);
  }
}

async function runDown(
  config: ServiceConfig,
  yes: boolean,
  out: AwsOutput,
  deps: AwsDeps,
): Promise<number> {
  const clients = (deps.clients ?? awsClients)(config);
  try {
    const found = await findDeployment(config, clients);
    if (found.length === 0) {
      out.line(`down: nothing of deployment ${config.id} exists in ${config.region}`);
      return 0;
    }
    out.line(`down: deployment ${config.id} in ${config.region} has ${found.length} resources:`);
    for (const r of found) out.line(`  ${r.kind.padEnd(21)} ${r.name.padEnd(30)} ${r.id}`);
    if (!yes) {
      if (!(deps.interactive ?? (() => Deno.stdin.isTerminal()))()) {
        out.error("aws down: stdin is not a terminal, so nobody can confirm; pass --yes");
        return 2;
      }
      const answer = (deps.ask ?? prompt)(`Type ${config.id} to delete all of them:`);
      if (answer?.trim() !== config.id) {
        out.line("down: nothing deleted");
        return 1;
      }
    }
    const reports = await deployDown(found, clients, {
      ...deps.deploy,
      progress: (r) => out.line(reportLine("down", r)),
    });
    out.line(`down: deployment ${config.id} deleted (${reports.length} resources)`);
    return 0;
  } catch (error) {
    out.error(
      `aws down: ${failure(error)}; run the same command again to go on (what is gone is skipped)`,
    );
    return 1;
  } finally {
    closeClients(clients);
  }
}

/** An SDK or AWS error in one line, with what to do about missing credentials. */
function failure(error: unknown): string {
  const { name, message } = error as Error;
  if (name === "CredentialsProviderError") {
    return `no AWS credentials found (${message}): set AWS_PROFILE or AWS_ACCESS_KEY_ID and ` +
      "AWS_SECRET_ACCESS_KEY, or run `aws configure`";
  }
  return `${name}: ${message.split("\n")[0]}`;
}

async function runIam(args: readonly string[], out: AwsOutput): Promise<number> {
  const write = args.includes("--write");
  const unknown = args.filter((a) => a !== "--write");
  if (unknown.length > 0) {
    out.error(`aws iam: unknown argument ${unknown[0]}; see --help`);
    return 2;
  }
  const templates = iamTemplates();
  for (const name of IAM_DOCUMENT_NAMES) {
    const text = `${JSON.stringify(templates[name], null, 2)}\n`;
    if (write) {
      await Deno.mkdir(IAM_DIR, { recursive: true });
      await Deno.writeTextFile(new URL(`${name}.json`, IAM_DIR), text);
      out.line(`wrote deploy/iam/${name}.json`);
    } else out.line(`--- deploy/iam/${name}.json\n${text}`);
  }
  return 0;
}

/** `--name VALUE` and bare `--flag` options of a subcommand, taken out of the settings' flags. */
function takeFlags(
  args: readonly string[],
  valued: readonly string[],
  bare: readonly string[],
): { values: Record<string, string>; flags: Set<string>; rest: string[] } | string {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].replace(/^--/, "");
    if (args[i].startsWith("--") && valued.includes(name)) {
      const value = args[++i];
      if (value === undefined || value.startsWith("--")) return `--${name} needs a value`;
      values[name] = value;
    } else if (args[i].startsWith("--") && bare.includes(name)) flags.add(name);
    else rest.push(args[i]);
  }
  return { values, flags, rest };
}

const usd = (n: number) => `$${n.toFixed(2)}`;

function costLines(lines: readonly CostLine[]): string[] {
  return lines.map((l) =>
    `    ${l.item.padEnd(72)} ${l.quantity.toFixed(3).padStart(10)} ${l.unit.padEnd(16)} × ${
      `$${l.unitPriceUsd}`.padEnd(8)
    } = ${usd(l.usd).padStart(8)}`
  );
}

/**
 * The plan as text for a person.
 * @param plan the resources and documents
 * @param cost the monthly cost
 * @param pricesRegion the region the price table is for
 */
export function planText(plan: AwsPlan, cost: PlanCost, pricesRegion: string): string {
  const out: string[] = [
    `Deployment ${plan.id} in ${plan.region}. This is a plan: nothing was called; \`deno task aws up\` creates:`,
    `Every resource carries the tag ${
      Object.entries(plan.tags).map(([k, v]) => `${k}=${v}`).join(", ")
    }.`,
  ];
  let kind = "";
  for (const r of plan.resources) {
    if (r.kind !== kind) {
      kind = r.kind;
      out.push("", `${kind}:`);
    }
    out.push(`  ${r.name.padEnd(34)} ${r.purpose}`);
    const settings = Object.entries(r.settings).map(([k, v]) => `${k}=${v}`);
    if (settings.length > 0) out.push(`      ${settings.join("; ")}`);
  }
  out.push("", "Notes:", ...plan.notes.map((n) => `  - ${n}`));
  out.push(
    "",
    "IAM documents (deploy/iam/*.json filled for this deployment; up fills ${Account}):",
  );
  for (const [name, doc] of Object.entries(plan.iam)) {
    out.push(`--- ${name}`, JSON.stringify(doc, null, 2));
  }
  const w = cost.workload;
  out.push(
    "",
    `Monthly cost, on-demand (prices: ${cost.prices.file}, recorded ${cost.prices.recorded}${
      cost.prices.verified ? "" : ", not re-read from the live pages"
    }; no free tier, no taxes):`,
    ...(pricesRegion === plan.region
      ? []
      : [`  (the price table is for ${pricesRegion}; ${plan.region} prices differ)`]),
    `  idle: ${usd(cost.idle.usd)} a month`,
    ...costLines(cost.idle.lines),
    `  workload ${w.spec} every ${w.every} (${
      w.runsPerMonth.toFixed(0)
    } runs a month), simulated ` +
      `(EC2 profile, the controller's policy): per run ${w.perRun.requests} requests, ` +
      `${w.perRun.instanceSeconds.toFixed(1)} instance-s, ${w.perRun.starts} starts, ` +
      `${(w.perRun.spanMs / 1000).toFixed(1)} s until no instance runs`,
    `    adds ${usd(w.low.usd)}–${usd(w.high.usd)} a month (each start is billed at least 60 s):`,
    ...costLines(w.high.lines),
    `  total: ${usd(cost.monthlyUsd.low)}–${usd(cost.monthlyUsd.high)} a month`,
  );
  return out.join("\n");
}

if (import.meta.main) Deno.exit(await runAws(Deno.args));
