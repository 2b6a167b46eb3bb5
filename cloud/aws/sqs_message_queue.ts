/**
 * The message queue on Amazon SQS (standard queues). Milliseconds in our port become SQS's whole
 * seconds, rounded up. Bodies are checked against the queue's MaximumMessageSize before sending,
 * so an oversize message fails with the same typed error as the embedded queue.
 * @module
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SQSClientConfig,
} from "@aws-sdk/client-sqs";
import { AwsQueryProtocol } from "@aws-sdk/core/protocols";
import { InvalidNameError, NotFoundError, StaleReceiptError } from "../errors.ts";
import {
  checkBodySize,
  type MessageQueue,
  type QueueConfig,
  type QueueCounts,
  type ReceivedMessage,
  type ReceiveOptions,
  resolveQueueConfig,
  resolveReceiveOptions,
  resolveSendOptions,
  type SendOptions,
  validateQueueName,
  validateVisibilityTimeoutMs,
} from "../message_queue.ts";
import { type AwsClientOptions, clientConfig, errorName, toServiceError } from "./_aws_common.ts";

/** Options for {@linkcode SqsMessageQueue}. */
export interface SqsMessageQueueOptions extends AwsClientOptions {
  /**
   * The wire protocol. SQS speaks both; the SDK defaults to AWS JSON 1.0. "query" is the older
   * form-encoded protocol, for emulators that only speak it (sqslite). @default {"json"}
   */
  protocol?: "json" | "query";
  /** Use this client instead of building one (tests, custom middleware). */
  client?: SQSClient;
}

const NOT_FOUND_NAMES = new Set([
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "NonExistentQueue",
]);
const STALE_NAMES = new Set(["MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"]);

/** Seconds for SQS from our milliseconds, rounded up (SQS has no finer unit). */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * The SQS client settings of these options (region, endpoint, and the wire protocol), for a
 * client shared with other code (`deno task aws up` tags and deletes queues with it).
 * @throws {RangeError} for a bad region or attempt count
 */
export function sqsClientConfig(options: SqsMessageQueueOptions): SQSClientConfig {
  const config: SQSClientConfig = clientConfig(options);
  if (options.protocol === "query") {
    // The SDK's own awsQuery implementation, with SQS's namespace and API version.
    Object.assign(config, {
      protocol: AwsQueryProtocol,
      protocolSettings: {
        defaultNamespace: "com.amazonaws.sqs",
        xmlNamespace: "http://queue.amazonaws.com/doc/2012-11-05/",
        version: "2012-11-05",
      },
    });
  }
  return config;
}

/**
 * A {@linkcode MessageQueue} on SQS.
 *
 * @example
 * ```ts
 * const mq = new SqsMessageQueue({ region: "us-east-1" });
 * await mq.ensureQueue("demo-req-queue", { messageBytesMax: 1024 });
 * ```
 */
export class SqsMessageQueue implements MessageQueue {
  readonly #client: SQSClient;
  readonly #ownsClient: boolean;
  readonly #urls = new Map<string, string>();
  readonly #bodyLimits = new Map<string, number>();

  /**
   * @param options region, endpoint, protocol
   * @throws {RangeError} for a bad region or attempt count
   */
  constructor(options: SqsMessageQueueOptions = {}) {
    const config = sqsClientConfig(options);
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new SQSClient(config);
  }

  async ensureQueue(queue: string, config?: QueueConfig): Promise<void> {
    validateQueueName(queue);
    const resolved = resolveQueueConfig(config);
    const attributes: Record<string, string> = {
      MaximumMessageSize: String(resolved.messageBytesMax),
      VisibilityTimeout: String(seconds(resolved.visibilityTimeoutMs)),
    };
    if (resolved.deadLetter) {
      const dlqUrl = await this.#url(resolved.deadLetter.queue);
      const arn = await this.#attributes(resolved.deadLetter.queue, dlqUrl, ["QueueArn"]);
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: arn.QueueArn,
        maxReceiveCount: resolved.deadLetter.receiveCountMax,
      });
    }
    try {
      const out = await this.#client.send(
        new CreateQueueCommand({ QueueName: queue, Attributes: attributes }),
      );
      if (out.QueueUrl) this.#urls.set(queue, out.QueueUrl);
    } catch (error) {
      // An existing queue keeps its config (our port's rule); SQS refuses a differing create.
      if (!/QueueAlreadyExists|QueueNameExists/.test(errorName(error))) {
        throw this.#mapError(error, queue, "creating queue");
      }
    }
  }

  async send(queue: string, body: string, options?: SendOptions): Promise<{ messageId: string }> {
    const url = await this.#url(queue);
    checkBodySize(queue, body, await this.#bodyLimit(queue, url));
    const { delayMs } = resolveSendOptions(options);
    try {
      const out = await this.#client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: body,
          DelaySeconds: delayMs > 0 ? seconds(delayMs) : undefined,
        }),
      );
      return { messageId: out.MessageId ?? "" };
    } catch (error) {
      throw this.#mapError(error, queue, "send");
    }
  }

  async receive(queue: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> {
    const url = await this.#url(queue);
    const { messagesMax, waitMs, visibilityTimeoutMs, signal } = resolveReceiveOptions(options);
    if (signal?.aborted) return [];
    try {
      const out = await this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: messagesMax,
          WaitTimeSeconds: seconds(waitMs),
          VisibilityTimeout: visibilityTimeoutMs === undefined
            ? undefined
            : seconds(visibilityTimeoutMs),
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
          // The deprecated spelling too: older SQS implementations read only this one.
          AttributeNames: ["ApproximateReceiveCount" as never],
        }),
        { abortSignal: signal },
      );
      return (out.Messages ?? []).map((m) => ({
        messageId: m.MessageId ?? "",
        body: m.Body ?? "",
        receipt: m.ReceiptHandle ?? "",
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      }));
    } catch (error) {
      if (signal?.aborted) return [];
      throw this.#mapError(error, queue, "receive");
    }
  }

  async delete(queue: string, receipt: string): Promise<void> {
    const url = await this.#url(queue);
    checkReceipt(receipt);
    try {
      await this.#client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: receipt }));
    } catch (error) {
      throw this.#mapError(error, queue, "delete");
    }
  }

  async changeVisibility(
    queue: string,
    receipt: string,
    visibilityTimeoutMs: number,
  ): Promise<void> {
    const url = await this.#url(queue);
    checkReceipt(receipt);
    validateVisibilityTimeoutMs(visibilityTimeoutMs);
    try {
      await this.#client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: receipt,
          VisibilityTimeout: seconds(visibilityTimeoutMs),
        }),
      );
    } catch (error) {
      const name = errorName(error);
      const message = (error as Error)?.message ?? "";
      if (STALE_NAMES.has(name) || /expired|not available|not in ?flight/i.test(message)) {
        throw new StaleReceiptError(queue, `${name}: ${message}`);
      }
      throw this.#mapError(error, queue, "changeVisibility");
    }
  }

  async counts(queue: string): Promise<QueueCounts> {
    const url = await this.#url(queue);
    const a = await this.#attributes(queue, url, [
      "ApproximateNumberOfMessages",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesDelayed",
    ]);
    return {
      visible: Number(a.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  async purge(queue: string): Promise<void> {
    const url = await this.#url(queue);
    try {
      await this.#client.send(new PurgeQueueCommand({ QueueUrl: url }));
    } catch (error) {
      throw this.#mapError(error, queue, "purge");
    }
  }

  close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
    return Promise.resolve();
  }

  async #url(queue: string): Promise<string> {
    validateQueueName(queue);
    const cached = this.#urls.get(queue);
    if (cached) return cached;
    try {
      const out = await this.#client.send(new GetQueueUrlCommand({ QueueName: queue }));
      if (!out.QueueUrl) throw new Error("GetQueueUrl answered without a QueueUrl");
      this.#urls.set(queue, out.QueueUrl);
      return out.QueueUrl;
    } catch (error) {
      throw this.#mapError(error, queue, "looking up queue");
    }
  }

  async #bodyLimit(queue: string, url: string): Promise<number> {
    const cached = this.#bodyLimits.get(queue);
    if (cached !== undefined) return cached;
    const a = await this.#attributes(queue, url, ["MaximumMessageSize"]);
    const limit = Number(a.MaximumMessageSize ?? 262_144);
    this.#bodyLimits.set(queue, limit);
    return limit;
  }

  async #attributes(
    queue: string,
    url: string,
    names: string[],
  ): Promise<Record<string, string | undefined>> {
    try {
      const out = await this.#client.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names as never }),
      );
      return out.Attributes ?? {};
    } catch (error) {
      throw this.#mapError(error, queue, "reading queue attributes");
    }
  }

  #mapError(error: unknown, queue: string, doing: string): unknown {
    if (error instanceof NotFoundError || error instanceof InvalidNameError) return error;
    const name = errorName(error);
    if (NOT_FOUND_NAMES.has(name)) {
      this.#urls.delete(queue);
      return new NotFoundError("queue", queue, "create it with ensureQueue first", {
        cause: error,
      });
    }
    if (name === "ReceiptHandleIsInvalid") {
      return new InvalidNameError("receipt", "", "pass the receipt exactly as receive returned it");
    }
    return toServiceError(error, `${doing} ${queue}`);
  }
}

function checkReceipt(receipt: string): void {
  if (typeof receipt !== "string" || receipt.length === 0 || receipt.length > 1024) {
    throw new InvalidNameError(
      "receipt",
      String(receipt),
      "pass the receipt exactly as receive returned it",
    );
  }
}
