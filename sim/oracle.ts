/**
 * The oracle: a lower bound on what any policy could achieve in the same simulated world (the same
 * requests with the same service, upload and response times, the same instances with the same
 * first boot times), knowing the future, with no tick and no count lag — but starting instances no
 * earlier than the first arrival (with nothing pending the fleet is at zero), except the
 * `instancesMin` that every policy may keep warm from time 0.
 *
 * makespan ≥ the largest of
 * - fluid: the earliest T with Σ_k max(0, T − a_k) ≥ Σ service, over the `instancesMax` instance
 *   slots with availability a_k = (first arrival or 0) + first boot of slot k, then + the fastest
 *   response;
 * - packing: some instance serves at least ceil(N / instancesMax) requests, so T ≥ min a_k + the
 *   sum of the ceil(N / instancesMax) shortest services (+ fastest response); for a burst of equal
 *   services this is the boot + ceil(N / max) × service;
 * - per request: max over requests of max(release, min a_k) + service + response.
 *
 * instance-seconds ≥ Σ service (every request served once, nothing idle).
 *
 * Boot times are redrawn here from the same keys the run used; request durations come from the
 * run (they are drawn once per request, keyed by request id, so any policy sees the same ones).
 * @module
 */
import { durationAt } from "./distributions.ts";
import { distributionsOf, type SimResult } from "./simulation.ts";

/** The bound, in the report's units. */
export interface OracleBound {
  readonly makespanMs: number;
  readonly instanceSeconds: number;
}

/** What the oracle needs from a run; a {@linkcode SimResult} has it all. */
export type OracleInput = Pick<SimResult, "config" | "seeds" | "arrivalsMs" | "draws">;

/**
 * Computes the oracle lower bound for a run.
 *
 * @param run The run's config, sub-seeds, arrival times (ascending, by request id) and the
 *   durations it drew per request.
 * @returns The bound on makespan and instance-seconds.
 * @example
 * ```ts
 * const result = simulate(config, workload);
 * const { makespanMs } = oracleBound(result);
 * ```
 */
export function oracleBound(run: OracleInput): OracleBound {
  const { config, seeds, arrivalsMs, draws } = run;
  const d = distributionsOf(config);
  const n = arrivalsMs.length;
  if (n === 0) return { makespanMs: 0, instanceSeconds: 0 };
  const t0 = arrivalsMs[0];
  const services = new Float64Array(n);
  let work = 0;
  let uploadMin = Infinity;
  let responseMin = Infinity;
  // Release (arrival + upload) + service + response per request, before the boot floor.
  const releases = new Float64Array(n);
  const tails = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = draws.serviceMs[i];
    const upload = draws.uploadMs[i];
    const response = draws.responseMs[i];
    services[i] = s;
    work += s;
    releases[i] = arrivalsMs[i] + upload;
    tails[i] = s + response;
    if (upload < uploadMin) uploadMin = upload;
    if (response < responseMin) responseMin = response;
  }
  const m = config.instancesMax;
  const avail = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const boot = k < config.instancesPool
      ? durationAt(d.start, seeds.start, k, 0)
      : durationAt(d.launch, seeds.launch, k, 0);
    avail[k] = Math.max((k < config.instancesMin ? 0 : t0) + boot, t0 + uploadMin);
  }
  avail.sort();
  const aMin = avail[0];

  // Fluid: add instances in order of availability until the work fits before the next one.
  let fluid = Infinity;
  let sumA = 0;
  for (let j = 0; j < m; j++) {
    sumA += avail[j];
    const T = (work + sumA) / (j + 1);
    if (j === m - 1 || T <= avail[j + 1]) {
      fluid = T;
      break;
    }
  }

  let perRequest = 0;
  for (let i = 0; i < n; i++) {
    const end = Math.max(aMin, releases[i]) + tails[i];
    if (end > perRequest) perRequest = end;
  }

  const perInstance = Math.ceil(n / m);
  const shortest = sumOfSmallest(services, perInstance);
  const packing = aMin + shortest;

  const makespanMs = Math.max(fluid + responseMin, packing + responseMin, perRequest) - t0;
  return { makespanMs, instanceSeconds: work / 1000 };
}

/**
 * The sum of the k smallest values, by quickselect (linear time; reorders `values`).
 *
 * @param values The values (reordered in place).
 * @param k How many, 1 <= k <= values.length.
 * @returns Their sum.
 */
export function sumOfSmallest(values: Float64Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  const target = k - 1;
  while (lo < hi) {
    // Median of three as the pivot keeps sorted and constant inputs linear.
    const mid = (lo + hi) >> 1;
    const a = values[lo];
    const b = values[mid];
    const c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  let sum = 0;
  for (let i = 0; i < k; i++) sum += values[i];
  return sum;
}
