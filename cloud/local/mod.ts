/**
 * The embedded adapters (the default backend): blobs in a SQLite database (objects over 256 KiB
 * as files beside it), queues and fleet state in another, app instances as local worker
 * processes.
 * @module
 */
export {
  INLINE_BYTES_MAX_DEFAULT,
  LocalBlobStore,
  type LocalBlobStoreOptions,
} from "./local_blob_store.ts";
export { SqliteMessageQueue, type SqliteMessageQueueOptions } from "./sqlite_message_queue.ts";
export { LocalFleet, type LocalFleetOptions } from "./local_fleet.ts";
export { type DiskSpace, diskSpace } from "./disk_space.ts";
export { SqliteRecordStore } from "./sqlite_record_store.ts";
