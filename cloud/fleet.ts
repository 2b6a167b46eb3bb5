/**
 * The fleet port (EC2 semantics): app-tier instances that are created stopped, started and
 * stopped on demand by the controller, and described with filters.
 * @module
 */
import { checkInteger } from "../internal/mod.ts";
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

/** How an instance's last run ended. */
export interface InstanceExit {
  /** When it ended (same clock as `stateChangedAtMs`). */
  readonly atMs: number;
  /**
   * `stopped`: asked to stop (by the controller, or by itself when idle); `exited`: the worker
   * ended on its own with success; `crashed`: a failure exit or a signal nobody sent;
   * `not_ready`: the worker could not become ready (model, gallery, storage) and said why.
   */
  readonly kind: "stopped" | "exited" | "crashed" | "not_ready";
  /** One line for a person (never a server path), when the worker or the fleet gave one. */
  readonly reason?: string;
}

/** Most characters of an exit reason kept; a longer one is cut. */
export const EXIT_REASON_CHARS_MAX = 300;

/**
 * The exit code by which a local worker says it could not become ready (sysexits' EX_CONFIG);
 * the local fleet records it as a `not_ready` exit.
 */
export const EXIT_CODE_NOT_READY = 78;

/** One instance as the fleet sees it now. */
export interface Instance {
  /** Opaque id, `i-` followed by hex digits (as EC2). */
  readonly id: string;
  /** `app-tier-instance-<n>`. */
  readonly name: string;
  readonly state: InstanceState;
  /** When the instance entered `state`, in ms since the epoch; null when the backend can't say. */
  readonly stateChangedAtMs: number | null;
  /** When it last left `stopped` (its last start); null or absent when the backend can't say. */
  readonly lastStartedAtMs?: number | null;
  /**
   * When its worker said it was ready (models loaded), in its current or last run; null or
   * absent when it has not since its last start, or the backend can't say.
   */
  readonly readyAtMs?: number | null;
  /** How its last run ended; null or absent while it runs or when the backend can't say. */
  readonly lastExit?: InstanceExit | null;
}

/**
 * What a worker tells the fleet about itself: that it is ready, or that it cannot become ready
 * and why. Implemented by each adapter for the process on the instance (locally a row in the
 * fleet's database, on EC2 a tag on its own instance).
 */
export interface InstanceReporter {
  /** The worker has loaded what it needs and takes requests. */
  ready(): Promise<void>;
  /** The worker cannot become ready; `reason` is one line for an operator (no server paths). */
  notReady(reason: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Makes one line of an error message fit for an operator's eyes on a status page: absolute
 * paths shortened to their last two parts (so they name the file without showing the server's
 * layout), whitespace folded, cut to {@linkcode EXIT_REASON_CHARS_MAX}.
 *
 * @param message the raw message
 * @returns the one-line reason
 * @example
 * ```ts
 * exitReason("NotFound: no file /srv/app/.cache/models/manifest.json"); // "NotFound: no file …/models/manifest.json"
 * ```
 */
export function exitReason(message: string): string {
  const line = message
    .replace(/file:\/\/\S*/g, (url) => shortenPath(url.slice("file://".length)))
    .replace(/(?<![\w.:/…])\/[^\s"'`,;()]+/g, shortenPath)
    .replace(/\s+/g, " ")
    .trim();
  return line.length > EXIT_REASON_CHARS_MAX
    ? `${line.slice(0, EXIT_REASON_CHARS_MAX - 1)}…`
    : line;
}

function shortenPath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "");
  return parts.length <= 1 ? `…/${parts.join("")}` : `…/${parts.slice(-2).join("/")}`;
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
  /**
   * Records what the worker on an instance says about itself, where the backend keeps it on the
   * instance (EC2: a tag), so `describe` reports `readyAtMs` and a `not_ready` `lastExit`.
   * Absent where the worker reports another way (the local fleet: {@linkcode InstanceReporter}
   * rows). @throws {NotFoundError}
   */
  markWorker?(id: string, status: WorkerStatus): Promise<void>;
  /**
   * Resolves once everything this handle set in motion has come to rest: every instance it
   * started has stopped again (asked to, or on its own) and every stop or terminate it was asked
   * for has taken effect, with what the handle learned on the way recorded (a local worker's
   * exit), so `close()` loses nothing. It stops nothing itself: call it after stopping what was
   * started (an orderly shutdown), or to wait for runs that end by themselves. Instances this
   * handle neither started nor stopped are not waited for; a start or stop whose call failed
   * left nothing in motion.
   * @throws {ServiceError} (`Timeout`) when the instances do not come to rest within the
   *   adapter's limit, or the backend cannot be asked
   */
  settled(): Promise<void>;
  /** Releases clients and timers. Running instances keep running (as on EC2). */
  close(): Promise<void>;
}

/** What a worker says about itself: ready, or unable to become ready and why. */
export type WorkerStatus =
  | { readonly ready: true; readonly atMs: number }
  | { readonly ready: false; readonly atMs: number; readonly reason: string };

/** The prefix of every app-tier instance name (DESIGN.md). */
export const INSTANCE_NAME_PREFIX = "app-tier-instance-";
/** Highest instance number a name carries (nine digits). */
export const INSTANCE_NUMBER_MAX = 999_999_999;
/** Most instances one create call makes. */
export const CREATE_COUNT_MAX = 20;
/** Default cap on non-terminated instances in a fleet; the service's `--max` stays within it. */
export const INSTANCES_MAX_DEFAULT = 32;
/**
 * Longest time an idle instance may be kept waiting for work (a worker's and the policy's
 * keep-alive): a day; longer is a configuration mistake.
 */
export const KEEP_ALIVE_MS_MAX = 86_400_000;

/**
 * The name of instance number `n`: `app-tier-instance-<n>`, numbered from 1, the one form every
 * fleet (EC2, local, simulated) gives and the policy names its launches by.
 *
 * @param n the number, 1..{@linkcode INSTANCE_NUMBER_MAX}
 * @param prefix the name's prefix
 * @returns the name
 * @throws {RangeError} for a number that no name carries
 * @example
 * ```ts
 * instanceName(3); // "app-tier-instance-3"
 * ```
 */
export function instanceName(n: number, prefix: string = INSTANCE_NAME_PREFIX): string {
  checkInteger("instance number", n, 1, INSTANCE_NUMBER_MAX);
  return `${prefix}${n}`;
}

/**
 * The number in an instance name: the inverse of {@linkcode instanceName}, so `<prefix><n>` with
 * n from 1 in decimal without leading zeros (`-0`, `-01`, `-1.0` and `-1e3` are not ours).
 *
 * @param name the name
 * @param prefix the name's prefix
 * @returns the number, or undefined when the name is not one {@linkcode instanceName} gives
 * @example
 * ```ts
 * instanceNumber("app-tier-instance-12"); // 12
 * instanceNumber("app-tier-instance-012"); // undefined
 * ```
 */
export function instanceNumber(
  name: string,
  prefix: string = INSTANCE_NAME_PREFIX,
): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const digits = name.slice(prefix.length);
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
