/**
 * The fleet port (EC2 semantics): app-tier instances that are created stopped, started and
 * stopped on demand by the controller, and described with filters.
 * @module
 */
import { InvalidNameError, LimitExceededError } from "./errors.ts";

/** EC2's instance lifecycle states that we use. */
export type InstanceState = "pending" | "running" | "stopping" | "stopped" | "terminated";

/** Every state, in lifecycle order; for validating filters. */
export const INSTANCE_STATES: readonly InstanceState[] = [
  "pending",
  "running",
  "stopping",
  "stopped",
  "terminated",
];

/** One instance as the fleet sees it now. */
export interface Instance {
  /** Opaque id, `i-` followed by hex digits (as EC2). */
  readonly id: string;
  /** `app-tier-instance-<n>`. */
  readonly name: string;
  readonly state: InstanceState;
  /** When the instance entered `state`, in ms since the epoch; null when the backend can't say. */
  readonly stateChangedAtMs: number | null;
}

/** Filters for {@linkcode Fleet.describe}; each given filter must match (AND). */
export interface DescribeFilter {
  ids?: readonly string[];
  names?: readonly string[];
  states?: readonly InstanceState[];
}

/**
 * The fleet port.
 *
 * Semantics every adapter keeps (checked by `cloud/contract/fleet_contract.ts`): created
 * instances are `stopped` and named `app-tier-instance-<n>` with n continuing after the highest
 * existing one; start of a running or pending instance and stop of a stopped or stopping one
 * change nothing (idempotent); describe lists instances in name order (by n).
 */
export interface Fleet {
  /**
   * Creates `count` instances in the `stopped` state.
   * @throws {LimitExceededError} when the fleet would pass its `instancesMax`
   */
  create(count: number): Promise<Instance[]>;
  /** Starts instances (stopped → pending/running); idempotent. @throws {NotFoundError} */
  start(ids: readonly string[]): Promise<void>;
  /** Stops instances (running → stopping/stopped); idempotent. @throws {NotFoundError} */
  stop(ids: readonly string[]): Promise<void>;
  /** Terminates instances for good; idempotent. @throws {NotFoundError} */
  terminate(ids: readonly string[]): Promise<void>;
  describe(filter?: DescribeFilter): Promise<Instance[]>;
  /** Releases clients and timers. Running instances keep running (as on EC2). */
  close(): Promise<void>;
}

/** The prefix of every app-tier instance name (DESIGN.md). */
export const INSTANCE_NAME_PREFIX = "app-tier-instance-";
/** Most instances one create call makes. */
export const CREATE_COUNT_MAX = 20;
/** Default cap on non-terminated instances in a fleet (the service itself runs at most 15). */
export const INSTANCES_MAX_DEFAULT = 32;

/** The name of instance number `n` (1-based). */
export function instanceName(n: number): string {
  return `${INSTANCE_NAME_PREFIX}${n}`;
}

/** The number in an instance name, or undefined when the name is not ours. */
export function instanceNumber(name: string): number | undefined {
  if (!name.startsWith(INSTANCE_NAME_PREFIX)) return undefined;
  const digits = name.slice(INSTANCE_NAME_PREFIX.length);
  return /^[1-9][0-9]{0,8}$/.test(digits) ? Number(digits) : undefined;
}

/** Sorts instances by their number, then id, as `describe` promises. */
export function byInstanceNumber(a: Instance, b: Instance): number {
  const na = instanceNumber(a.name) ?? Number.MAX_SAFE_INTEGER;
  const nb = instanceNumber(b.name) ?? Number.MAX_SAFE_INTEGER;
  return na - nb || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Checks a create count against the per-call limit and the fleet cap.
 * @throws {RangeError} when `count` is not an integer in 1..CREATE_COUNT_MAX
 * @throws {LimitExceededError} (`instancesMax`) when the fleet would grow past its cap
 */
export function checkCreateCount(count: number, existing: number, instancesMax: number): void {
  if (!Number.isInteger(count) || count < 1 || count > CREATE_COUNT_MAX) {
    throw new RangeError(`create count must be an integer in 1..${CREATE_COUNT_MAX}, got ${count}`);
  }
  if (existing + count > instancesMax) {
    throw new LimitExceededError(
      "instancesMax",
      instancesMax,
      existing + count,
      "non-terminated instances after create",
    );
  }
}

/**
 * Checks a list of instance ids.
 * @throws {InvalidNameError} for an id that is not `i-` + hex
 */
export function validateInstanceIds(ids: readonly string[]): void {
  for (const id of ids) {
    if (typeof id !== "string" || !/^i-[0-9a-f]{8,17}$/.test(id)) {
      throw new InvalidNameError("instance id", String(id), "ids look like i-0123456789abcdef0");
    }
  }
}

/** True when an instance matches every given filter. */
export function matchesFilter(instance: Instance, filter: DescribeFilter = {}): boolean {
  if (filter.ids && !filter.ids.includes(instance.id)) return false;
  if (filter.names && !filter.names.includes(instance.name)) return false;
  if (filter.states && !filter.states.includes(instance.state)) return false;
  return true;
}
