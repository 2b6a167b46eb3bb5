/**
 * The `deno task sim` command line, parsed without I/O (main.ts does the I/O).
 * @module
 */
import {
  BOOLEAN_KEYS,
  flagName,
  type ProfileName,
  PROFILES,
  SIM_KEYS,
  type SimConfig,
  type SimOptions,
} from "./config.ts";
import { POLICY_NAMES, type PolicyName } from "./policies.ts";
import { type FlagSpec, parseCommandLine, UsageError } from "../internal/cli.ts";

/** What the command was asked to do. */
export interface CliOptions {
  readonly workload: string;
  readonly profile: ProfileName;
  /** One policy, or "all" to compare them. */
  readonly policy: PolicyName | "all";
  readonly json: boolean;
  /** Where to write the timeline SVG; null for none. */
  readonly svgPath: string | null;
  readonly sweep: string | null;
  readonly sweepSvgPath: string;
  /** Where to write the policy's decisions, one JSON line each; null for none. */
  readonly decisionsPath: string | null;
  readonly settings: SimOptions;
  readonly help: boolean;
}

/** A command line the user wrote wrong (one line, exit code 2). */
export { UsageError };

/** Defaults of the command's own flags. */
export const CLI_DEFAULTS = Object.freeze({
  workload: "burst:100",
  svgPath: "out/sim.svg",
  sweepSvgPath: "out/sim-sweep.svg",
});

/**
 * Parses the command line.
 *
 * @param args The arguments after the script name.
 * @returns The options.
 * @throws {UsageError} naming the flag and what it takes.
 * @example
 * ```ts
 * parseCli(["--workload", "burst:100", "--seed", "7", "--json"]);
 * ```
 */
export function parseCli(args: readonly string[]): CliOptions {
  const byFlag = new Map<string, keyof SimConfig>(SIM_KEYS.map((k) => [flagName(k), k]));
  const options: Record<string, FlagSpec> = { ...OWN_FLAGS };
  for (const flag of byFlag.keys()) options[flag] = { type: "string" };
  const line = parseCommandLine(withBooleanValues(args, byFlag), options);
  if (line === "help") return { ...defaults(), help: true };
  const values = line.values as Record<string, string | boolean | undefined>;
  const text = (flag: string) => values[flag] as string | undefined;
  const profile = text("profile") ?? "aws";
  if (!PROFILES.includes(profile as ProfileName)) {
    throw new UsageError(`--profile must be one of ${PROFILES.join(", ")}, got "${profile}"`);
  }
  const policy = text("policy") ?? "controller";
  if (policy !== "all" && !POLICY_NAMES.includes(policy as PolicyName)) {
    throw new UsageError(
      `--policy must be one of ${POLICY_NAMES.join(", ")} or all, got "${policy}"`,
    );
  }
  const settings: Record<string, number | boolean> = {};
  for (const [flag, key] of byFlag) {
    const given = text(flag);
    if (given === undefined) continue;
    if (BOOLEAN_KEYS.has(key)) {
      if (given !== "true" && given !== "false") {
        throw new UsageError(`--${flag} takes true or false, got "${given}"`);
      }
      settings[key] = given === "true";
    } else {
      const v = Number(given);
      if (given.trim() === "" || !Number.isFinite(v)) {
        throw new UsageError(`--${flag} takes a number, got "${given}"`);
      }
      settings[key] = v;
    }
  }
  const sweep = text("sweep") ?? null;
  if (sweep !== null && policy === "all") {
    throw new UsageError("--sweep and --policy all cannot be combined; sweep one policy at a time");
  }
  return {
    workload: text("workload") ?? CLI_DEFAULTS.workload,
    profile: profile as ProfileName,
    policy: policy as PolicyName | "all",
    json: values.json === true,
    svgPath: values["no-svg"] === true ? null : text("svg") ?? CLI_DEFAULTS.svgPath,
    sweep,
    sweepSvgPath: text("sweep-svg") ?? CLI_DEFAULTS.sweepSvgPath,
    decisionsPath: text("decisions") ?? null,
    settings: settings as SimOptions,
    help: false,
  };
}

/** The command's own flags; every setting of the simulator is a flag too (`--tick-ms`). */
const OWN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  workload: { type: "string" },
  profile: { type: "string" },
  policy: { type: "string" },
  json: { type: "boolean" },
  svg: { type: "string" },
  "no-svg": { type: "boolean" },
  sweep: { type: "string" },
  "sweep-svg": { type: "string" },
  decisions: { type: "string" },
};

/** The options of a command line that asked for help. */
function defaults(): Omit<CliOptions, "help"> {
  return {
    workload: CLI_DEFAULTS.workload,
    profile: "aws",
    policy: "controller",
    json: false,
    svgPath: CLI_DEFAULTS.svgPath,
    sweep: null,
    sweepSvgPath: CLI_DEFAULTS.sweepSvgPath,
    decisionsPath: null,
    settings: {},
  };
}

/**
 * A boolean setting may be given alone (`--worker-self-stop`, true) or with its value
 * (`--worker-self-stop false`, `--worker-self-stop=false`): the first form gets its `true` here,
 * so the parser sees a value every time.
 */
function withBooleanValues(
  args: readonly string[],
  byFlag: ReadonlyMap<string, keyof SimConfig>,
): string[] {
  const out: string[] = [];
  for (const [i, arg] of args.entries()) {
    out.push(arg);
    const key = arg.startsWith("--") ? byFlag.get(arg.slice(2)) : undefined;
    const next = args[i + 1];
    if (key !== undefined && BOOLEAN_KEYS.has(key) && next !== "true" && next !== "false") {
      out.push("true");
    }
  }
  return out;
}

/** What a replay changes in a run of the command line (a sweep's point, one of `--policy all`). */
export interface ReplayOverrides {
  readonly policy?: PolicyName;
  readonly settings?: SimOptions;
}

/**
 * The command that replays one run exactly: its workload, profile, policy, seed and every
 * setting the command line gave, with `overrides` over them. Output flags (`--json`, `--svg`,
 * `--decisions`) are left out: they change what is written, not the run.
 *
 * @param cli The parsed command line.
 * @param seed The run's seed (the resolved one, so a default seed is spelled out).
 * @param overrides The run's own policy or settings, for one run of several.
 * @returns A shell command line, arguments quoted where the shell needs it.
 * @example
 * ```ts
 * replayCommand(parseCli(["--workload", "burst:100"]), 1); // "deno task sim --workload burst:100 --profile aws --policy controller --seed 1"
 * ```
 */
export function replayCommand(
  cli: CliOptions,
  seed: number,
  overrides: ReplayOverrides = {},
): string {
  const policy = overrides.policy ?? (cli.policy === "all" ? "controller" : cli.policy);
  const settings: SimOptions = { ...cli.settings, ...overrides.settings, seed };
  const args = ["--workload", cli.workload, "--profile", cli.profile, "--policy", policy];
  for (const key of SIM_KEYS) {
    const value = settings[key];
    if (value === undefined) continue;
    args.push(BOOLEAN_KEYS.has(key) ? `--${flagName(key)}=${value}` : `--${flagName(key)}`);
    if (!BOOLEAN_KEYS.has(key)) args.push(String(value));
  }
  return ["deno", "task", "sim", ...args.map(shellQuote)].join(" ");
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The --help text. */
export function usage(): string {
  const settings = SIM_KEYS.map((k) => `--${flagName(k)}`).join(" ");
  return `Usage: deno task sim [--workload W] [--seed S] [--policy P] [--profile aws|local] [--json]
                     [--svg FILE | --no-svg] [--sweep PARAM=FROM..TO[:STEPS]] [--decisions FILE]
                     [--SETTING VALUE ...]

Replays a workload in virtual time against the controller's scaling policy and reports latency,
makespan, cost (instance-seconds), cold starts, time to zero and the oracle lower bound.

  --workload W   burst:N | poisson:RATE:DURATION | ramp:FROM:TO:DURATION |
                 diurnal:MEAN:DURATION[:PERIOD] | trace:FILE, summed with +, shifted with @START
                 (default ${CLI_DEFAULTS.workload}; durations like 500ms, 30s, 10m, 24h)
  --policy P     ${POLICY_NAMES.join(" | ")} | all (compare every policy)
  --profile      aws (default: EC2 + SQS, max 15) or local (the embedded stack)
  --json         print the report as JSON (deterministic for a seed)
  --svg FILE     timeline picture (default ${CLI_DEFAULTS.svgPath}); --no-svg for none
  --sweep        e.g. keepAliveMs=0..20000:5: table + cost/p99 SVG (--sweep-svg FILE,
                 default ${CLI_DEFAULTS.sweepSvgPath})
  --decisions F  write the policy's decisions, one JSON line each
  -h, --help     this help

Settings (see docs/simulator.md for units, defaults and their sources):
  ${settings.replace(/(.{1,92})(\s|$)/g, "$1\n  ").trimEnd()}
`;
}
