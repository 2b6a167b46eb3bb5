/**
 * The blob store on Amazon S3: streamed multipart uploads through `@aws-sdk/lib-storage`,
 * streamed downloads, ListObjectsV2 pagination, S3 errors mapped to our typed errors.
 * @module
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
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
import { LimitExceededError, NotFoundError } from "../errors.ts";
import { type AwsClientOptions, clientConfig, errorName, toServiceError } from "./_aws_common.ts";

/** Options for {@linkcode S3BlobStore}. */
export interface S3BlobStoreOptions extends AwsClientOptions {
  /** Largest object accepted; counted while streaming. @default {OBJECT_BYTES_MAX_DEFAULT} (64 MiB) */
  objectBytesMax?: number;
  /** Multipart part size; S3's minimum is 5 MiB. @default {5242880} */
  partBytes?: number;
  /** Parts uploaded at once (each held in memory). @default {2} */
  partsInFlightMax?: number;
  /**
   * Path-style URLs (`endpoint/bucket/key`); needed by emulators such as s3rver and MinIO.
   * @default {false}
   */
  forcePathStyle?: boolean;
  /**
   * When the SDK adds CRC checksums. "when_required" for emulators that store aws-chunked
   * trailers verbatim (s3rver does: streamed bodies come back corrupted otherwise).
   * @default {"when_supported"}
   */
  checksums?: "when_supported" | "when_required";
  /** Use this client instead of building one (tests, custom middleware). */
  client?: S3Client;
}

/** S3 refuses multipart parts below 5 MiB (except the last). */
export const PART_BYTES_MIN = 5 * 1024 * 1024;

/**
 * A {@linkcode BlobStore} on S3.
 *
 * @example
 * ```ts
 * const store = new S3BlobStore({ region: "us-east-1" });
 * await store.put("demo-in-bucket", "test_000.jpg", uploadStream);
 * ```
 */
export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #region: string;
  readonly #objectBytesMax: number;
  readonly #partBytes: number;
  readonly #partsInFlightMax: number;

  /**
   * @param options region, endpoint, limits
   * @throws {RangeError} for a bad limit or region
   */
  constructor(options: S3BlobStoreOptions = {}) {
    const config = clientConfig(options);
    this.#region = config.region;
    this.#objectBytesMax = options.objectBytesMax ?? OBJECT_BYTES_MAX_DEFAULT;
    validateObjectBytesMax(this.#objectBytesMax);
    this.#partBytes = options.partBytes ?? PART_BYTES_MIN;
    if (!Number.isSafeInteger(this.#partBytes) || this.#partBytes < PART_BYTES_MIN) {
      throw new RangeError(
        `partBytes must be an integer >= ${PART_BYTES_MIN}, got ${this.#partBytes}`,
      );
    }
    this.#partsInFlightMax = options.partsInFlightMax ?? 2;
    if (!Number.isInteger(this.#partsInFlightMax) || this.#partsInFlightMax < 1) {
      throw new RangeError(
        `partsInFlightMax must be a positive integer, got ${this.#partsInFlightMax}`,
      );
    }
    const checksums = options.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new S3Client({
      ...config,
      forcePathStyle: options.forcePathStyle ?? false,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
    });
  }

  async ensureBucket(bucket: string): Promise<void> {
    validateBucket(bucket);
    try {
      await this.#client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          // us-east-1 is S3's default location and must not be named.
          ...(this.#region === "us-east-1"
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: this.#region as never } }),
        }),
      );
    } catch (error) {
      if (errorName(error) === "BucketAlreadyOwnedByYou") return;
      throw toServiceError(error, `creating bucket ${bucket}`);
    }
  }

  async put(
    bucket: string,
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<BlobInfo> {
    validateBucket(bucket);
    validateKey(key);
    let overLimit: LimitExceededError | undefined;
    let bytes = 0;
    const limit = this.#objectBytesMax;
    const counted = toStream(body).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          if (bytes > limit) {
            overLimit = new LimitExceededError(
              "objectBytesMax",
              limit,
              bytes,
              `object ${bucket}/${key} (bytes so far)`,
            );
            controller.error(overLimit);
            return;
          }
          controller.enqueue(chunk);
        },
      }),
    );
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: bucket, Key: key, Body: counted },
      partSize: this.#partBytes,
      queueSize: this.#partsInFlightMax,
      // On failure abort the multipart upload: S3 then keeps no parts and no object.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      if (overLimit) throw overLimit;
      throw this.#mapError(error, bucket, key, "put");
    }
    return this.head(bucket, key);
  }

  async get(bucket: string, key: string): Promise<BlobObject> {
    validateBucket(bucket);
    validateKey(key);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = out.Body?.transformToWebStream() as ReadableStream<Uint8Array> | undefined;
      return {
        info: {
          key,
          sizeBytes: out.ContentLength ?? 0,
          lastModifiedMs: out.LastModified?.getTime() ?? 0,
        },
        body: body ?? toStream(new Uint8Array(0)),
      };
    } catch (error) {
      throw this.#mapError(error, bucket, key, "get");
    }
  }

  async head(bucket: string, key: string): Promise<BlobInfo> {
    validateBucket(bucket);
    validateKey(key);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        key,
        sizeBytes: out.ContentLength ?? 0,
        lastModifiedMs: out.LastModified?.getTime() ?? 0,
      };
    } catch (error) {
      throw this.#mapError(error, bucket, key, "head");
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    validateBucket(bucket);
    validateKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      throw this.#mapError(error, bucket, key, "delete");
    }
  }

  async list(bucket: string, options?: ListOptions): Promise<BlobPage> {
    validateBucket(bucket);
    const { prefix, token, pageKeysMax } = resolveListOptions(options);
    try {
      const out = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix === "" ? undefined : prefix,
          ContinuationToken: token,
          MaxKeys: pageKeysMax,
        }),
      );
      const items = (out.Contents ?? []).map((o) => ({
        key: o.Key ?? "",
        sizeBytes: o.Size ?? 0,
        lastModifiedMs: o.LastModified?.getTime() ?? 0,
      }));
      return out.IsTruncated && out.NextContinuationToken
        ? { items, nextToken: out.NextContinuationToken }
        : { items };
    } catch (error) {
      throw this.#mapError(error, bucket, undefined, "list");
    }
  }

  close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
    return Promise.resolve();
  }

  #mapError(error: unknown, bucket: string, key: string | undefined, doing: string): unknown {
    const name = errorName(error);
    if (name === "NoSuchBucket") {
      return new NotFoundError("bucket", bucket, "create it with ensureBucket first", {
        cause: error,
      });
    }
    // HEAD answers a bare 404 "NotFound" for a missing key (and for a missing bucket).
    if (name === "NoSuchKey" || name === "NotFound") {
      return new NotFoundError("object", `${bucket}/${key}`, "check the key, or put it first", {
        cause: error,
      });
    }
    return toServiceError(error, `${doing} ${bucket}/${key ?? ""}`);
  }
}
