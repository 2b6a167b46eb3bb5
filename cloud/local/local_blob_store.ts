/**
 * The embedded blob store: one directory per bucket, one file per object. Writes go to a temp
 * file that is renamed into place, so a reader sees the old object or the whole new one.
 * @module
 */
import { join } from "node:path";
import {
  type BlobInfo,
  type BlobObject,
  type BlobPage,
  type BlobStore,
  type ListOptions,
  OBJECT_BYTES_MAX_DEFAULT,
  resolveListOptions,
  toStream,
  validateBucket,
  validateKey,
  validateObjectBytesMax,
} from "../blob_store.ts";
import { type Clock, systemClock } from "../clock.ts";
import { LimitExceededError, NotFoundError } from "../errors.ts";
import { toStorageError } from "./_fs_errors.ts";

/** Options for {@linkcode LocalBlobStore.open}. */
export interface LocalBlobStoreOptions {
  /** Largest object accepted. @default {OBJECT_BYTES_MAX_DEFAULT} (64 MiB) */
  objectBytesMax?: number;
  /**
   * Flush each object to the disk before it becomes visible, so a power cut never leaves an
   * empty file under a key. Turn off only for throwaway data. @default {true}
   */
  syncData?: boolean;
  /** Temp files of puts interrupted this long ago are swept at open. @default {3600000} */
  staleTempMs?: number;
  /** Used only for the stale temp sweep. @default {systemClock} */
  clock?: Clock;
}

/**
 * Object files end in a character keys may not contain, so an object `a` (file `a~obj`) never
 * collides with the directory `a/` that holds object `a/b`.
 */
const OBJECT_SUFFIX = "~obj";
/** Temp files live beside the buckets (same file system, so rename is atomic) under a name no bucket can have. */
const TEMP_DIR = ".tmp";

/**
 * A {@linkcode BlobStore} in a local directory.
 *
 * @example
 * ```ts
 * const store = await LocalBlobStore.open("./data/blobs");
 * await store.ensureBucket("demo-in-bucket");
 * await store.put("demo-in-bucket", "test_000.jpg", await Deno.readFile("test_000.jpg"));
 * ```
 */
export class LocalBlobStore implements BlobStore {
  readonly #root: string;
  readonly #objectBytesMax: number;
  readonly #syncData: boolean;
  /** Buckets seen to exist: checking on every call cost a stat per request on the hot path. */
  readonly #bucketsSeen = new Set<string>();

  private constructor(root: string, objectBytesMax: number, syncData: boolean) {
    this.#root = root;
    this.#objectBytesMax = objectBytesMax;
    this.#syncData = syncData;
  }

  /**
   * Opens (creating if needed) a store rooted at `root` and sweeps temp files left by puts that
   * were interrupted.
   *
   * @param root the data directory
   * @param options limits and durability
   * @returns the store
   * @throws {StorageError} when the directory cannot be created or written
   * @throws {RangeError} for a bad `objectBytesMax`
   */
  static async open(root: string, options: LocalBlobStoreOptions = {}): Promise<LocalBlobStore> {
    const objectBytesMax = options.objectBytesMax ?? OBJECT_BYTES_MAX_DEFAULT;
    validateObjectBytesMax(objectBytesMax);
    const tempDir = join(root, TEMP_DIR);
    try {
      await Deno.mkdir(tempDir, { recursive: true });
    } catch (error) {
      throw toStorageError(error, tempDir, "creating the blob data directory");
    }
    await sweepTemp(tempDir, (options.clock ?? systemClock).nowMs(), options.staleTempMs ?? 3.6e6);
    return new LocalBlobStore(root, objectBytesMax, options.syncData ?? true);
  }

  async ensureBucket(bucket: string): Promise<void> {
    validateBucket(bucket);
    const dir = join(this.#root, bucket);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      throw toStorageError(error, dir, "creating the bucket directory");
    }
  }

  async put(
    bucket: string,
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<BlobInfo> {
    const path = await this.#objectPath(bucket, key);
    const temp = join(this.#root, TEMP_DIR, `${crypto.randomUUID()}.part`);
    try {
      // The temp file's own stat is the object's: rename keeps the inode, size and mtime.
      const stat = await this.#writeTemp(temp, toStream(body), bucket, key);
      await this.#renameIntoPlace(bucket, temp, path);
      return toInfo(key, stat);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw toStorageError(error, path, `writing object ${bucket}/${key}`);
    }
  }

  async get(bucket: string, key: string): Promise<BlobObject> {
    const path = await this.#objectPath(bucket, key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw notFoundOr(error, bucket, key);
    }
    // Stat the open handle: a concurrent put renames a new file over the path, but we keep
    // reading the inode we opened, so size and bytes agree.
    const stat = await file.stat();
    return { info: toInfo(key, stat), body: file.readable };
  }

  async head(bucket: string, key: string): Promise<BlobInfo> {
    const path = await this.#objectPath(bucket, key);
    try {
      return toInfo(key, await Deno.stat(path));
    } catch (error) {
      throw notFoundOr(error, bucket, key);
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    const path = await this.#objectPath(bucket, key);
    try {
      await Deno.remove(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw toStorageError(error, path, `deleting object ${bucket}/${key}`);
    }
    await pruneEmptyDirs(join(this.#root, bucket), key);
  }

  async list(bucket: string, options?: ListOptions): Promise<BlobPage> {
    validateBucket(bucket);
    const { prefix, token, pageKeysMax } = resolveListOptions(options);
    const bucketDir = join(this.#root, bucket);
    await this.#requireBucket(bucket);
    const prefixDir = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const keys: string[] = [];
    await collectKeys(bucketDir, prefixDir, keys);
    const after = token === undefined ? undefined : decodeToken(token);
    const matching = keys
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after))
      .sort();
    const items: BlobInfo[] = [];
    let i = 0;
    for (; i < matching.length && items.length < pageKeysMax; i++) {
      try {
        items.push(toInfo(matching[i], await Deno.stat(keyPath(bucketDir, matching[i]))));
      } catch (error) {
        // Deleted between the walk and the stat: it is simply not in the listing.
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    const more = i < matching.length;
    return more && items.length > 0
      ? { items, nextToken: encodeToken(items[items.length - 1].key) }
      : { items };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #objectPath(bucket: string, key: string): Promise<string> {
    validateBucket(bucket);
    validateKey(key);
    await this.#requireBucket(bucket);
    return keyPath(join(this.#root, bucket), key);
  }

  async #requireBucket(bucket: string): Promise<void> {
    if (this.#bucketsSeen.has(bucket)) return;
    try {
      const stat = await Deno.stat(join(this.#root, bucket));
      if (stat.isDirectory) {
        this.#bucketsSeen.add(bucket);
        return;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    throw new NotFoundError("bucket", bucket, "create it with ensureBucket first");
  }

  async #writeTemp(
    temp: string,
    body: ReadableStream<Uint8Array>,
    bucket: string,
    key: string,
  ): Promise<Deno.FileInfo> {
    const file = await Deno.open(temp, { write: true, createNew: true });
    const reader = body.getReader();
    let bytes = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (bytes > this.#objectBytesMax) {
          await reader.cancel("object too large").catch(() => {});
          throw new LimitExceededError(
            "objectBytesMax",
            this.#objectBytesMax,
            bytes,
            `object ${bucket}/${key} (bytes so far)`,
          );
        }
        for (let offset = 0; offset < value.byteLength;) {
          offset += await file.write(value.subarray(offset));
        }
      }
      if (this.#syncData) await file.syncData();
      return await file.stat();
    } finally {
      reader.releaseLock();
      file.close();
    }
  }

  /**
   * Renames the finished temp file over the object's path. The rename is tried first: a flat
   * key's folder is the bucket, which exists, so the common case costs one call. Only when the
   * parent is missing (a key with folders, or a concurrent delete pruned it) is it created,
   * after checking the bucket itself still exists, so a removed bucket is an error rather than
   * silently recreated. Retries are bounded so a pathological race cannot loop forever.
   */
  async #renameIntoPlace(bucket: string, temp: string, path: string): Promise<void> {
    const attemptsMax = 5;
    for (let attempt = 1;; attempt++) {
      try {
        await Deno.rename(temp, path);
        return;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound) || attempt >= attemptsMax) throw error;
      }
      this.#bucketsSeen.delete(bucket);
      await this.#requireBucket(bucket);
      await Deno.mkdir(keyPathParent(path), { recursive: true });
    }
  }
}

function keyPathParent(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

function keyPath(bucketDir: string, key: string): string {
  return join(bucketDir, ...key.split("/")) + OBJECT_SUFFIX;
}

function toInfo(key: string, stat: Deno.FileInfo): BlobInfo {
  return { key, sizeBytes: stat.size, lastModifiedMs: stat.mtime?.getTime() ?? 0 };
}

function notFoundOr(error: unknown, bucket: string, key: string): unknown {
  if (error instanceof Deno.errors.NotFound) {
    return new NotFoundError("object", `${bucket}/${key}`, "check the key, or put it first", {
      cause: error,
    });
  }
  return error;
}

/** Tokens are opaque to callers; inside they are the last key returned. */
function encodeToken(key: string): string {
  return btoa(key);
}

function decodeToken(token: string): string {
  try {
    return atob(token);
  } catch {
    throw new RangeError(`list token ${JSON.stringify(token)} is not one this store returned`);
  }
}

async function pruneEmptyDirs(bucketDir: string, key: string): Promise<void> {
  const segments = key.split("/").slice(0, -1);
  while (segments.length > 0) {
    try {
      await Deno.remove(join(bucketDir, ...segments));
    } catch {
      return; // not empty (or already gone): stop pruning
    }
    segments.pop();
  }
}

async function collectKeys(bucketDir: string, relDir: string, out: string[]): Promise<void> {
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir(relDir === "" ? bucketDir : join(bucketDir, relDir));
    for await (const entry of entries) {
      const rel = relDir === "" ? entry.name : `${relDir}/${entry.name}`;
      if (entry.isDirectory) await collectKeys(bucketDir, rel, out);
      else if (entry.isFile && entry.name.endsWith(OBJECT_SUFFIX)) {
        out.push(rel.slice(0, -OBJECT_SUFFIX.length));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function sweepTemp(tempDir: string, nowMs: number, staleTempMs: number): Promise<void> {
  for await (const entry of Deno.readDir(tempDir)) {
    const path = join(tempDir, entry.name);
    try {
      const stat = await Deno.stat(path);
      if (nowMs - (stat.mtime?.getTime() ?? 0) > staleTempMs) await Deno.remove(path);
    } catch {
      // Another process swept it first.
    }
  }
}
