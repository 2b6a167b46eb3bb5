/**
 * The app-tier worker, as a library: the loop that serves one request at a time and ends when
 * idle, how a worker says it could not become ready, and how an instance stops itself. The
 * process entry point is `service/worker.ts`; the messages it reads and writes are `protocol/`.
 * @module
 */
export {
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
