/**
 * The worker's log events: one JSON line each on the worker process's stdout,
 * `{"component":"worker","worker":"<name>","event":"<kind>",...}`. Like the queue messages, they
 * are a contract between the worker and whoever reads them: the operator, the stack's tests, and
 * the simulator's validation (`sim/validate.ts` measures boots and service times from `ready` and
 * `answered`, decoding lines with `sim/log_lines.ts`). The worker loop (`worker/`) and the worker
 * process (`service/worker.ts`) emit only these.
 * @module
 */
import type { StorageReason } from "../cloud/errors.ts";

/** The worker's writes that a full or read-only disk may refuse; each is retried until it works. */
export type WorkerWriteStep = "receive" | "dead_letter" | "delete" | "respond" | "put_label";

/** Model and gallery loaded: the worker serves from now on. */
export interface WorkerReadyEvent {
  readonly event: "ready";
  /** Which onnxruntime build runs the model. */
  readonly modelBackend: "web" | "native";
  /** Process start → the model began loading. */
  readonly importMs: number;
  /** Process start → model loaded and warmed up. */
  readonly readyMs: number;
}

/** The worker cannot become ready and exits with `exitCode`; the controller backs off. */
export interface WorkerNotReadyEvent {
  readonly event: "not_ready";
  /** One line, paths shortened: what the controller and `/healthz` report. */
  readonly reason: string;
  readonly exitCode: number;
}

/** Telling the fleet "ready" failed; the worker serves regardless. */
export interface WorkerReadyUnreportedEvent {
  readonly event: "ready_unreported";
  readonly error: string;
}

/** Telling the fleet "not ready" failed; the exit code still says so to a local fleet. */
export interface WorkerNotReadyUnreportedEvent {
  readonly event: "not_ready_unreported";
  readonly error: string;
}

/** The native onnxruntime addon did not load; the worker runs the WASM build instead. */
export interface WorkerNativeUnavailableEvent {
  readonly event: "native_unavailable";
  readonly error: string;
}

/** The loop ended: why, and what it did. */
export interface WorkerStoppingEvent {
  readonly event: "stopping";
  /** `idle`: nothing pending for the keep-alive; `aborted`: a signal; `requestsMax`: a test's cap. */
  readonly reason: "idle" | "aborted" | "requestsMax";
  readonly answered: number;
  readonly refused: number;
  readonly released: number;
}

/** An idle worker on EC2 stopped its own instance. */
export interface WorkerInstanceStoppedEvent {
  readonly event: "instance_stopped";
  readonly instanceId: string;
}

/** The process ended on an error it could not handle (exit code 1); the fleet records the exit. */
export interface WorkerFailedEvent {
  readonly event: "failed";
  /** `<name>: <message>`. */
  readonly error: string;
  /** The error's `code`, when it has one (a `CloudError`'s, an OS error's). */
  readonly code?: string;
  /** The path involved, when the error names one (for the operator only). */
  readonly path?: string;
}

/** The disk refused a write; the worker keeps the request and retries every `retryMs`. */
export interface WorkerStorageRefusedEvent {
  readonly event: "storage_refused";
  readonly step: WorkerWriteStep;
  readonly reason: StorageReason;
  readonly error: string;
  readonly path: string;
  readonly retryMs: number;
}

/** A refused write went through after `attempts` tries. */
export interface WorkerStorageRecoveredEvent {
  readonly event: "storage_recovered";
  readonly step: WorkerWriteStep;
  readonly attempts: number;
}

/** A request that is not a protocol message: dead-lettered (or dropped) and deleted. */
export interface WorkerBadMessageEvent {
  readonly event: "bad_message";
  /** What is wrong with it (the protocol's message). */
  readonly reason: string;
  /** Its first 200 characters. */
  readonly body: string;
}

/** A request handed back to the queue for another try. */
export type WorkerReleasedEvent =
  & { readonly event: "released"; readonly id: string }
  & (
    /** The worker was told to stop while recognising. */
    | { readonly reason: "aborted" }
    /** An unexpected failure; after its receive limit the request is dead-lettered. */
    | { readonly receiveCount: number; readonly error: string }
  );

/** What every answered request's line carries. */
interface WorkerAnswerFields {
  readonly id: string;
  readonly stem: string;
  /** Deliveries of this request so far (1 the first time). */
  readonly receiveCount: number;
  /** get + recognise + put: the service time the simulator fits. */
  readonly serviceMs: number;
}

/** A request answered with its label. */
export interface WorkerAnsweredEvent extends WorkerAnswerFields {
  readonly event: "answered";
  readonly label: string;
}

/** A request answered with an error (`image_*`: a bad or missing image). */
export interface WorkerRefusedEvent extends WorkerAnswerFields {
  readonly event: "refused";
  readonly code: string;
}

/** Extending a request's visibility failed: another worker holds it now. */
export interface WorkerHeartbeatFailedEvent {
  readonly event: "heartbeat_failed";
  readonly error: string;
}

/** Everything a worker logs. */
export type WorkerEvent =
  | WorkerReadyEvent
  | WorkerNotReadyEvent
  | WorkerReadyUnreportedEvent
  | WorkerNotReadyUnreportedEvent
  | WorkerNativeUnavailableEvent
  | WorkerStoppingEvent
  | WorkerInstanceStoppedEvent
  | WorkerFailedEvent
  | WorkerStorageRefusedEvent
  | WorkerStorageRecoveredEvent
  | WorkerBadMessageEvent
  | WorkerReleasedEvent
  | WorkerAnsweredEvent
  | WorkerRefusedEvent
  | WorkerHeartbeatFailedEvent;

/** The kinds of {@linkcode WorkerEvent}. */
export type WorkerEventKind = WorkerEvent["event"];

/** One worker log line as written: the event, the component and the worker's name. */
export type WorkerLine = { readonly component: "worker"; readonly worker: string } & WorkerEvent;

/**
 * The line a worker writes for an event.
 *
 * @param worker the worker's name (`app-tier-instance-3`, `worker-<pid>`)
 * @param event what happened
 * @returns the line, ready for `JSON.stringify`
 * @example
 * ```ts
 * const line = workerLine("app-tier-instance-1", { event: "heartbeat_failed", error: "stale" });
 * console.log(JSON.stringify(line));
 * ```
 */
export function workerLine(worker: string, event: WorkerEvent): WorkerLine {
  return { component: "worker", worker, ...event };
}
