/**
 * Parameter sweeps: run the same workload and seed for evenly spaced values of one setting, so the
 * runs differ only in that setting (the same requests, the same machines), and tabulate cost
 * against latency.
 * @module
 */
import { BOOLEAN_KEYS, flagName, SIM_KEYS, type SimConfig } from "./config.ts";
import type { Report } from "./report.ts";
import type { SweepPoint } from "./svg.ts";

/** A parsed `--sweep PARAM=a..b[:steps]`. */
export interface SweepSpec {
  readonly key: keyof SimConfig;
  readonly values: readonly number[];
}

/** Most runs in one sweep. */
export const SWEEP_STEPS_MAX = 200;

/** Runs in a sweep when the spec does not say. */
export const SWEEP_STEPS_DEFAULT = 6;

/**
 * Parses `PARAM=a..b[:steps]`: PARAM is a setting's name (`keepAliveMs`) or its flag
 * (`keep-alive-ms`); the values are `steps` evenly spaced from a to b inclusive (whole numbers for
 * integer settings, duplicates dropped).
 *
 * @param text The spec.
 * @param integerKeys Settings that take whole numbers.
 * @returns The setting and its values.
 * @throws {RangeError} saying what form is expected.
 * @example
 * ```ts
 * parseSweep("keepAliveMs=0..20000:5", new Set()); // values 0, 5000, 10000, 15000, 20000
 * ```
 */
export function parseSweep(text: string, integerKeys: ReadonlySet<string>): SweepSpec {
  const m = /^([A-Za-z0-9-]+)=(-?[\d.]+)\.\.(-?[\d.]+)(?::(\d+))?$/.exec(text.trim());
  if (m === null) {
    throw new RangeError(
      `--sweep "${text}": write PARAM=FROM..TO[:STEPS], e.g. keepAliveMs=0..20000:5`,
    );
  }
  const key = SIM_KEYS.find((k) => k === m[1] || flagName(k) === m[1]);
  if (key === undefined || key === "seed" || BOOLEAN_KEYS.has(key)) {
    throw new RangeError(
      `--sweep: "${m[1]}" is not a numeric setting; try one of ${
        SIM_KEYS.filter((k) => !BOOLEAN_KEYS.has(k) && k !== "seed").join(", ")
      }`,
    );
  }
  const from = Number(m[2]);
  const to = Number(m[3]);
  const steps = m[4] === undefined ? SWEEP_STEPS_DEFAULT : Number(m[4]);
  if (!Number.isFinite(from) || !Number.isFinite(to)) {
    throw new RangeError(`--sweep "${text}": FROM and TO must be numbers`);
  }
  if (!Number.isInteger(steps) || steps < 1 || steps > SWEEP_STEPS_MAX) {
    throw new RangeError(
      `--sweep "${text}": STEPS must be a whole number in [1, ${SWEEP_STEPS_MAX}]`,
    );
  }
  const values: number[] = [];
  for (let i = 0; i < steps; i++) {
    const x = steps === 1 ? from : from + ((to - from) * i) / (steps - 1);
    const v = integerKeys.has(key) ? Math.round(x) : Math.round(x * 1000) / 1000;
    if (!values.includes(v)) values.push(v);
  }
  return { key, values };
}

/**
 * The sweep as a text table, one row per value.
 *
 * @param key The swept setting.
 * @param points The runs.
 * @returns The table.
 */
export function sweepTable(key: string, points: readonly SweepPoint[]): string {
  const header = [
    key,
    "makespan s",
    "p50 s",
    "p95 s",
    "p99 s",
    "SLO miss %",
    "instance-s",
    "busy",
    "idle",
    "cold starts",
    "to zero s",
    "vs oracle",
  ];
  const rows = points.map(({ value, report: r }) => [
    String(value),
    s(r.makespanMs),
    s(r.latencyMs.p50),
    s(r.latencyMs.p95),
    s(r.latencyMs.p99),
    r.sloViolationPct.toFixed(1),
    r.instanceSeconds.toFixed(1),
    r.instanceSecondsBusy.toFixed(1),
    r.instanceSecondsIdle.toFixed(1),
    String(r.coldStarts),
    r.timeToZeroMs === null ? "never" : s(r.timeToZeroMs),
    r.ratio.makespan.toFixed(3),
  ]);
  return table([header, ...rows]);
}

/**
 * Several policies on one workload and seed, as a table.
 *
 * @param reports One report per policy.
 * @returns The table.
 */
export function policyTable(reports: readonly Report[]): string {
  return sweepTable(
    "policy",
    reports.map((r) => ({ value: r.policy, report: r })),
  );
}

function s(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
  )
    .join("\n") + "\n";
}
