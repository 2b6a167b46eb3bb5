/**
 * The embedded adapters (the default backend): blobs as files, queues and fleet state in one
 * SQLite database, app instances as local worker processes.
 * @module
 */
export { LocalBlobStore, type LocalBlobStoreOptions } from "./local_blob_store.ts";
export { SqliteMessageQueue, type SqliteMessageQueueOptions } from "./sqlite_message_queue.ts";
export { LocalFleet, type LocalFleetOptions } from "./local_fleet.ts";
