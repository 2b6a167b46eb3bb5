/**
 * The record store port: small text records by key, kept until deleted or pruned — durable state
 * a process must find again after a restart (the web tier's accepted requests). Keys follow the
 * blob store's key rules; records are at most {@linkcode RECORD_BYTES_MAX}.
 *
 * Two adapters: {@linkcode BlobRecordStore} keeps each record as an object in a bucket (any
 * `BlobStore`: S3 on AWS), and the embedded `SqliteRecordStore` keeps them as rows in the queue
 * database, so a record written in the same turn as a send shares its transaction (group commit).
 * @module
 */
import { type BlobStore, readAll, validateKey } from "./blob_store.ts";
import { CloudError, LimitExceededError } from "./errors.ts";

/** Largest record, in bytes (UTF-8). */
export const RECORD_BYTES_MAX = 8_192;

/** Small durable records by key. */
export interface RecordStore {
  /**
   * Writes (or replaces) a record. An adapter starts the write before its first await, so writes
   * asked for in one turn can share a transaction.
   * @throws {LimitExceededError} over {@linkcode RECORD_BYTES_MAX}
   * @throws {CloudError} when the store refuses (`StorageError` for a full disk)
   */
  put(key: string, value: string): Promise<void>;
  /** The record, or undefined when there is none. */
  get(key: string): Promise<string | undefined>;
  /** Deletes a record (idempotent). */
  delete(key: string): Promise<void>;
  /**
   * Deletes records written before `beforeMs`, in ascending key order, stopping at the first
   * younger one or after `countMax` (keys that sort by time make this the oldest first).
   * @returns how many were deleted
   */
  prune(beforeMs: number, countMax: number): Promise<number>;
}

/** Checks a record's key and size; every adapter calls it. */
export function checkRecord(key: string, value: string): void {
  validateKey(key);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short records need no encoding to be measured.
  if (value.length * 3 <= RECORD_BYTES_MAX) return;
  const bytes = new TextEncoder().encode(value).byteLength;
  if (bytes > RECORD_BYTES_MAX) {
    throw new LimitExceededError("RECORD_BYTES_MAX", RECORD_BYTES_MAX, bytes, `record ${key}`);
  }
}

/**
 * Records as objects of one bucket (created by the caller), on any {@linkcode BlobStore}.
 *
 * @example
 * ```ts
 * const records = new BlobRecordStore(s3, "fr-requests-bucket");
 * await records.put("01a2…", JSON.stringify({ stem: "test_00" }));
 * ```
 */
export class BlobRecordStore implements RecordStore {
  readonly #blobs: BlobStore;
  readonly #bucket: string;

  /**
   * @param blobs the blob store
   * @param bucket the bucket the records live in
   */
  constructor(blobs: BlobStore, bucket: string) {
    this.#blobs = blobs;
    this.#bucket = bucket;
  }

  async put(key: string, value: string): Promise<void> {
    checkRecord(key, value);
    await this.#blobs.put(this.#bucket, key, new TextEncoder().encode(value));
  }

  async get(key: string): Promise<string | undefined> {
    let object;
    try {
      object = await this.#blobs.get(this.#bucket, key);
    } catch (error) {
      if (error instanceof CloudError && error.code === "not_found") return undefined;
      throw error;
    }
    if (object.info.sizeBytes > RECORD_BYTES_MAX) {
      await object.body.cancel();
      return undefined; // not one of ours
    }
    return new TextDecoder().decode(await readAll(object.body));
  }

  async delete(key: string): Promise<void> {
    await this.#blobs.delete(this.#bucket, key);
  }

  async prune(beforeMs: number, countMax: number): Promise<number> {
    const page = await this.#blobs.list(this.#bucket, { pageKeysMax: Math.min(countMax, 1_000) });
    let deleted = 0;
    for (const item of page.items) {
      if (item.lastModifiedMs >= beforeMs || deleted >= countMax) break;
      await this.#blobs.delete(this.#bucket, item.key);
      deleted++;
    }
    return deleted;
  }
}
