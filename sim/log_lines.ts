/**
 * Reads the stack's JSON log lines back into the typed events their emitters write: the worker's
 * ({@linkcode WorkerEvent}, `protocol/worker_events.ts`) and the controller's
 * ({@linkcode ControllerEvent}, `controller/log_events.ts`). `validate.ts` measures a stack run
 * from them; a line that claims to be the worker's or the controller's and does not match is
 * refused with a message naming the field, rather than silently measured as something else.
 *
 * Each event kind has one checker, in a table typed against its union: a kind or a field added
 * to an event and not to its checker does not compile, and a checker cannot accept a wider type
 * than the field's.
 * @module
 */
import type { StorageReason } from "../cloud/errors.ts";
import type {
  AppliedDecisions,
  ControllerEvent,
  ControllerLine,
} from "../controller/log_events.ts";
import type {
  Clamp,
  DecisionLog,
  NotReadyCondition,
  ScalingDecision,
} from "../controller/policy.ts";
import type { WorkerEvent, WorkerLine, WorkerWriteStep } from "../protocol/worker_events.ts";

/** A log line that claims to be a worker's or the controller's but is not one of their events. */
export class LogLineError extends TypeError {
  /** Where in the line, e.g. `worker line "answered": serviceMs`. */
  readonly at: string;
  constructor(at: string, message: string) {
    super(message);
    this.name = "LogLineError";
    this.at = at;
  }
}

/** Checks one value read from JSON; returns it typed or throws {@linkcode LogLineError}. */
type Check<T> = (value: unknown, at: string) => T;
/** A checker for every field of `T`, optional ones included. */
type Fields<T> = { readonly [K in keyof T]-?: Check<T[K]> };
/** A checker for every variant of the union `T`, keyed by its tag `D`. */
type Variants<T, D extends keyof T> = {
  readonly [K in T[D] & string]: Check<Extract<T, { readonly [P in D]: K }>>;
};

/** Longest value quoted in a message. */
const SHOWN_CHARS_MAX = 80;

function fail(at: string, want: string, value: unknown): never {
  const text = value === undefined ? "nothing" : JSON.stringify(value);
  const shown = text.length > SHOWN_CHARS_MAX ? `${text.slice(0, SHOWN_CHARS_MAX)}…` : text;
  throw new LogLineError(at, `${at} must be ${want}, got ${shown}`);
}

/** `line: key` below a root (ending in `:`), `parent.key` below a field. */
function field(at: string, key: string): string {
  return at.endsWith(":") ? `${at} ${key}` : `${at}.${key}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const string: Check<string> = (v, at) => typeof v === "string" ? v : fail(at, "a string", v);
const number: Check<number> = (v, at) =>
  typeof v === "number" && Number.isFinite(v) ? v : fail(at, "a number", v);
const boolean: Check<boolean> = (v, at) =>
  typeof v === "boolean" ? v : fail(at, "true or false", v);

/** One of a closed set of strings; a `Record` over the union keeps the set complete. */
function oneOf<L extends string>(set: Readonly<Record<L, true>>): Check<L> {
  const values = Object.keys(set);
  return (v, at) =>
    typeof v === "string" && Object.hasOwn(set, v)
      ? v as L
      : fail(at, `one of ${values.join(", ")}`, v);
}

function literal<const L extends string>(value: L): Check<L> {
  return oneOf({ [value]: true } as Record<L, true>);
}

function optional<T>(check: Check<T>): Check<T | undefined> {
  return (v, at) => v === undefined ? undefined : check(v, at);
}

function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, at) => v === null ? null : check(v, at);
}

function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (v, at) =>
    Array.isArray(v) ? v.map((x, k) => check(x, `${at}[${k}]`)) : fail(at, "a list", v);
}

/** An object with these fields (others are kept, unchecked). */
function object<T>(fields: Fields<T>): Check<T> {
  return (v, at) => {
    if (!isObject(v)) return fail(at, "an object", v);
    for (const [key, check] of Object.entries<Check<unknown>>(fields)) {
      check(v[key], field(at, key));
    }
    return v as T;
  };
}

/** A tagged union: the tag picks the variant's checker. */
function tagged<T, D extends keyof T & string>(tag: D, variants: Variants<T, D>): Check<T> {
  const pick = oneOf(Object.fromEntries(Object.keys(variants).map((k) => [k, true])));
  return (v, at) => {
    if (!isObject(v)) return fail(at, "a JSON object", v);
    const kind = pick(v[tag], field(at, tag)) as keyof Variants<T, D>;
    const check = variants[kind] as Check<T>;
    // At a line's root the kind names the line in messages: `worker line "answered": ...`.
    return check(v, at.endsWith(":") ? `${at.slice(0, -1)} ${JSON.stringify(kind)}:` : at);
  };
}

/** Two shapes under one kind, told apart by whether `key` is present. */
function byKey<A, B>(key: string, withKey: Check<A>, without: Check<B>): Check<A | B> {
  return (v, at) => isObject(v) && key in v ? withKey(v, at) : without(v, at);
}

const STEPS: Readonly<Record<WorkerWriteStep, true>> = {
  receive: true,
  dead_letter: true,
  delete: true,
  respond: true,
  put_label: true,
};
const STORAGE_REASONS: Readonly<Record<StorageReason, true>> = {
  disk_full: true,
  read_only: true,
  permission: true,
  io: true,
  too_large: true,
  locked: true,
  other: true,
};
const CLAMPS: Readonly<Record<Clamp, true>> = {
  instancesMax: true,
  instancesMin: true,
  keepAlive: true,
  slots: true,
  busy: true,
  notReady: true,
};

/** A worker event's checker: `T` is the kind's variant, so the fields must match it. */
type WorkerKind<K extends WorkerEvent["event"]> = Extract<WorkerEvent, { event: K }>;
const errorOnly = <K extends string>(kind: K) =>
  object<{ event: K; error: string }>({
    event: literal(kind),
    error: string,
  });
const answer = { id: string, stem: string, receiveCount: number, serviceMs: number };

const WORKER_EVENTS: Variants<WorkerEvent, "event"> = {
  ready: object<WorkerKind<"ready">>({
    event: literal("ready"),
    modelBackend: oneOf({ web: true, native: true }),
    importMs: number,
    readyMs: number,
  }),
  not_ready: object<WorkerKind<"not_ready">>({
    event: literal("not_ready"),
    reason: string,
    exitCode: number,
  }),
  ready_unreported: errorOnly("ready_unreported"),
  not_ready_unreported: errorOnly("not_ready_unreported"),
  native_unavailable: errorOnly("native_unavailable"),
  stopping: object<WorkerKind<"stopping">>({
    event: literal("stopping"),
    reason: oneOf({ idle: true, aborted: true, requestsMax: true }),
    answered: number,
    refused: number,
    released: number,
  }),
  instance_stopped: object<WorkerKind<"instance_stopped">>({
    event: literal("instance_stopped"),
    instanceId: string,
  }),
  failed: object<WorkerKind<"failed">>({
    event: literal("failed"),
    error: string,
    code: optional(string),
    path: optional(string),
  }),
  storage_refused: object<WorkerKind<"storage_refused">>({
    event: literal("storage_refused"),
    step: oneOf(STEPS),
    reason: oneOf(STORAGE_REASONS),
    error: string,
    path: string,
    retryMs: number,
  }),
  storage_recovered: object<WorkerKind<"storage_recovered">>({
    event: literal("storage_recovered"),
    step: oneOf(STEPS),
    attempts: number,
  }),
  bad_message: object<WorkerKind<"bad_message">>({
    event: literal("bad_message"),
    reason: string,
    body: string,
  }),
  released: byKey(
    "reason",
    object<{ event: "released"; id: string; reason: "aborted" }>({
      event: literal("released"),
      id: string,
      reason: literal("aborted"),
    }),
    object<{ event: "released"; id: string; receiveCount: number; error: string }>({
      event: literal("released"),
      id: string,
      receiveCount: number,
      error: string,
    }),
  ),
  answered: object<WorkerKind<"answered">>({
    event: literal("answered"),
    ...answer,
    label: string,
  }),
  refused: object<WorkerKind<"refused">>({ event: literal("refused"), ...answer, code: string }),
  heartbeat_failed: errorOnly("heartbeat_failed"),
};

type ControllerKind<K extends ControllerEvent["event"]> = Extract<ControllerEvent, { event: K }>;

const notReadyCondition: Fields<NotReadyCondition> = {
  reason: string,
  instance: string,
  atMs: number,
  failures: number,
  retryAtMs: number,
  noneReady: boolean,
};

const decisionLog: Fields<DecisionLog> = {
  nowMs: number,
  inputs: object<DecisionLog["inputs"]>({
    visible: number,
    inFlight: number,
    delayed: number,
    pending: number,
    running: number,
    stopping: number,
    stopped: number,
    awaiting: number,
    busy: number,
  }),
  demand: number,
  desired: number,
  target: number,
  clamps: arrayOf(oneOf(CLAMPS)),
  decisions: arrayOf(tagged<ScalingDecision, "action">("action", {
    start: object({ action: literal("start"), id: string, name: string }),
    launch: object({ action: literal("launch"), name: string }),
    stop: object({ action: literal("stop"), id: string, name: string }),
  })),
  notReady: nullable(object(notReadyCondition)),
};

const CONTROLLER_EVENTS: Variants<ControllerEvent, "event"> = {
  decision: object<ControllerKind<"decision">>({
    event: literal("decision"),
    ...decisionLog,
    applied: object<AppliedDecisions>({
      started: arrayOf(string),
      launched: arrayOf(string),
      stopped: arrayOf(string),
    }),
    errors: arrayOf(string),
  }),
  workers_not_ready: object<ControllerKind<"workers_not_ready">>({
    event: literal("workers_not_ready"),
    ...notReadyCondition,
    refuseUploads: boolean,
  }),
  workers_ready: object<ControllerKind<"workers_ready">>({ event: literal("workers_ready") }),
  tick_failed: errorOnly("tick_failed"),
  crashed: errorOnly("crashed"),
  dead_letter_sweep_failed: errorOnly("dead_letter_sweep_failed"),
  dead_letter: byKey(
    "unreadable",
    object<{ event: "dead_letter"; unreadable: string; body: string }>({
      event: literal("dead_letter"),
      unreadable: string,
      body: string,
    }),
    object<{ event: "dead_letter"; id: string; key: string }>({
      event: literal("dead_letter"),
      id: string,
      key: string,
    }),
  ),
};

const workerEvent = tagged<WorkerEvent, "event">("event", WORKER_EVENTS);
const controllerEvent = tagged<ControllerEvent, "event">("event", CONTROLLER_EVENTS);

/** Every kind of worker event, as the decoder knows them. */
export const WORKER_EVENT_KINDS = Object.keys(WORKER_EVENTS) as WorkerEvent["event"][];
/** Every kind of controller event, as the decoder knows them. */
export const CONTROLLER_EVENT_KINDS = Object.keys(CONTROLLER_EVENTS) as ControllerEvent["event"][];

/**
 * Decodes one worker log line (parsed JSON).
 *
 * @param value the parsed line
 * @returns the line, typed
 * @throws {LogLineError} naming the field that is missing or of the wrong type, or the unknown kind
 * @example
 * ```ts
 * const line = decodeWorkerLine(JSON.parse(text));
 * if (line.event === "answered") console.log(line.serviceMs);
 * ```
 */
export function decodeWorkerLine(value: unknown): WorkerLine {
  const at = "worker line:";
  object<{ component: "worker"; worker: string }>({
    component: literal("worker"),
    worker: string,
  })(value, at);
  return workerEvent(value, at) as WorkerLine;
}

/**
 * Decodes one controller log line (parsed JSON).
 *
 * @param value the parsed line
 * @returns the line, typed
 * @throws {LogLineError} naming the field that is missing or of the wrong type, or the unknown kind
 */
export function decodeControllerLine(value: unknown): ControllerLine {
  const at = "controller line:";
  object<{ component: "controller" }>({ component: literal("controller") })(value, at);
  return controllerEvent(value, at) as ControllerLine;
}

/**
 * Decodes one line of the stack's output: the worker's and the controller's lines into their
 * events; other components' lines (the service's, the web tier's, storage) are not read.
 *
 * @param value the parsed line
 * @returns the typed line, or null for another component's line
 * @throws {LogLineError} for a worker or controller line that is not one of its events, or a
 *   line that is not a JSON object
 */
export function decodeStackLine(value: unknown): WorkerLine | ControllerLine | null {
  if (!isObject(value)) return fail("log line", "a JSON object", value);
  if (value.component === "worker") return decodeWorkerLine(value);
  if (value.component === "controller") return decodeControllerLine(value);
  return null;
}
