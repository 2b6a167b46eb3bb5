/**
 * The report of a run: what a person deciding on a scaling policy reads. As a plain object (the
 * `--json` output, stable key order, deterministic for a seed) and as text.
 * @module
 */
import { quantileSorted } from "../internal/mod.ts";
import { SIM_KEYS, type SimConfig } from "./config.ts";
import { PENDING, RUNNING } from "./fleet.ts";
import { type OracleBound, oracleBound } from "./oracle.ts";
import type { SimResult } from "./simulation.ts";

/** Latency percentiles (nearest rank). */
export interface LatencyMs {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The report. Field order is the JSON's order. */
export interface Report {
  readonly seed: number;
  readonly seeds: Record<string, number>;
  readonly workload: string;
  readonly policy: string;
  readonly outcome: string;
  readonly outcomeReason: string | null;
  readonly requests: number;
  readonly completed: number;
  /** First arrival → last answer. */
  readonly makespanMs: number;
  readonly latencyMs: LatencyMs;
  readonly sloMs: number;
  /** Share of completed requests slower than sloMs, in percent. */
  readonly sloViolationPct: number;
  /** Pending + running time of all instances (what EC2-like billing and the CPU pay for). */
  readonly instanceSeconds: number;
  readonly instanceSecondsBusy: number;
  readonly instanceSecondsIdle: number;
  /** Peak of pending + running instances. */
  readonly instancesMax: number;
  readonly runningMax: number;
  /** Boots: starts from stopped + launches. */
  readonly coldStarts: number;
  readonly starts: number;
  readonly launches: number;
  /** Starts + launches + stops (by the policy and by workers). */
  readonly scaleEvents: number;
  readonly stops: number;
  readonly selfStops: number;
  /** Last answer → no instance pending or running (0 if the fleet was already down); null if never. */
  readonly timeToZeroMs: number | null;
  readonly oracle: OracleBound;
  /** The policy's figure over the oracle's (>= 1). */
  readonly ratio: { readonly makespan: number; readonly instanceSeconds: number };
  readonly faults: {
    readonly crashes: number;
    readonly redeliveries: number;
    readonly deadLettered: number;
    /** Requests whose message was dead-lettered before any answer: their clients get an error. */
    readonly deadLetteredUnanswered: number;
    readonly duplicateServices: number;
    readonly busyStops: number;
    readonly slotsOverMax: number;
    readonly actionsIgnored: number;
    /** Boots whose worker could not become ready (`notReadyUntilMs`). */
    readonly notReadyExits: number;
  };
  readonly events: number;
  readonly simulatedMs: number;
  readonly config: SimConfig;
}

/** Rounds to a microsecond for ms values (keeps JSON short, stays deterministic). */
function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Builds the report of a run, including the oracle bound.
 *
 * @param result From simulate().
 * @returns The report.
 */
export function buildReport(result: SimResult): Report {
  const c = result.config;
  const lat = result.latenciesMs;
  let sum = 0;
  let slow = 0;
  for (let i = 0; i < lat.length; i++) {
    sum += lat[i];
    if (lat[i] > c.sloMs) slow++;
  }
  const oracle = oracleBound(result);
  const counts = result.counts;
  const makespanMs = counts.completed === 0 ? 0 : result.lastCompletionMs - result.firstArrivalMs;
  const instanceMs = result.msInState[PENDING] + result.msInState[RUNNING];
  const timeToZeroMs = result.zeroAtMs === null
    ? null
    : counts.completed === 0
    ? 0
    : Math.max(0, result.zeroAtMs - result.lastCompletionMs);
  const ratio = (a: number, b: number) => (b > 0 ? r3(a / b) : a > 0 ? Infinity : 1);
  // Settings in SIM_KEYS order, whatever order they were given in, so equal runs print equal JSON.
  const config = Object.fromEntries(SIM_KEYS.map((k) => [k, c[k]])) as unknown as SimConfig;
  return {
    seed: c.seed,
    seeds: { ...result.seeds },
    workload: result.workload,
    policy: result.policy,
    outcome: result.outcome.kind,
    outcomeReason: result.outcome.kind === "ok" ? null : result.outcome.reason,
    requests: counts.requests,
    completed: counts.completed,
    makespanMs: r3(makespanMs),
    latencyMs: {
      // Like every figure of a run that completed nothing, its latencies read 0.
      p50: r3(lat.length === 0 ? 0 : quantileSorted(lat, 0.5)),
      p95: r3(lat.length === 0 ? 0 : quantileSorted(lat, 0.95)),
      p99: r3(lat.length === 0 ? 0 : quantileSorted(lat, 0.99)),
      max: r3(lat.length === 0 ? 0 : lat[lat.length - 1]),
      mean: r3(lat.length === 0 ? 0 : sum / lat.length),
    },
    sloMs: c.sloMs,
    sloViolationPct: r3(lat.length === 0 ? 0 : (100 * slow) / lat.length),
    instanceSeconds: r3(instanceMs / 1000),
    instanceSecondsBusy: r3(result.busyMs / 1000),
    instanceSecondsIdle: r3((instanceMs - result.busyMs) / 1000),
    instancesMax: counts.instancesPeak,
    runningMax: counts.runningPeak,
    coldStarts: counts.starts + counts.launches,
    starts: counts.starts,
    launches: counts.launches,
    scaleEvents: counts.starts + counts.launches + counts.stops + counts.selfStops,
    stops: counts.stops,
    selfStops: counts.selfStops,
    timeToZeroMs: timeToZeroMs === null ? null : r3(timeToZeroMs),
    oracle: { makespanMs: r3(oracle.makespanMs), instanceSeconds: r3(oracle.instanceSeconds) },
    ratio: {
      makespan: ratio(makespanMs, oracle.makespanMs),
      instanceSeconds: ratio(instanceMs / 1000, oracle.instanceSeconds),
    },
    faults: {
      crashes: counts.crashes,
      redeliveries: counts.redeliveries,
      deadLettered: counts.deadLettered,
      deadLetteredUnanswered: counts.deadLetteredUnanswered,
      duplicateServices: counts.duplicateServices,
      busyStops: counts.busyStops,
      slotsOverMax: counts.slotsOverMax,
      actionsIgnored: counts.actionsIgnored,
      notReadyExits: counts.notReadyExits,
    },
    events: result.events,
    simulatedMs: r3(result.endMs),
    config,
  };
}

/**
 * The report as JSON: one object, two-space indented, stable key order.
 *
 * @param report From {@linkcode buildReport}.
 * @returns The JSON text (with a trailing newline).
 */
export function reportJson(report: Report): string {
  return JSON.stringify(report, null, 2) + "\n";
}

function ms(x: number): string {
  if (x >= 60_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  return `${x.toFixed(0)} ms`;
}

/**
 * The report as text for people.
 *
 * @param r From {@linkcode buildReport}.
 * @returns Lines of text.
 */
export function reportText(r: Report): string {
  const lines = [
    `workload ${r.workload}   policy ${r.policy}   seed ${r.seed}   outcome ${r.outcome}`,
    ...(r.outcomeReason ? [`  ${r.outcomeReason}`] : []),
    `requests        ${r.completed}/${r.requests} answered`,
    `makespan        ${ms(r.makespanMs)}   (oracle ≥ ${
      ms(r.oracle.makespanMs)
    }, ratio ${r.ratio.makespan})`,
    `latency         p50 ${ms(r.latencyMs.p50)}   p95 ${ms(r.latencyMs.p95)}   p99 ${
      ms(r.latencyMs.p99)
    }   max ${ms(r.latencyMs.max)}   mean ${ms(r.latencyMs.mean)}`,
    `SLO ${ms(r.sloMs).padEnd(11)} ${r.sloViolationPct}% of answers slower`,
    `instance-s      ${r.instanceSeconds} (busy ${r.instanceSecondsBusy}, idle ${r.instanceSecondsIdle})   (oracle ≥ ${r.oracle.instanceSeconds}, ratio ${r.ratio.instanceSeconds})`,
    `instances       peak ${r.instancesMax} (running ${r.runningMax})   cold starts ${r.coldStarts} (${r.starts} starts, ${r.launches} launches)`,
    `scale events    ${r.scaleEvents} (${r.stops} stops by policy, ${r.selfStops} by workers)`,
    `time to zero    ${
      r.timeToZeroMs === null ? "never (fleet still up at the end)" : ms(r.timeToZeroMs)
    } after the last answer`,
  ];
  const f = r.faults;
  if (
    f.crashes + f.redeliveries + f.deadLettered + f.duplicateServices + f.busyStops +
        f.slotsOverMax + f.notReadyExits > 0
  ) {
    lines.push(
      `faults          ${f.crashes} crashes, ${f.redeliveries} redeliveries, ${f.deadLettered} dead-lettered (${f.deadLetteredUnanswered} unanswered), ${f.duplicateServices} duplicate services, ${f.busyStops} busy stops, ${f.slotsOverMax} ticks over max, ${f.notReadyExits} boots not ready`,
    );
  }
  lines.push(`simulated       ${ms(r.simulatedMs)} in ${r.events} events`);
  return lines.join("\n") + "\n";
}
