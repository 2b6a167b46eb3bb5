/**
 * The web process's one response-queue consumer. HTTP requests do not poll the response queue
 * themselves (a hundred long polls competing for the same messages would each receive answers
 * meant for others); one loop receives every answer and hands it to the request waiting on its id.
 *
 * Answers are also kept, up to a bound, so that a request that timed out (504) or was accepted
 * asynchronously (202) can be fetched later with `GET /requests/:id`. When an answer message was
 * lost, the label the worker persisted in the out-bucket (under the stem) still answers.
 *
 * With a {@linkcode RequestLedger}, every tracked request is also recorded durably, so a
 * restarted web process (or another one of the deployment) still knows it: pending, or done once
 * its label is in the out-bucket or its error answer was recorded.
 * @module
 */
import { type BlobStore, readAll } from "../cloud/blob_store.ts";
import type { Clock } from "../cloud/clock.ts";
import { CloudError } from "../cloud/errors.ts";
import type { MessageQueue, ReceivedMessage } from "../cloud/message_queue.ts";
import { checkInteger } from "../internal/mod.ts";
import {
  decodeResponse,
  PROTOCOL_VERSION,
  ProtocolError,
  type RecognitionResponse,
} from "../protocol/mod.ts";
import type { RequestLedger, RequestRecord } from "./request_ledger.ts";

/** What the web tier remembers about a request it accepted and has no answer for yet. */
export interface PendingRequest {
  readonly id: string;
  /** The in-bucket key. */
  readonly key: string;
  /** The out-bucket key and the answer's prefix. */
  readonly stem: string;
  /** When the upload was accepted (router clock). */
  readonly acceptedAtMs: number;
}

/** A stored answer and where it came from. */
export interface StoredResult {
  readonly response: RecognitionResponse;
  /**
   * `queue`: the worker's response message; `out-bucket`: the persisted label only; `ledger`:
   * the error answer recorded by an earlier web process.
   */
  readonly source: "queue" | "out-bucket" | "ledger";
  readonly answeredAtMs: number;
}

/** What is known about a request id. */
export type RequestStatus =
  | { readonly state: "pending"; readonly request: PendingRequest }
  | { readonly state: "done"; readonly result: StoredResult };

/** Something the router noticed, for the process's log. */
export interface RouterEvent {
  readonly event:
    | "response_unmatched"
    | "response_malformed"
    | "receive_failed"
    | "delete_failed"
    | "persisted_read_failed"
    | "record_failed"
    | "prune_failed";
  readonly id?: string;
  readonly message: string;
}

/** Counters and sizes, for /metrics and the status page. */
export interface RouterStats {
  readonly running: boolean;
  /** Accepted requests without an answer yet. */
  readonly pending: number;
  /** HTTP requests blocked in {@linkcode ResponseRouter.wait}. */
  readonly waiting: number;
  /** Answers kept for `GET /requests/:id`. */
  readonly results: number;
  /** Answers handed to a waiting or pending request. */
  readonly matched: number;
  /** Valid answers for ids this process does not know (another process's, or forgotten). */
  readonly unmatched: number;
  /** Messages that were not valid responses (deleted, they can never be answered). */
  readonly malformed: number;
  /** Receive or delete calls that failed (the loop backs off and retries). */
  readonly queueErrors: number;
  /** The most recent queue error, for /healthz. */
  readonly lastError: string | undefined;
}

/** Options for {@linkcode ResponseRouter}. */
export interface ResponseRouterOptions {
  /** The response queue's name (`<id>-resp-queue`). */
  responseQueue: string;
  /** The out-bucket, read for persisted labels when an answer message is missing. */
  outBucket?: string;
  /** Most accepted-but-unanswered requests tracked; past it, new requests are refused (503). @default {10000} */
  pendingRequestsMax?: number;
  /** A pending record older than this may be dropped to make room. @default {3600000} (1 h) */
  pendingRetentionMs?: number;
  /** Most answers kept for later `GET /requests/:id`; the oldest go first. @default {10000} */
  resultEntriesMax?: number;
  /** Long-poll length of each receive, 1..20000. @default {20000} */
  receiveWaitMs?: number;
  /** Messages per receive, 1..10. @default {10} */
  receiveMessagesMax?: number;
  /** Pause after a failed receive before trying again. @default {1000} */
  errorBackoffMs?: number;
  /** Largest persisted label read from the out-bucket, in bytes. @default {4096} */
  labelBytesMax?: number;
  /** With a ledger: how often records past its retention are pruned. @default {60000} */
  ledgerPruneMs?: number;
}

/** The router's dependencies: ports, passed in. */
export interface ResponseRouterDeps {
  queue: MessageQueue;
  /** Needed for persisted labels; without it only queue answers count. */
  blobs?: BlobStore;
  clock: Clock;
  log?: (event: RouterEvent) => void;
  /** Durable request state; without it, only this process's memory knows its requests. */
  ledger?: RequestLedger;
}

/** Too many requests are pending: the caller answers 503. */
export class OverloadedError extends Error {
  /** The limit's option name. */
  readonly limitName: string;
  constructor(limitName: string, limit: number, what: string) {
    super(`${what}: ${limitName} = ${limit} reached; retry later`);
    this.name = "OverloadedError";
    this.limitName = limitName;
  }
}

interface Waiter {
  resolve(result: StoredResult | undefined): void;
}

/**
 * Receives answers from the response queue and routes them by request id.
 *
 * @example
 * ```ts
 * const router = new ResponseRouter({ queue, blobs, clock: systemClock }, {
 *   responseQueue: "demo-resp-queue",
 *   outBucket: "demo-out-bucket",
 * });
 * router.start();
 * router.track({ id, key, stem, acceptedAtMs });
 * // ... send the request message ...
 * const result = await router.wait(id, 60_000);
 * await router.stop();
 * ```
 */
export class ResponseRouter {
  readonly #deps: ResponseRouterDeps;
  readonly #options: Required<Omit<ResponseRouterOptions, "outBucket">> & { outBucket?: string };
  readonly #pending = new Map<string, PendingRequest>();
  readonly #results = new Map<string, StoredResult>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Ledger records of tracked requests still being written (or that failed, until forgotten). */
  readonly #recordings = new Map<string, Promise<void>>();
  /** Detached ledger writes of error answers; `stop` waits for them. */
  readonly #writes = new Set<Promise<void>>();
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #pruning: Promise<void> | undefined;
  #waiting = 0;
  #matched = 0;
  #unmatched = 0;
  #malformed = 0;
  #queueErrors = 0;
  #lastError: string | undefined;

  /**
   * @param deps the queue, blob store and clock
   * @param options queue name, limits and polling
   * @throws {RangeError} naming a bad option
   */
  constructor(deps: ResponseRouterDeps, options: ResponseRouterOptions) {
    this.#deps = deps;
    this.#options = {
      pendingRequestsMax: 10_000,
      pendingRetentionMs: 3_600_000,
      resultEntriesMax: 10_000,
      receiveWaitMs: 20_000,
      receiveMessagesMax: 10,
      errorBackoffMs: 1_000,
      labelBytesMax: 4_096,
      ledgerPruneMs: 60_000,
      ...options,
    };
    const o = this.#options;
    checkInteger("pendingRequestsMax", o.pendingRequestsMax, 1, 10_000_000);
    checkInteger("pendingRetentionMs", o.pendingRetentionMs, 1, Number.MAX_SAFE_INTEGER);
    checkInteger("resultEntriesMax", o.resultEntriesMax, 1, 10_000_000);
    checkInteger("receiveWaitMs", o.receiveWaitMs, 1, 20_000);
    checkInteger("receiveMessagesMax", o.receiveMessagesMax, 1, 10);
    checkInteger("errorBackoffMs", o.errorBackoffMs, 0, 600_000);
    checkInteger("labelBytesMax", o.labelBytesMax, 1, 1 << 20);
    checkInteger("ledgerPruneMs", o.ledgerPruneMs, 1, 86_400_000);
  }

  /** Starts the receive loop (once). */
  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
    if (this.#deps.ledger) this.#pruning = this.#prune(this.#deps.ledger, this.#abort.signal);
  }

  /** Stops the loop, ends its long poll and releases every waiter (they see no answer). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([
      this.#loop,
      this.#pruning,
      ...this.#recordings.values(),
      ...this.#writes,
    ]);
    this.#loop = undefined;
    this.#pruning = undefined;
    for (const [id, waiters] of this.#waiters) {
      this.#waiters.delete(id);
      for (const w of waiters) w.resolve(undefined);
    }
  }

  /**
   * Records an accepted request so its answer is kept and `GET /requests/:id` says pending.
   * Call before sending the request message, so an answer can never arrive unannounced. With a
   * ledger, {@linkcode record} writes the durable record.
   * @throws {OverloadedError} when `pendingRequestsMax` requests are pending and none is older
   *   than `pendingRetentionMs`
   */
  track(request: PendingRequest): void {
    if (this.#pending.size >= this.#options.pendingRequestsMax) this.#dropExpired();
    if (this.#pending.size >= this.#options.pendingRequestsMax) {
      throw new OverloadedError(
        "pendingRequestsMax",
        this.#options.pendingRequestsMax,
        "too many requests are waiting for workers",
      );
    }
    this.#pending.set(request.id, request);
  }

  /**
   * Writes the durable record of a tracked request (at once resolved without a ledger). Call it
   * in the same turn as sending the request message, so on the embedded backend both share one
   * transaction, and await it before acknowledging the request: only then does a restart keep it.
   * @throws {CloudError} when the ledger's store refused (a full disk: `StorageError`)
   */
  record(id: string): Promise<void> {
    const { ledger } = this.#deps;
    const request = this.#pending.get(id);
    if (!ledger || !request) return Promise.resolve();
    const recording = ledger.record(request);
    this.#recordings.set(id, recording);
    // A written record needs no more waiting for (an error answer waits for it: it replaces it).
    recording.then(() => {
      if (this.#recordings.get(id) === recording) this.#recordings.delete(id);
    }, () => {});
    return recording;
  }

  /** Drops a pending request whose message was never sent (its upload failed). */
  forget(id: string): void {
    this.#pending.delete(id);
    const recording = this.#recordings.get(id);
    this.#recordings.delete(id);
    const { ledger } = this.#deps;
    if (!ledger || !recording) return;
    // Best effort: a record left behind only says pending for an id no client was given, and
    // is pruned with the others.
    recording.then(() => ledger.forget(id)).catch(() => {});
  }

  /**
   * Waits for the answer to `id`.
   * @param id a tracked request id
   * @param timeoutMs how long to wait
   * @param signal ends the wait early (the client went away)
   * @returns the answer, or undefined on timeout, abort or stop (the answer is still kept when
   *   it arrives later)
   */
  async wait(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<StoredResult | undefined> {
    const stored = this.#results.get(id);
    if (stored) return stored;
    if (!this.#loop || signal?.aborted) return undefined;
    const timer = new AbortController();
    // Abort reasons, so abort() builds no DOMException with a stack trace (7.6 µs each).
    const onAbort = () => timer.abort("client gone");
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#waiting++;
    let waiter: Waiter | undefined;
    const answered = new Promise<StoredResult | undefined>((resolve) => {
      waiter = { resolve };
      const set = this.#waiters.get(id) ?? new Set();
      set.add(waiter);
      this.#waiters.set(id, set);
    });
    const timedOut = this.#deps.clock.sleepMs(timeoutMs, timer.signal).then(() => undefined);
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      timer.abort("wait over");
      signal?.removeEventListener("abort", onAbort);
      this.#waiting--;
      const set = this.#waiters.get(id);
      set?.delete(waiter!);
      if (set?.size === 0) this.#waiters.delete(id);
    }
  }

  /**
   * What is known about `id`: its answer (from the queue, or the persisted label when the
   * answer message is missing), pending, or undefined for ids never tracked here. Ids this
   * process does not remember are looked up in the ledger (a restarted or another web process
   * accepted them).
   * @throws {CloudError} when the ledger cannot be read
   */
  async status(id: string): Promise<RequestStatus | undefined> {
    const stored = this.#results.get(id);
    if (stored) return { state: "done", result: stored };
    const request = this.#pending.get(id);
    if (request) {
      const persisted = await this.readPersisted(id);
      if (persisted) return { state: "done", result: persisted };
      return { state: "pending", request };
    }
    const record = await this.#deps.ledger?.read(id);
    if (!record) return undefined;
    // An answer may have arrived while the ledger was read.
    const arrived = this.#results.get(id);
    if (arrived) return { state: "done", result: arrived };
    if (record.failure) return { state: "done", result: recordedFailure(record) };
    const label = await this.#readLabel(record);
    if (label !== undefined) {
      return { state: "done", result: this.#complete(labelResponse(record, label), "out-bucket") };
    }
    return { state: "pending", request: record };
  }

  /**
   * Looks for the label a worker stored in the out-bucket for a pending request; counts only a
   * label written after the request was accepted (an older one belongs to an earlier upload
   * with the same stem). A found label completes the request.
   */
  async readPersisted(id: string): Promise<StoredResult | undefined> {
    const request = this.#pending.get(id);
    if (!request) return undefined;
    const label = await this.#readLabel(request);
    if (label === undefined) return undefined;
    return this.#complete(labelResponse(request, label), "out-bucket");
  }

  /** The label in the out-bucket for `request`, if one was written after it was accepted. */
  async #readLabel(request: PendingRequest): Promise<string | undefined> {
    const { blobs } = this.#deps;
    const bucket = this.#options.outBucket;
    const id = request.id;
    if (!blobs || bucket === undefined) return undefined;
    let label: string;
    try {
      const object = await blobs.get(bucket, request.stem);
      if (
        object.info.lastModifiedMs < request.acceptedAtMs ||
        object.info.sizeBytes > this.#options.labelBytesMax
      ) {
        await object.body.cancel();
        return undefined;
      }
      label = new TextDecoder().decode(await readAll(object.body)).trim();
    } catch (error) {
      if (!(error instanceof CloudError && error.code === "not_found")) {
        this.#deps.log?.({
          event: "persisted_read_failed",
          id,
          message: (error as Error).message,
        });
      }
      return undefined;
    }
    return label === "" ? undefined : label;
  }

  /** Counters and sizes. */
  stats(): RouterStats {
    return {
      running: this.#loop !== undefined && !this.#abort.signal.aborted,
      pending: this.#pending.size,
      waiting: this.#waiting,
      results: this.#results.size,
      matched: this.#matched,
      unmatched: this.#unmatched,
      malformed: this.#malformed,
      queueErrors: this.#queueErrors,
      lastError: this.#lastError,
    };
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { queue, clock } = this.#deps;
    const o = this.#options;
    while (!signal.aborted) {
      let messages: ReceivedMessage[];
      try {
        messages = await queue.receive(o.responseQueue, {
          messagesMax: o.receiveMessagesMax,
          waitMs: o.receiveWaitMs,
          signal,
        });
      } catch (error) {
        if (signal.aborted) break;
        this.#queueError("receive_failed", error);
        await clock.sleepMs(o.errorBackoffMs, signal);
        continue;
      }
      // Hand every answer in the batch on first, then delete them together: a waiting client
      // never waits for another message's delete.
      for (const message of messages) this.#deliver(message);
      await Promise.all(messages.map((message) => this.#delete(message)));
    }
  }

  #deliver(message: ReceivedMessage): void {
    let response: RecognitionResponse | undefined;
    try {
      response = decodeResponse(message.body);
    } catch (error) {
      // Never let one bad message stop the loop; ProtocolError is the expected kind.
      this.#malformed++;
      const kind = error instanceof ProtocolError ? "" : "unexpected: ";
      this.#deps.log?.({ event: "response_malformed", message: kind + (error as Error).message });
    }
    // Hand the answer on before deleting: a lost delete only means a duplicate later, which
    // finds the result already stored and changes nothing.
    if (response) this.#complete(response, "queue");
  }

  async #delete(message: ReceivedMessage): Promise<void> {
    try {
      await this.#deps.queue.delete(this.#options.responseQueue, message.receipt);
    } catch (error) {
      this.#queueError("delete_failed", error);
    }
  }

  #complete(response: RecognitionResponse, source: StoredResult["source"]): StoredResult {
    const existing = this.#results.get(response.id);
    if (existing) return existing; // a redelivered duplicate
    const request = this.#pending.get(response.id);
    const known = this.#pending.delete(response.id);
    const recording = this.#recordings.get(response.id);
    this.#recordings.delete(response.id);
    if (!response.ok && source === "queue") this.#recordFailure(response, request, recording);
    if (known) this.#matched++;
    else if (source === "queue") {
      // (A label found for a request only the ledger knows is no stray answer.)
      this.#unmatched++;
      this.#deps.log?.({
        event: "response_unmatched",
        id: response.id,
        message: "answer for a request this process does not know; kept for GET /requests/:id",
      });
    }
    const result: StoredResult = { response, source, answeredAtMs: this.#deps.clock.nowMs() };
    this.#results.set(response.id, result);
    if (this.#results.size > this.#options.resultEntriesMax) {
      // Maps iterate in insertion order: the first key is the oldest answer.
      this.#results.delete(this.#results.keys().next().value!);
    }
    const waiters = this.#waiters.get(response.id);
    if (waiters) { for (const w of waiters) w.resolve(result); }
    return result;
  }

  /**
   * Writes an error answer into the ledger (an ok answer's durable form is the worker's label),
   * after the request's own record, which it replaces. Detached: the answer is served from
   * memory meanwhile, and a failure is only logged.
   */
  #recordFailure(
    response: RecognitionResponse & { ok: false },
    request: PendingRequest | undefined,
    recording: Promise<void> | undefined,
  ): void {
    const { ledger } = this.#deps;
    if (!ledger) return;
    const failure = {
      code: response.error.code,
      message: response.error.message,
      worker: response.worker,
      answeredAtMs: this.#deps.clock.nowMs(),
    };
    const writing = (async () => {
      await recording?.catch(() => {});
      await ledger.fail(request ?? { id: response.id, stem: response.stem }, failure);
    })().catch((error) => {
      this.#deps.log?.({
        event: "record_failed",
        id: response.id,
        message: `the error answer is kept in memory only: ${(error as Error).message}`,
      });
    });
    // stop() waits for it, so a closing process does not drop it half-way.
    this.#writes.add(writing);
    writing.finally(() => this.#writes.delete(writing));
  }

  /** Prunes the ledger every `ledgerPruneMs` until stopped. */
  async #prune(ledger: RequestLedger, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#deps.clock.sleepMs(this.#options.ledgerPruneMs, signal);
      if (signal.aborted) return;
      try {
        await ledger.prune();
      } catch (error) {
        this.#deps.log?.({ event: "prune_failed", message: (error as Error).message });
      }
    }
  }

  #dropExpired(): void {
    const oldestKeptMs = this.#deps.clock.nowMs() - this.#options.pendingRetentionMs;
    for (const [id, request] of this.#pending) {
      if (request.acceptedAtMs >= oldestKeptMs) break; // insertion order is acceptance order
      if (!this.#waiters.has(id)) this.#pending.delete(id);
    }
  }

  #queueError(event: "receive_failed" | "delete_failed", error: unknown): void {
    this.#queueErrors++;
    this.#lastError = (error as Error)?.message ?? String(error);
    this.#deps.log?.({ event, message: this.#lastError });
  }
}

/** The answer an out-bucket label gives (the label alone: faces and timings were not kept). */
function labelResponse(request: PendingRequest, label: string): RecognitionResponse {
  return {
    v: PROTOCOL_VERSION,
    id: request.id,
    stem: request.stem,
    ok: true,
    label,
    faces: [],
    timingsMs: {},
    worker: "out-bucket",
  };
}

/** A recorded error answer as a stored result. */
function recordedFailure(record: RequestRecord): StoredResult {
  const f = record.failure!;
  return {
    response: {
      v: PROTOCOL_VERSION,
      id: record.id,
      stem: record.stem,
      ok: false,
      error: { code: f.code, message: f.message },
      worker: f.worker,
    },
    source: "ledger",
    answeredAtMs: f.answeredAtMs,
  };
}
