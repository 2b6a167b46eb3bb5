/**
 * The typed errors every cloud adapter throws, so callers handle one vocabulary whether the
 * backend is a directory, SQLite, S3, SQS or EC2. Each message says what was wrong and what to do.
 * @module
 */

/** What an operation failed on; lets callers branch without parsing messages. */
export type CloudErrorCode =
  | "invalid_name"
  | "not_found"
  | "limit_exceeded"
  | "stale_receipt"
  | "invalid_state"
  | "storage"
  | "corrupt_store"
  | "service";

/** Base class of every error the cloud ports throw on purpose. */
export class CloudError extends Error {
  /** A stable machine-readable kind. */
  readonly code: CloudErrorCode;
  constructor(code: CloudErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bucket, key, queue or instance name broke the documented naming rules. */
export class InvalidNameError extends CloudError {
  /** What kind of name: "key", "bucket", "queue", "instance id". */
  readonly kind: string;
  /** The offending value, possibly truncated for display. */
  readonly value: string;
  constructor(kind: string, value: string, rule: string) {
    const shown = value.length > 80 ? `${value.slice(0, 80)}… (${value.length} chars)` : value;
    super("invalid_name", `invalid ${kind} ${JSON.stringify(shown)}: ${rule}`);
    this.kind = kind;
    this.value = value;
  }
}

/** What kind of thing a {@linkcode NotFoundError} did not find. */
export type NotFoundKind = "bucket" | "object" | "queue" | "instance";

/** A bucket, object, queue or instance does not exist. */
export class NotFoundError extends CloudError {
  /** What kind of thing: a missing bucket or queue is a deployment error, a missing object not. */
  readonly kind: NotFoundKind;
  /** Its name or id. */
  readonly resource: string;
  constructor(kind: NotFoundKind, resource: string, hint: string, options?: ErrorOptions) {
    super("not_found", `${kind} ${JSON.stringify(resource)} does not exist; ${hint}`, options);
    this.kind = kind;
    this.resource = resource;
  }
}

/** A named limit was exceeded (object bytes, message bytes, batch size, instance count...). */
export class LimitExceededError extends CloudError {
  /** The limit's name as it appears in options, e.g. `messageBytesMax`. */
  readonly limitName: string;
  /** The limit's value. */
  readonly limit: number;
  /** What was asked for (at least this much, when the whole size is not known). */
  readonly actual: number;
  constructor(limitName: string, limit: number, actual: number, what: string) {
    super("limit_exceeded", `${what} is ${actual}, over ${limitName} = ${limit}`);
    this.limitName = limitName;
    this.limit = limit;
    this.actual = actual;
  }
}

/**
 * A receipt no longer names the current delivery of a message: it was redelivered (another
 * consumer holds it now), deleted, or its visibility timeout ran out.
 */
export class StaleReceiptError extends CloudError {
  constructor(queue: string, detail: string) {
    super(
      "stale_receipt",
      `receipt for queue ${JSON.stringify(queue)} is stale (${detail}); ` +
        `the message was redelivered or deleted: drop this copy and move on`,
    );
  }
}

/** The resource is in a state that does not allow the operation (EC2's IncorrectInstanceState). */
export class InvalidStateError extends CloudError {
  constructor(message: string, options?: ErrorOptions) {
    super("invalid_state", message, options);
  }
}

/** Why the local disk refused, so callers branch without parsing messages. */
export type StorageReason =
  | "disk_full"
  | "read_only"
  | "permission"
  | "io"
  | "too_large"
  | "locked"
  | "other";

/** Options of {@linkcode StorageError}: the cause and why the disk refused. */
export interface StorageErrorOptions extends ErrorOptions {
  /** @default {"other"} */
  reason?: StorageReason;
}

/**
 * The local disk refused: full, read-only, permission denied. Nothing partial was kept.
 *
 * The message says what happened and what to do but never names the server's path (it may reach
 * an HTTP client); `path` carries it for the operator's log.
 */
export class StorageError extends CloudError {
  /** The path involved (for logs only: never shown to clients). */
  readonly path: string;
  /** Why: a full disk (`disk_full`) is answered 507 and clears itself once space is freed. */
  readonly reason: StorageReason;
  constructor(path: string, message: string, options?: StorageErrorOptions) {
    super("storage", message, options);
    this.path = path;
    this.reason = options?.reason ?? "other";
  }
}

/**
 * A store file exists but is not what we wrote (not SQLite, wrong schema, damaged). The message
 * never names the server's path; `path` carries it for the operator's log.
 */
export class CorruptStoreError extends CloudError {
  /** The file involved (for logs only). */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super("corrupt_store", message, options);
    this.path = path;
  }
}

/** Whether `error` is a {@linkcode StorageError} saying the disk is full. */
export function isDiskFull(error: unknown): error is StorageError {
  return error instanceof StorageError && error.reason === "disk_full";
}

/** The remote service failed after the SDK's retries, or answered something unexpected. */
export class ServiceError extends CloudError {
  /** The service's own error name, e.g. `ThrottlingException`. */
  readonly serviceCode: string;
  constructor(serviceCode: string, message: string, options?: ErrorOptions) {
    super("service", `${serviceCode}: ${message}`, options);
    this.serviceCode = serviceCode;
  }
}
