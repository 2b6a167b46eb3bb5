/**
 * The app-tier loop, as the specification orders it: one request at a time, receive → get the
 * image from the in-bucket → recognise → put the label in the out-bucket under the stem → send the
 * response → delete the request. Every step is safe to repeat, so a redelivered request (a worker
 * died, a visibility timeout ran out) is simply done again: the get is read-only, the put writes
 * the same label under the same key, a second response is dropped by the web tier's id match, and
 * a delete with a stale receipt deletes nothing.
 *
 * The loop ends when no request is pending for `keepAliveMs` (the caller then exits the process or
 * stops the instance), or when `signal` aborts.
 * @module
 */
import type { BlobStore } from "../cloud/blob_store.ts";
import { type Clock, systemClock } from "../cloud/clock.ts";
import { KEEP_ALIVE_MS_MAX } from "../cloud/fleet.ts";
import { CloudError, NotFoundError, StaleReceiptError, StorageError } from "../cloud/errors.ts";
import {
  type MessageQueue,
  type ReceivedMessage,
  VISIBILITY_TIMEOUT_MS_MAX,
  WAIT_MS_MAX,
} from "../cloud/message_queue.ts";
import { checkNumber, dropUndefined } from "../internal/mod.ts";
import {
  decodeRequest,
  encodeResponse,
  type FaceAnswer,
  PROTOCOL_VERSION,
  ProtocolError,
  type RecognitionRequest,
  type RecognitionResponse,
  replyQueueOf,
  REQUEST_IMAGE_BYTES_MAX,
} from "../protocol/mod.ts";
import type { WorkerEvent, WorkerWriteStep } from "../protocol/worker_events.ts";
import { ImageError } from "../model/image/errors.ts";

/** What recognising one image yields (the model's `Recognizer.recognize`). */
export interface RecognitionResult {
  readonly label: string;
  readonly faces: readonly FaceAnswer[];
  readonly timingsMs: Readonly<Record<string, number>>;
}

/**
 * Recognises one image. Throws the model's {@linkcode ImageError} for an image that can never be
 * recognised (the client's fault: answered `image_<code>`); any other error counts as ours and the
 * request is retried.
 */
export type Recognize = (bytes: Uint8Array) => Promise<RecognitionResult>;

/** The queues and buckets a worker uses (DESIGN.md's `<id>-...` names). */
export interface WorkerRoutes {
  readonly requestQueue: string;
  readonly responseQueue: string;
  readonly inBucket: string;
  readonly outBucket: string;
  /** Where a request that is not a protocol message is moved; omit to drop it (logged). */
  readonly deadLetterQueue?: string;
}

/** What the worker talks to. */
export interface WorkerDeps {
  readonly queue: MessageQueue;
  readonly blobs: BlobStore;
  /** The model, loaded once by the caller. */
  readonly recognize: Recognize;
  /** @default {systemClock} */
  readonly clock?: Clock;
}

/** Receives each event the loop logs (the process adds the component and the worker's name). */
export type WorkerLog = (event: WorkerEvent) => void;

/** Options for {@linkcode runWorker}. */
export interface WorkerOptions {
  readonly routes: WorkerRoutes;
  /** The name put in responses (`app-tier-instance-3`, a pid...). */
  readonly workerName: string;
  /**
   * How long the worker waits for a request when none is pending before it ends; 0 ends it as
   * soon as a receive comes back empty (the specification's behaviour). @default {0}
   */
  readonly keepAliveMs?: number;
  /**
   * How long a received request stays hidden from other workers; the worker extends it every
   * third of this while it recognises, so only a dead worker's request reappears, after at most
   * this long. @default {10000}
   */
  readonly visibilityTimeoutMs?: number;
  /**
   * Largest image read from the in-bucket; bigger is answered `image_too_large`.
   * @default {REQUEST_IMAGE_BYTES_MAX} (20 MiB, what the web tier accepts by default)
   */
  readonly imageBytesMax?: number;
  /** Most faces carried in one response (the answer's label always comes from the largest). @default {100} */
  readonly responseFacesMax?: number;
  /**
   * Pause before trying again a write the disk refused (full, read-only: the embedded backend's
   * `StorageError`). The worker never gives up on it: a request it holds stays held (its
   * visibility kept extended) and is finished once the write succeeds, so a full disk neither
   * kills the worker nor spends the request's receive count. @default {1000}
   */
  readonly storageRetryMs?: number;
  /** Most requests handled before the loop ends; for benchmarks and tests. @default {Infinity} */
  readonly requestsMax?: number;
  /** Ends the loop: a long poll returns at once, a request being recognised is released. */
  readonly signal?: AbortSignal;
  /**
   * Ends the loop gracefully: a long poll returns at once and no request is received any more,
   * but the one being recognised is finished and answered first (a process's first SIGTERM).
   */
  readonly stopReceiving?: AbortSignal;
  /** @default {a no-op} */
  readonly log?: WorkerLog;
}

/** Why the loop ended and what it did. */
export interface WorkerReport {
  readonly reason: "idle" | "aborted" | "requestsMax";
  /** Requests answered ok. */
  readonly answered: number;
  /** Requests answered with an error (bad image, missing blob). */
  readonly refused: number;
  /** Requests released for a retry after an unexpected failure. */
  readonly released: number;
}

/** Defaults of {@linkcode WorkerOptions}. */
export const WORKER_DEFAULTS = Object.freeze({
  keepAliveMs: 0,
  visibilityTimeoutMs: 10_000,
  imageBytesMax: REQUEST_IMAGE_BYTES_MAX,
  responseFacesMax: 100,
  storageRetryMs: 1_000,
  requestsMax: Infinity,
});

/** Shortest visibility timeout: the heartbeat must get a chance to run. */
export const VISIBILITY_TIMEOUT_MS_MIN = 1_000;

/** Resolved options; see {@linkcode resolveWorkerOptions}. */
export type ResolvedWorkerOptions =
  & Required<Omit<WorkerOptions, "signal" | "stopReceiving" | "log">>
  & Pick<WorkerOptions, "signal" | "stopReceiving">
  & { readonly log: WorkerLog };

/**
 * Checks worker options once, at start, and fills defaults.
 * @throws {RangeError} naming the setting and its value
 */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const o: ResolvedWorkerOptions = {
    ...WORKER_DEFAULTS,
    log: () => {},
    ...dropUndefined(options),
    routes: options.routes,
    workerName: options.workerName,
  };
  checkNumber("keepAliveMs", o.keepAliveMs, 0, KEEP_ALIVE_MS_MAX);
  checkNumber(
    "visibilityTimeoutMs",
    o.visibilityTimeoutMs,
    VISIBILITY_TIMEOUT_MS_MIN,
    VISIBILITY_TIMEOUT_MS_MAX,
  );
  checkNumber("imageBytesMax", o.imageBytesMax, 1, Number.MAX_SAFE_INTEGER);
  checkNumber("responseFacesMax", o.responseFacesMax, 0, 10_000);
  checkNumber("storageRetryMs", o.storageRetryMs, 1, 600_000);
  if (!(o.requestsMax >= 1)) {
    throw new RangeError(`requestsMax must be at least 1, got ${o.requestsMax}`);
  }
  if (typeof o.workerName !== "string" || o.workerName.length === 0) {
    throw new RangeError(`workerName must be a non-empty string, got ${o.workerName}`);
  }
  return o;
}

/**
 * Runs the worker loop until nothing is pending (after `keepAliveMs`), `requestsMax` requests
 * were handled, or `signal` aborts.
 *
 * @param deps queue, blob store, the recognise function and the clock
 * @param options routes, the worker's name and limits
 * @returns why it ended and the counts
 * @throws {CloudError} when a queue or bucket is unusable (missing, refused): the worker cannot
 *   serve, so it ends and says why
 * @example
 * ```ts
 * const report = await runWorker({ queue, blobs, recognize }, {
 *   routes: { requestQueue: "fr-req-queue", responseQueue: "fr-resp-queue",
 *     inBucket: "fr-in-bucket", outBucket: "fr-out-bucket" },
 *   workerName: "app-tier-instance-1",
 * });
 * // report.reason === "idle": exit the process, or stop the instance
 * ```
 */
export async function runWorker(deps: WorkerDeps, options: WorkerOptions): Promise<WorkerReport> {
  const o = resolveWorkerOptions(options);
  const clock = deps.clock ?? systemClock;
  const counts = { answered: 0, refused: 0, released: 0 };
  let handled = 0;
  let receiveRefusals = 0;
  for (;;) {
    if (o.signal?.aborted || o.stopReceiving?.aborted) return { reason: "aborted", ...counts };
    if (handled >= o.requestsMax) return { reason: "requestsMax", ...counts };
    let message: ReceivedMessage | undefined;
    try {
      message = await receiveOne(deps.queue, clock, o);
    } catch (error) {
      // A receive must write (to claim): on a full disk wait for room instead of dying.
      if (!(error instanceof StorageError)) throw error;
      if (receiveRefusals++ === 0) logRefused(o, "receive", error);
      await clock.sleepMs(o.storageRetryMs, o.signal);
      continue;
    }
    if (receiveRefusals > 0) {
      o.log({ event: "storage_recovered", step: "receive", attempts: receiveRefusals + 1 });
      receiveRefusals = 0;
    }
    if (message === undefined) {
      const stopped = o.signal?.aborted || o.stopReceiving?.aborted;
      return { reason: stopped ? "aborted" : "idle", ...counts };
    }
    const outcome = await handleMessage(deps, clock, o, message);
    counts[outcome]++;
    handled++;
  }
}

/** Long-polls for one request for up to keepAliveMs (in WAIT_MS_MAX slices). */
async function receiveOne(
  queue: MessageQueue,
  clock: Clock,
  o: ResolvedWorkerOptions,
): Promise<ReceivedMessage | undefined> {
  const deadlineMs = clock.nowMs() + o.keepAliveMs;
  const stops = [o.signal, o.stopReceiving].filter((s) => s !== undefined);
  const signal = stops.length > 1 ? AbortSignal.any(stops) : stops[0];
  for (;;) {
    const waitMs = Math.min(WAIT_MS_MAX, Math.max(0, Math.ceil(deadlineMs - clock.nowMs())));
    const [message] = await queue.receive(o.routes.requestQueue, {
      waitMs,
      visibilityTimeoutMs: o.visibilityTimeoutMs,
      signal,
    });
    if (message !== undefined) return message;
    if (signal?.aborted || clock.nowMs() >= deadlineMs) return undefined;
  }
}

type Outcome = "answered" | "refused" | "released";

async function handleMessage(
  deps: WorkerDeps,
  clock: Clock,
  o: ResolvedWorkerOptions,
  message: ReceivedMessage,
): Promise<Outcome> {
  const { queue } = deps;
  const { requestQueue } = o.routes;
  let request: RecognitionRequest;
  try {
    request = decodeRequest(message.body);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    // Never answerable and never going to become valid: set it aside, don't retry it.
    o.log({ event: "bad_message", reason: error.message, body: message.body.slice(0, 200) });
    const deadLetterQueue = o.routes.deadLetterQueue;
    if (deadLetterQueue !== undefined) {
      await persist("dead_letter", () => queue.send(deadLetterQueue, message.body), clock, o);
    }
    await persist("delete", () => queue.delete(requestQueue, message.receipt), clock, o);
    return "refused";
  }
  const heartbeat = startHeartbeat(queue, clock, o, message.receipt);
  try {
    const serveStartMs = clock.nowMs();
    const response = await raceAbort(serve(deps, clock, o, request), o.signal);
    // get + recognise + put: the service time the simulator fits (sim/validate.ts reads it).
    const serviceMs = Math.round(clock.nowMs() - serveStartMs);
    if (response === undefined) {
      // Shutting down mid-request: hand the request back at once rather than after a timeout.
      await releaseQuietly(queue, requestQueue, message.receipt);
      o.log({ event: "released", id: request.id, reason: "aborted" });
      return "released";
    }
    const replyTo = replyQueueOf(request, o.routes.responseQueue);
    await persist("respond", () => queue.send(replyTo, encodeResponse(response)), clock, o);
    await persist("delete", () => queue.delete(requestQueue, message.receipt), clock, o);
    const { id, stem } = request;
    const { receiveCount } = message;
    o.log(
      response.ok
        ? { event: "answered", id, stem, label: response.label, receiveCount, serviceMs }
        : { event: "refused", id, stem, code: response.error.code, receiveCount, serviceMs },
    );
    return response.ok ? "answered" : "refused";
  } catch (error) {
    if (isUnusableResource(error)) throw error;
    // Unexpected: maybe transient (a busy disk, a throttled API). Release it so the queue
    // retries it and, after its receive limit, moves it to the dead-letter queue, where the
    // controller answers the waiting client with an error.
    await releaseQuietly(queue, requestQueue, message.receipt);
    o.log({
      event: "released",
      id: request.id,
      receiveCount: message.receiveCount,
      error: String(error instanceof Error ? `${error.name}: ${error.message}` : error),
    });
    return "released";
  } finally {
    heartbeat.stop();
  }
}

/** The response for one request; refusals (bad image, missing upload) are answers too. */
async function serve(
  deps: WorkerDeps,
  clock: Clock,
  o: ResolvedWorkerOptions,
  request: RecognitionRequest,
): Promise<RecognitionResponse> {
  const base = {
    v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
    id: request.id,
    stem: request.stem,
    worker: o.workerName,
  };
  const refuse = (code: string, text: string): RecognitionResponse => ({
    ...base,
    ok: false,
    error: { code, message: text },
  });
  const startedMs = clock.nowMs();
  const bytes = await readImage(deps.blobs, o, request.key);
  if (typeof bytes === "string") return refuse(bytes, imageReadMessage(bytes, request.key, o));
  const readMs = clock.nowMs();
  let result: RecognitionResult;
  try {
    result = await deps.recognize(bytes);
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    return refuse(`image_${error.code}`, error.message);
  }
  const recognizedMs = clock.nowMs();
  const label = new TextEncoder().encode(result.label);
  await persist(
    "put_label",
    () => deps.blobs.put(o.routes.outBucket, request.stem, label),
    clock,
    o,
  );
  const doneMs = clock.nowMs();
  return {
    ...base,
    ok: true,
    label: result.label,
    faces: result.faces.slice(0, o.responseFacesMax),
    timingsMs: {
      ...result.timingsMs,
      queuedMs: Math.max(0, startedMs - request.acceptedAtMs),
      getMs: readMs - startedMs,
      recognizeMs: recognizedMs - readMs,
      putMs: doneMs - recognizedMs,
    },
  };
}

/** The image bytes, or a refusal code when it is missing or over the limit. */
async function readImage(
  blobs: BlobStore,
  o: ResolvedWorkerOptions,
  key: string,
): Promise<Uint8Array | "image_missing" | "image_too_large"> {
  let object;
  try {
    object = await blobs.get(o.routes.inBucket, key);
  } catch (error) {
    // A missing object stays missing (the web tier writes before it enqueues): refuse, don't retry.
    if (error instanceof NotFoundError && error.kind === "object") return "image_missing";
    if (error instanceof CloudError && error.code === "invalid_name") return "image_missing";
    throw error;
  }
  if (object.info.sizeBytes > o.imageBytesMax) {
    await object.body.cancel();
    return "image_too_large";
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of object.body) {
    total += chunk.byteLength;
    // The info may be stale or absent on some stores; the limit holds on the bytes themselves.
    if (total > o.imageBytesMax) return "image_too_large";
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function imageReadMessage(code: string, key: string, o: ResolvedWorkerOptions): string {
  return code === "image_too_large"
    ? `the image ${key} is over imageBytesMax = ${o.imageBytesMax} bytes; upload a smaller one`
    : `the image ${key} is not in ${o.routes.inBucket}; upload it again`;
}

/**
 * A queue or bucket that does not exist, or a store that is not ours: retrying cannot help, the
 * deployment is wrong.
 */
function isUnusableResource(error: unknown): boolean {
  if (!(error instanceof CloudError)) return false;
  switch (error.code) {
    case "not_found":
      return error instanceof NotFoundError && (error.kind === "queue" || error.kind === "bucket");
    case "corrupt_store":
      return true;
    default:
      return false;
  }
}

async function releaseQuietly(queue: MessageQueue, name: string, receipt: string): Promise<void> {
  try {
    await queue.changeVisibility(name, receipt, 0);
  } catch (error) {
    // Already redelivered elsewhere: nothing of ours to release. The disk refused the write:
    // the request turns visible again when its visibility timeout runs out.
    if (!(error instanceof StaleReceiptError || error instanceof StorageError)) throw error;
  }
}

function logRefused(o: ResolvedWorkerOptions, step: WorkerWriteStep, error: StorageError): void {
  o.log({
    event: "storage_refused",
    step,
    reason: error.reason,
    error: error.message,
    path: error.path,
    retryMs: o.storageRetryMs,
  });
}

/**
 * Runs a write until the disk takes it: a `StorageError` (full, read-only) is retried every
 * `storageRetryMs`, logged once when it starts and once when it clears. Ends with the error only
 * when the worker is told to stop; any other error is thrown at once.
 */
async function persist<T>(
  step: WorkerWriteStep,
  write: () => Promise<T>,
  clock: Clock,
  o: ResolvedWorkerOptions,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      const value = await write();
      if (attempt > 1) o.log({ event: "storage_recovered", step, attempts: attempt });
      return value;
    } catch (error) {
      if (!(error instanceof StorageError)) throw error;
      if (attempt === 1) logRefused(o, step, error);
      await clock.sleepMs(o.storageRetryMs, o.signal);
      if (o.signal?.aborted) throw error;
    }
  }
}

/** Keeps a request hidden while it is being worked on. */
function startHeartbeat(
  queue: MessageQueue,
  clock: Clock,
  o: ResolvedWorkerOptions,
  receipt: string,
): { stop(): void } {
  const stop = new AbortController();
  const periodMs = Math.floor(o.visibilityTimeoutMs / 3);
  (async () => {
    for (;;) {
      await clock.sleepMs(periodMs, stop.signal);
      if (stop.signal.aborted) return;
      try {
        await queue.changeVisibility(o.routes.requestQueue, receipt, o.visibilityTimeoutMs);
      } catch (error) {
        // The disk refused (full): beat again next time, the request is still ours.
        if (error instanceof StorageError) continue;
        // Stale: another worker holds it now; the work stays idempotent, so just stop beating.
        o.log({ event: "heartbeat_failed", error: String(error) });
        return;
      }
    }
  })();
  return { stop: () => stop.abort() };
}

/** The promise's value, or undefined as soon as `signal` aborts. */
function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.resolve(undefined);
  }
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      resolve(undefined);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
