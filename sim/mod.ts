/**
 * The scaling simulator: replays workloads in virtual time against the controller's real policy
 * (imported from `controller/`) and alternatives, and reports latency, cost and the oracle bound.
 * The command line is `deno task sim` (main.ts).
 *
 * @example
 * ```ts
 * import { buildReport, parseWorkload, resolveSimConfig, simulate } from "./mod.ts";
 * const report = buildReport(
 *   simulate(resolveSimConfig({ seed: 7 }), parseWorkload("burst:100", Deno.readTextFileSync)),
 * );
 * console.log(report.makespanMs, report.oracle.makespanMs);
 * ```
 * @module
 */
export {
  BOOLEAN_KEYS,
  flagName,
  INTEGER_KEYS,
  PROFILE_DEFAULTS,
  type ProfileName,
  PROFILES,
  resolveSimConfig,
  SIM_KEYS,
  type SimConfig,
  type SimOptions,
} from "./config.ts";
export {
  durationAt,
  type DurationDistribution,
  lognormalFromMedianP95,
  normalQuantile,
} from "./distributions.ts";
export { Engine, type EngineLimits, type Outcome, SimInvariantError } from "./engine.ts";
export { EventQueue, EventQueueFullError } from "./event_queue.ts";
export {
  CONTROLLER_EVENT_KINDS,
  decodeControllerLine,
  decodeStackLine,
  decodeWorkerLine,
  LogLineError,
  WORKER_EVENT_KINDS,
} from "./log_lines.ts";
export { type OracleBound, oracleBound, type OracleInput } from "./oracle.ts";
export {
  createPolicy,
  decideKeda,
  decideTargetTracking,
  initialKedaState,
  initialTargetTrackingState,
  type KedaConfig,
  type KedaState,
  POLICY_NAMES,
  type PolicyName,
  type PolicyRunner,
  type TargetTrackingConfig,
  type TargetTrackingState,
} from "./policies.ts";
export { buildReport, type LatencyMs, type Report, reportJson, reportText } from "./report.ts";
export { deriveSeed, Prng, uniformAt } from "./rng.ts";
export {
  distributionsOf,
  type Seeds,
  seedsOf,
  type SimCounts,
  type SimResult,
  simulate,
  type SimulateOptions,
} from "./simulation.ts";
export { parseSweep, policyTable, type SweepSpec, sweepTable } from "./sweep.ts";
export { sweepSvg, timelineSvg } from "./svg.ts";
export { Timeline } from "./timeline.ts";
export {
  arrivalSources,
  expectedRequests,
  parseDurationMs,
  parseTraceCsv,
  parseWorkload,
  type Workload,
  WorkloadError,
  type WorkloadTerm,
} from "./workloads.ts";
