/**
 * What the web tier accepted, kept where a restarted (or another) web process finds it: one small
 * record per request, keyed by its id, in the deployment's {@linkcode RecordStore}. So
 * `GET /requests/:id` answers pending or done for every accepted id, not only for ids the
 * answering process happens to remember.
 *
 * Why one record per request and no more: the web tier already writes the upload (blob store)
 * and the request message (queue) for each request. On the embedded backend the record is one
 * more row in the queue's SQLite database, written in the same turn as the request message and so
 * in the same transaction (group commit); on AWS one more small PUT
 * (`<id>-requests-bucket`), in parallel with the SQS send. An ok answer needs no second write:
 * the worker's label in the out-bucket (under the stem, written after the request was accepted)
 * is the durable result. Only error answers (422, 502), which leave no label, are written back
 * into the record.
 *
 * Ids are UUIDv7 ({@linkcode RequestLedger.newId}): they sort by acceptance time, so pruning
 * records past `recordRetentionMs` lists from the start of the bucket and stops at the first
 * young one, without walking the whole bucket.
 * @module
 */
import type { Clock } from "../cloud/clock.ts";
import type { RecordStore } from "../cloud/record_store.ts";
import { checkInteger } from "../internal/mod.ts";

/** The record format's version; a reader ignores versions it does not know. */
export const LEDGER_RECORD_VERSION = 1;
/** Default `recordRetentionMs`: a day. */
export const RECORD_RETENTION_MS_DEFAULT = 86_400_000;
/** Longest error message kept in a record, in characters. */
const FAILURE_MESSAGE_CHARS_MAX = 1_000;

/** One accepted request as the ledger keeps it. */
export interface RequestRecord {
  readonly v: typeof LEDGER_RECORD_VERSION;
  readonly id: string;
  /** The in-bucket key. */
  readonly key: string;
  /** The out-bucket key and the answer's prefix. */
  readonly stem: string;
  /** When the upload was accepted (web clock). */
  readonly acceptedAtMs: number;
  /** Set once the request was answered with an error (an ok answer is the out-bucket label). */
  readonly failure?: RecordedFailure;
}

/** An error answer, as kept in the record. */
export interface RecordedFailure {
  readonly code: string;
  readonly message: string;
  /** Which worker (or `dead-letter`) answered. */
  readonly worker: string;
  readonly answeredAtMs: number;
}

/** Options for {@linkcode RequestLedger}. */
export interface RequestLedgerOptions {
  /** Records older than this are deleted by {@linkcode RequestLedger.prune}. @default {RECORD_RETENTION_MS_DEFAULT} */
  readonly recordRetentionMs?: number;
  /** Most records one prune deletes (the next prune goes on). @default {1000} */
  readonly pruneKeysMax?: number;
}

/** The ledger's ports. */
export interface RequestLedgerDeps {
  /** Where the records live (embedded: rows of the queue database; AWS: a bucket). */
  readonly records: RecordStore;
  readonly clock: Clock;
}

/**
 * Durable request state over the {@linkcode BlobStore} port (both backends).
 *
 * @example
 * ```ts
 * const records = new BlobRecordStore(blobs, "demo-requests-bucket");
 * const ledger = new RequestLedger({ records, clock });
 * const id = ledger.newId();
 * await ledger.record({ id, key: "a.jpg", stem: "a", acceptedAtMs: clock.nowMs() });
 * (await ledger.read(id))?.stem; // "a"
 * ```
 */
export class RequestLedger {
  readonly #deps: RequestLedgerDeps;
  readonly #recordRetentionMs: number;
  readonly #pruneKeysMax: number;

  /**
   * @param deps the record store and the clock
   * @param options the limits
   * @throws {RangeError} naming a bad limit
   */
  constructor(deps: RequestLedgerDeps, options: RequestLedgerOptions = {}) {
    this.#deps = deps;
    this.#recordRetentionMs = options.recordRetentionMs ?? RECORD_RETENTION_MS_DEFAULT;
    this.#pruneKeysMax = options.pruneKeysMax ?? 1_000;
    checkInteger("recordRetentionMs", this.#recordRetentionMs, 1, Number.MAX_SAFE_INTEGER);
    checkInteger("pruneKeysMax", this.#pruneKeysMax, 1, 1_000_000);
  }

  /** A new request id: a UUIDv7 of the clock's time, so ids sort by acceptance. */
  newId(): string {
    return uuidV7(this.#deps.clock.nowMs());
  }

  /**
   * Records an accepted request (pending until answered). The write starts before this returns,
   * so a send asked for in the same turn shares its transaction on the embedded backend.
   * @throws {CloudError} when the store refuses (a full disk: `StorageError`)
   */
  record(request: Omit<RequestRecord, "v" | "failure">): Promise<void> {
    return this.#write({
      v: LEDGER_RECORD_VERSION,
      id: request.id,
      key: request.key,
      stem: request.stem,
      acceptedAtMs: request.acceptedAtMs,
    });
  }

  /**
   * Records an error answer, so it survives the web process.
   * @param request what is known of the request (the key and acceptance time may be unknown for
   *   an answer to another process's request)
   * @param failure the error
   * @throws {CloudError} when the store refuses
   */
  fail(
    request: Pick<RequestRecord, "id" | "stem"> & Partial<RequestRecord>,
    failure: RecordedFailure,
  ): Promise<void> {
    return this.#write({
      v: LEDGER_RECORD_VERSION,
      id: request.id,
      key: request.key ?? "",
      stem: request.stem,
      acceptedAtMs: request.acceptedAtMs ?? failure.answeredAtMs,
      failure: { ...failure, message: failure.message.slice(0, FAILURE_MESSAGE_CHARS_MAX) },
    });
  }

  /**
   * The record of `id`, or undefined when there is none (never accepted, pruned, or not one of
   * ours).
   * @throws {CloudError} when the store cannot be read
   */
  async read(id: string): Promise<RequestRecord | undefined> {
    const text = await this.#deps.records.get(id);
    return text === undefined ? undefined : parseRecord(text, id);
  }

  /** Deletes the record of a request that was never sent (its upload failed). */
  async forget(id: string): Promise<void> {
    await this.#deps.records.delete(id);
  }

  /**
   * Deletes records older than `recordRetentionMs`, oldest first (ids are UUIDv7, so the first
   * young one ends the sweep), at most `pruneKeysMax`.
   * @returns how many were deleted
   */
  async prune(): Promise<number> {
    const oldestKeptMs = this.#deps.clock.nowMs() - this.#recordRetentionMs;
    return await this.#deps.records.prune(oldestKeptMs, this.#pruneKeysMax);
  }

  #write(record: RequestRecord): Promise<void> {
    return this.#deps.records.put(record.id, JSON.stringify(record));
  }
}

function parseRecord(text: string, id: string): RequestRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = value as Partial<RequestRecord>;
  if (
    r === null || typeof r !== "object" || r.v !== LEDGER_RECORD_VERSION || r.id !== id ||
    typeof r.key !== "string" || typeof r.stem !== "string" ||
    typeof r.acceptedAtMs !== "number"
  ) return undefined;
  const f = r.failure;
  if (
    f !== undefined &&
    (typeof f?.code !== "string" || typeof f.message !== "string" ||
      typeof f.worker !== "string" || typeof f.answeredAtMs !== "number")
  ) return undefined;
  return r as RequestRecord;
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Its text sorts by time.
 * @param nowMs the time to stamp
 */
export function uuidV7(nowMs: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs >= 2 ** 48) {
    throw new RangeError(`uuidV7 needs a time in 0..2^48 ms, got ${nowMs}`);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let t = nowMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = 0x70 | (bytes[6] & 0x0f);
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  // One id per request on the web tier's hot path: a table, not toString/padStart/join.
  let text = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += "-";
    text += HEX[bytes[i]];
  }
  return text;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
