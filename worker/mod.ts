/**
 * The app-tier worker: the loop that serves one request at a time and ends when idle, the queue
 * protocol it speaks with the web tier, and how an instance stops itself.
 * @module
 */
export * from "./protocol.ts";
export {
  KEEP_ALIVE_MS_MAX,
  type RecognitionResult,
  type Recognize,
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  runWorker,
  VISIBILITY_TIMEOUT_MS_MIN,
  WORKER_DEFAULTS,
  type WorkerDeps,
  type WorkerLog,
  type WorkerOptions,
  type WorkerReport,
  type WorkerRoutes,
} from "./worker_loop.ts";
export {
  fetchInstanceId,
  IMDS_BASE_URL_DEFAULT,
  IMDS_REQUEST_MS_DEFAULT,
  InstanceMetadataError,
  type InstanceMetadataOptions,
  stopOwnInstance,
} from "./instance_metadata.ts";
