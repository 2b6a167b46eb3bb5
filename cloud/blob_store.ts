/**
 * The blob store port (S3 semantics): buckets of immutable objects addressed by key, written from
 * a stream and read as a stream. Names are validated here, once, for every adapter.
 * @module
 */
import { InvalidNameError } from "./errors.ts";
import { checkInteger } from "../internal/mod.ts";

/** What the store knows about one object. */
export interface BlobInfo {
  readonly key: string;
  readonly sizeBytes: number;
  /** When the object was last written, in ms since the epoch. */
  readonly lastModifiedMs: number;
}

/** An object being read: its info and its bytes as a stream (read it or cancel it). */
export interface BlobObject {
  readonly info: BlobInfo;
  readonly body: ReadableStream<Uint8Array>;
}

/** Options for {@linkcode BlobStore.list}. */
export interface ListOptions {
  /** Only keys starting with this. @default {""} */
  prefix?: string;
  /** The token a previous page returned as `nextToken`. */
  token?: string;
  /** Keys per page, 1..{@linkcode LIST_PAGE_KEYS_MAX}. @default {1000} */
  pageKeysMax?: number;
}

/** One page of a listing, in ascending key order. */
export interface BlobPage {
  readonly items: readonly BlobInfo[];
  /** Present when more keys follow; pass it back as `token`. */
  readonly nextToken?: string;
}

/**
 * The blob store port.
 *
 * Semantics every adapter keeps (checked by `cloud/contract/blob_store_contract.ts`): a put is
 * all-or-nothing (a reader sees the old object or the whole new one, never a part); a put over
 * the size limit or from a failing stream leaves no object; delete is idempotent; listing pages
 * are in ascending key order and together list every key once.
 */
export interface BlobStore {
  /** Creates the bucket if missing (idempotent). */
  ensureBucket(bucket: string): Promise<void>;
  /**
   * Stores an object, streaming the body without holding it all in memory.
   * @throws {LimitExceededError} when the body passes the store's `objectBytesMax`
   * @throws {NotFoundError} when the bucket does not exist
   */
  put(
    bucket: string,
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<BlobInfo>;
  /** @throws {NotFoundError} when the bucket or object does not exist */
  get(bucket: string, key: string): Promise<BlobObject>;
  /** @throws {NotFoundError} when the bucket or object does not exist */
  head(bucket: string, key: string): Promise<BlobInfo>;
  /** Removes an object; removing a missing object is not an error. */
  delete(bucket: string, key: string): Promise<void>;
  /** One page of keys. */
  list(bucket: string, options?: ListOptions): Promise<BlobPage>;
  /** Releases clients, files and timers. */
  close(): Promise<void>;
}

/** S3's own key limit, in UTF-8 bytes. */
export const KEY_BYTES_MAX = 1024;
/** Longest part between slashes: file systems refuse names over 255 bytes (we add a suffix). */
export const KEY_SEGMENT_BYTES_MAX = 240;
/** S3 caps a listing page at 1000 keys. */
export const LIST_PAGE_KEYS_MAX = 1000;
/** Default per-object size limit: far above any photo, far below a disk. */
export const OBJECT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/**
 * Keys use S3's "safe characters": letters, digits and `! - _ . * ' ( )`, with `/` between
 * segments. This keeps every key a valid file path and a valid URL path without escaping.
 */
const KEY_PATTERN = /^[A-Za-z0-9!\-_.*'()/]+$/;
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Checks an object key against the documented rules.
 *
 * @param key the key to check
 * @throws {InvalidNameError} naming the broken rule
 * @example
 * ```ts
 * validateKey("test_000.jpg"); // ok
 * validateKey("../etc/passwd"); // throws InvalidNameError
 * ```
 */
export function validateKey(key: string): void {
  const rule = (text: string) => new InvalidNameError("key", key, text);
  if (typeof key !== "string" || key.length === 0) throw rule("keys must be non-empty strings");
  const bytes = new TextEncoder().encode(key).length;
  if (bytes > KEY_BYTES_MAX) throw rule(`keys are at most KEY_BYTES_MAX = ${KEY_BYTES_MAX} bytes`);
  if (!KEY_PATTERN.test(key)) {
    throw rule("use only letters, digits, ! - _ . * ' ( ) and / between segments");
  }
  if (key.startsWith("/")) throw rule("keys must not start with / (no absolute paths)");
  if (key.endsWith("/")) throw rule("keys must not end with /");
  for (const segment of key.split("/")) {
    if (segment === "") throw rule("keys must not contain empty segments (//)");
    if (segment === "." || segment === "..") throw rule("keys must not contain . or .. segments");
    if (segment.length > KEY_SEGMENT_BYTES_MAX) {
      throw rule(`each segment is at most KEY_SEGMENT_BYTES_MAX = ${KEY_SEGMENT_BYTES_MAX} bytes`);
    }
  }
}

/** Whether `name` is a valid bucket name (see {@linkcode validateBucket}). */
export function isBucketName(name: unknown): name is string {
  return typeof name === "string" && BUCKET_PATTERN.test(name);
}

/**
 * Checks a bucket name: 3–63 lowercase letters, digits and hyphens, starting and ending with a
 * letter or digit (S3's rules without dots, so names are also safe directory names).
 *
 * @param bucket the name to check
 * @throws {InvalidNameError} naming the rule
 * @example
 * ```ts
 * validateBucket("demo-in-bucket"); // ok
 * ```
 */
export function validateBucket(bucket: string): void {
  if (!isBucketName(bucket)) {
    throw new InvalidNameError(
      "bucket",
      String(bucket),
      "use 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit",
    );
  }
}

/**
 * Checks list options and fills defaults.
 * @throws {RangeError} for a page size outside 1..LIST_PAGE_KEYS_MAX
 * @throws {InvalidNameError} for a prefix with characters keys cannot have
 */
export function resolveListOptions(
  options: ListOptions = {},
): { prefix: string; token?: string; pageKeysMax: number } {
  const pageKeysMax = options.pageKeysMax ?? LIST_PAGE_KEYS_MAX;
  checkInteger("pageKeysMax", pageKeysMax, 1, LIST_PAGE_KEYS_MAX);
  const prefix = options.prefix ?? "";
  if (prefix !== "" && !KEY_PATTERN.test(prefix)) {
    throw new InvalidNameError("key prefix", prefix, "use only characters keys may contain");
  }
  return { prefix, token: options.token, pageKeysMax };
}

/**
 * Checks a per-object size limit option.
 * @throws {RangeError} when not a positive safe integer
 */
export function validateObjectBytesMax(objectBytesMax: number): void {
  if (!Number.isSafeInteger(objectBytesMax) || objectBytesMax < 1) {
    throw new RangeError(`objectBytesMax must be a positive integer, got ${objectBytesMax}`);
  }
}

/** Wraps bytes as a one-chunk stream, so adapters handle a single body type. */
export function toStream(
  body: ReadableStream<Uint8Array> | Uint8Array,
): ReadableStream<Uint8Array> {
  if (body instanceof ReadableStream) return body;
  return new ReadableStream({
    start(controller) {
      if (body.byteLength > 0) controller.enqueue(body);
      controller.close();
    },
  });
}

/**
 * Every object of `bucket` (under `prefix`), in key order, fetching page after page.
 * @example
 * ```ts
 * for await (const item of listAll(store, "demo-in-bucket")) console.log(item.key);
 * ```
 */
export async function* listAll(
  store: Pick<BlobStore, "list">,
  bucket: string,
  options: Omit<ListOptions, "token"> = {},
): AsyncGenerator<BlobInfo> {
  let token: string | undefined;
  do {
    const page = await store.list(bucket, { ...options, token });
    yield* page.items;
    token = page.nextToken;
  } while (token);
}

/** Reads a whole object body; for small objects (labels, test fixtures). */
export async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}
