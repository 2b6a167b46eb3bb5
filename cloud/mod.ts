/**
 * Cloud ports — blob store, message queue, fleet — with their errors, the clock, naming rules,
 * and the embedded adapters. The AWS adapters live in `cloud/aws/mod.ts`, so processes that run
 * embedded never load the AWS SDK.
 *
 * Resource names follow DESIGN.md; build them with {@linkcode resourceNames}.
 *
 * @example
 * ```ts
 * import { LocalBlobStore, resourceNames, SqliteMessageQueue } from "./cloud/mod.ts";
 * const names = resourceNames("demo");
 * const mq = await SqliteMessageQueue.open("./data/cloud.db");
 * await mq.ensureQueue(names.requestQueue, { messageBytesMax: 1024 });
 * ```
 * @module
 */
export * from "./errors.ts";
export * from "./clock.ts";
export * from "./blob_store.ts";
export * from "./message_queue.ts";
export * from "./record_store.ts";
export * from "./fleet.ts";
export * from "./resource_names.ts";
export * from "./local/mod.ts";
