/**
 * The message queue port (SQS standard-queue semantics): at-least-once delivery, visibility
 * timeouts, receipts that go stale on redelivery, long polling, dead-letter queues.
 * @module
 */
import { InvalidNameError, LimitExceededError } from "./errors.ts";
import { checkInteger } from "../internal/mod.ts";

/** How a queue behaves; fixed when the queue is first created. */
export interface QueueConfig {
  /**
   * Largest body accepted, in UTF-8 bytes, 1..{@linkcode MESSAGE_BYTES_MAX}.
   * DESIGN.md's request queue uses 1024. @default {262144}
   */
  messageBytesMax?: number;
  /** How long a received message stays hidden from other consumers. @default {30000} */
  visibilityTimeoutMs?: number;
  /**
   * Where a message goes once it has been received `receiveCountMax` times without being
   * deleted. The dead-letter queue must exist already. @default {undefined} (no dead-lettering)
   */
  deadLetter?: { queue: string; receiveCountMax: number };
}

/** Options for {@linkcode MessageQueue.send}. */
export interface SendOptions {
  /** Keep the message invisible (delayed) this long first, 0..{@linkcode DELAY_MS_MAX}. @default {0} */
  delayMs?: number;
}

/** Options for {@linkcode MessageQueue.receive}. */
export interface ReceiveOptions {
  /** At most this many messages, 1..{@linkcode RECEIVE_MESSAGES_MAX}. @default {1} */
  messagesMax?: number;
  /**
   * Long polling: wait up to this long for a first message, 0..{@linkcode WAIT_MS_MAX}.
   * @default {0}
   */
  waitMs?: number;
  /** Overrides the queue's visibility timeout for these messages. */
  visibilityTimeoutMs?: number;
  /** Ends a long poll early with whatever arrived (possibly nothing). */
  signal?: AbortSignal;
}

/** One delivery of a message. */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly body: string;
  /** Names this delivery; delete and changeVisibility need it. Stale after redelivery. */
  readonly receipt: string;
  /** How many times this message has been delivered, including this time. */
  readonly receiveCount: number;
}

/** Approximate counts, as SQS reports them. */
export interface QueueCounts {
  /** Ready to be received now. */
  readonly visible: number;
  /** Received and within their visibility timeout. */
  readonly inFlight: number;
  /** Sent with a delay that has not passed yet. */
  readonly delayed: number;
}

/**
 * The message queue port.
 *
 * Semantics every adapter keeps (checked by `cloud/contract/message_queue_contract.ts`, where a
 * target that cannot show a behaviour says so): a sent message is delivered at least once; while
 * a delivery's visibility timeout runs no other receive returns that message; once it runs out
 * the message is delivered again with a new receipt and the old receipt is stale (delete with a
 * stale receipt resolves but deletes nothing, as in SQS; changeVisibility with it throws
 * {@linkcode StaleReceiptError}).
 */
export interface MessageQueue {
  /** Creates the queue if missing; an existing queue keeps its config. */
  ensureQueue(queue: string, config?: QueueConfig): Promise<void>;
  /**
   * @throws {LimitExceededError} (`messageBytesMax`) for an oversize body
   * @throws {NotFoundError} when the queue does not exist
   */
  send(queue: string, body: string, options?: SendOptions): Promise<{ messageId: string }>;
  /** Up to `messagesMax` messages; empty when none arrived within `waitMs`. */
  receive(queue: string, options?: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Deletes the delivery named by `receipt`; a stale receipt deletes nothing. */
  delete(queue: string, receipt: string): Promise<void>;
  /**
   * Sets how long from now the delivery stays hidden; 0 makes it visible at once.
   * @throws {StaleReceiptError} when the receipt no longer names the current delivery
   */
  changeVisibility(queue: string, receipt: string, visibilityTimeoutMs: number): Promise<void>;
  counts(queue: string): Promise<QueueCounts>;
  /** Removes every message. */
  purge(queue: string): Promise<void>;
  /** Releases clients, database handles and timers. */
  close(): Promise<void>;
}

/** SQS's largest message body, in bytes. */
export const MESSAGE_BYTES_MAX = 262_144;
/** SQS returns at most 10 messages per receive. */
export const RECEIVE_MESSAGES_MAX = 10;
/** SQS long polls wait at most 20 s. */
export const WAIT_MS_MAX = 20_000;
/** SQS visibility timeouts are at most 12 h. */
export const VISIBILITY_TIMEOUT_MS_MAX = 43_200_000;
/** SQS delays are at most 15 min. */
export const DELAY_MS_MAX = 900_000;
/** SQS accepts maxReceiveCount 1..1000. */
export const RECEIVE_COUNT_MAX_LIMIT = 1000;
/** SQS's default visibility timeout. */
export const VISIBILITY_TIMEOUT_MS_DEFAULT = 30_000;

/** A queue config with every default filled in. */
export interface ResolvedQueueConfig {
  readonly messageBytesMax: number;
  readonly visibilityTimeoutMs: number;
  readonly deadLetter?: { readonly queue: string; readonly receiveCountMax: number };
}

const QUEUE_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

/** Whether `name` is a valid queue name: 1–80 letters, digits, hyphens and underscores (SQS's rule). */
export function isQueueName(name: unknown): name is string {
  return typeof name === "string" && QUEUE_PATTERN.test(name);
}

/**
 * Checks a queue name: 1–80 letters, digits, hyphens and underscores (SQS's rule).
 * @throws {InvalidNameError}
 * @example
 * ```ts
 * validateQueueName("demo-req-queue");
 * ```
 */
export function validateQueueName(queue: string): void {
  if (!isQueueName(queue)) {
    throw new InvalidNameError(
      "queue",
      String(queue),
      "use 1-80 letters, digits, hyphens and underscores",
    );
  }
}

/**
 * Fills defaults and checks ranges of a queue config.
 * @throws {RangeError} naming the setting that is out of range
 */
export function resolveQueueConfig(config: QueueConfig = {}): ResolvedQueueConfig {
  const messageBytesMax = config.messageBytesMax ?? MESSAGE_BYTES_MAX;
  const visibilityTimeoutMs = config.visibilityTimeoutMs ?? VISIBILITY_TIMEOUT_MS_DEFAULT;
  checkInteger("messageBytesMax", messageBytesMax, 1, MESSAGE_BYTES_MAX);
  checkInteger("visibilityTimeoutMs", visibilityTimeoutMs, 0, VISIBILITY_TIMEOUT_MS_MAX);
  if (config.deadLetter) {
    validateQueueName(config.deadLetter.queue);
    checkInteger(
      "deadLetter.receiveCountMax",
      config.deadLetter.receiveCountMax,
      1,
      RECEIVE_COUNT_MAX_LIMIT,
    );
  }
  return { messageBytesMax, visibilityTimeoutMs, deadLetter: config.deadLetter };
}

/**
 * Checks receive options and fills defaults.
 * @throws {RangeError} naming the option that is out of range
 */
export function resolveReceiveOptions(
  options: ReceiveOptions = {},
): { messagesMax: number; waitMs: number; visibilityTimeoutMs?: number; signal?: AbortSignal } {
  const messagesMax = options.messagesMax ?? 1;
  const waitMs = options.waitMs ?? 0;
  checkInteger("messagesMax", messagesMax, 1, RECEIVE_MESSAGES_MAX);
  checkInteger("waitMs", waitMs, 0, WAIT_MS_MAX);
  if (options.visibilityTimeoutMs !== undefined) {
    checkInteger("visibilityTimeoutMs", options.visibilityTimeoutMs, 0, VISIBILITY_TIMEOUT_MS_MAX);
  }
  return { ...options, messagesMax, waitMs };
}

/**
 * Checks a visibility timeout given to changeVisibility.
 * @throws {RangeError} when out of 0..VISIBILITY_TIMEOUT_MS_MAX
 */
export function validateVisibilityTimeoutMs(visibilityTimeoutMs: number): void {
  checkInteger("visibilityTimeoutMs", visibilityTimeoutMs, 0, VISIBILITY_TIMEOUT_MS_MAX);
}

/**
 * Checks send options and fills defaults.
 * @throws {RangeError} for a delay out of range
 */
export function resolveSendOptions(options: SendOptions = {}): { delayMs: number } {
  const delayMs = options.delayMs ?? 0;
  checkInteger("delayMs", delayMs, 0, DELAY_MS_MAX);
  return { delayMs };
}

/** UTF-8 length of a message body, the unit SQS limits. */
export function bodyBytes(body: string): number {
  return new TextEncoder().encode(body).length;
}

/**
 * Refuses a body over the queue's limit, naming it.
 * @throws {LimitExceededError} with `limitName` `messageBytesMax`
 * @throws {TypeError} when the body is not a string
 */
export function checkBodySize(queue: string, body: string, messageBytesMax: number): void {
  if (typeof body !== "string") {
    throw new TypeError(`message body must be a string, got ${typeof body}`);
  }
  const bytes = bodyBytes(body);
  if (bytes > messageBytesMax) {
    throw new LimitExceededError(
      "messageBytesMax",
      messageBytesMax,
      bytes,
      `message body for queue ${JSON.stringify(queue)} (bytes; send the blob key, not its data)`,
    );
  }
}
