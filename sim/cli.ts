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

/** A command line the user wrote wrong. */
export class UsageError extends Error {
  override name = "UsageError";
}

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
  const settings: Record<string, number | boolean> = {};
  let workload: string = CLI_DEFAULTS.workload;
  let profile: ProfileName = "aws";
  let policy: PolicyName | "all" = "controller";
  let json = false;
  let svgPath: string | null = CLI_DEFAULTS.svgPath;
  let sweep: string | null = null;
  let sweepSvgPath: string = CLI_DEFAULTS.sweepSvgPath;
  let decisionsPath: string | null = null;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      throw new UsageError(`unexpected argument "${arg}"; flags start with --`);
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[++i];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      return next;
    };
    switch (name) {
      case "help":
      case "h":
        help = true;
        break;
      case "json":
        json = true;
        break;
      case "no-svg":
        svgPath = null;
        break;
      case "workload":
        workload = value();
        break;
      case "profile": {
        const p = value();
        if (!PROFILES.includes(p as ProfileName)) {
          throw new UsageError(`--profile must be one of ${PROFILES.join(", ")}, got "${p}"`);
        }
        profile = p as ProfileName;
        break;
      }
      case "policy": {
        const p = value();
        if (p !== "all" && !POLICY_NAMES.includes(p as PolicyName)) {
          throw new UsageError(
            `--policy must be one of ${POLICY_NAMES.join(", ")} or all, got "${p}"`,
          );
        }
        policy = p as PolicyName | "all";
        break;
      }
      case "svg":
        svgPath = value();
        break;
      case "sweep":
        sweep = value();
        break;
      case "sweep-svg":
        sweepSvgPath = value();
        break;
      case "decisions":
        decisionsPath = value();
        break;
      default: {
        const key = byFlag.get(name);
        if (key === undefined) throw new UsageError(`unknown flag --${name}; see --help`);
        if (BOOLEAN_KEYS.has(key)) {
          const v = inline ??
            (args[i + 1] === "true" || args[i + 1] === "false" ? args[++i] : "true");
          if (v !== "true" && v !== "false") {
            throw new UsageError(`--${name} takes true or false, got "${v}"`);
          }
          settings[key] = v === "true";
        } else {
          const text = value();
          const v = Number(text);
          if (text.trim() === "" || !Number.isFinite(v)) {
            throw new UsageError(`--${name} takes a number, got "${text}"`);
          }
          settings[key] = v;
        }
      }
    }
  }
  if (sweep !== null && policy === "all") {
    throw new UsageError("--sweep and --policy all cannot be combined; sweep one policy at a time");
  }
  return {
    workload,
    profile,
    policy,
    json,
    svgPath,
    sweep,
    sweepSvgPath,
    decisionsPath,
    settings: settings as SimOptions,
    help,
  };
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

Settings (see docs/simulator.md for units, defaults and their sources):
  ${settings.replace(/(.{1,92})(\s|$)/g, "$1\n  ").trimEnd()}
`;
}
