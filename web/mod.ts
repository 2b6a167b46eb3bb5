/**
 * The web tier: the hono app (upload → in-bucket → request queue → answer), its one
 * response-queue consumer, Prometheus metrics, the status page, and the load generator.
 *
 * @example
 * ```ts
 * import { createApp, ResponseRouter, serveWeb, snapshotReader, WebMetrics } from "./web/mod.ts";
 *
 * const responses = new ResponseRouter({ queue, blobs, clock: systemClock }, {
 *   responseQueue: "demo-resp-queue",
 *   outBucket: "demo-out-bucket",
 * });
 * responses.start();
 * const app = createApp({
 *   blobs,
 *   requestQueue: queue,
 *   responses,
 *   clock: systemClock,
 *   readState: snapshotReader(fleet, queue, ["demo-req-queue", "demo-resp-queue"]),
 * }, { inBucket: "demo-in-bucket", requestQueue: "demo-req-queue" });
 * serveWeb(app, { port: 8000, signal });
 * ```
 * @module
 */
export {
  createApp,
  DISK_FULL_MESSAGE,
  REQUEST_TIMEOUT_MS_DEFAULT,
  UPLOAD_BYTES_MAX_DEFAULT,
  UPLOAD_BYTES_PER_SECOND_MIN_DEFAULT,
  UPLOAD_FIELD,
  UPLOAD_IDLE_MS_MAX_DEFAULT,
  UPLOAD_RATE_GRACE_MS_DEFAULT,
  UPLOAD_TIMEOUT_MS_DEFAULT,
  type WebDeps,
  type WebLogEvent,
  type WebOptions,
} from "./app.ts";
export { WebError, type WebErrorCode } from "./errors.ts";
export {
  API_TOKEN_CHARS_MAX,
  API_TOKEN_CHARS_MIN,
  bearerAuth,
  type BearerAuthOptions,
  validateApiToken,
} from "./auth.ts";
export {
  type PaceVerdict,
  type UploadCounts,
  uploadPace,
  type UploadPaceLimits,
  type UploadProgress,
  type UploadSlot,
  uploadSlots,
  type UploadSlotsOptions,
  type UploadWatch,
  watchUpload,
} from "./client_limits.ts";
export { PATH_PLACEHOLDER, redactPaths } from "./redact.ts";
export { HealthBoard, type HealthIssue, type HealthReport, type RefusalStatus } from "./health.ts";
export {
  FILE_NAME_CHARS_MAX_DEFAULT,
  FileNameError,
  parseUploadName,
  type UploadName,
} from "./file_name.ts";
export {
  Counter,
  Gauge,
  Histogram,
  LATENCY_BUCKETS_S,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
  type QueueSnapshot,
  type StackSnapshot,
  WebMetrics,
} from "./metrics.ts";
export {
  type FilePart,
  multipartBoundary,
  MultipartError,
  type MultipartErrorCode,
  type MultipartLimits,
  openFilePart,
  UploadTooLargeError,
} from "./multipart.ts";
export {
  OverloadedError,
  type PendingRequest,
  type RequestStatus,
  ResponseRouter,
  type ResponseRouterDeps,
  type ResponseRouterOptions,
  type RouterEvent,
  type RouterStats,
  type StoredResult,
} from "./response_router.ts";
export {
  RECORD_RETENTION_MS_DEFAULT,
  type RecordedFailure,
  RequestLedger,
  type RequestLedgerDeps,
  type RequestLedgerOptions,
  type RequestRecord,
  uuidV7,
} from "./request_ledger.ts";
export { serveWeb, type ServeWebOptions } from "./serve.ts";
export { snapshotReader } from "./snapshot.ts";
export {
  DASHBOARD_CSP,
  DASHBOARD_DATA_PATH,
  DASHBOARD_SCRIPT_PATH,
  escapeHtml,
  renderStatusPage,
  renderStatusPanels,
  type StatusView,
} from "./status_page.ts";
export {
  Dashboard,
  DASHBOARD_VIEWED_MS,
  type DashboardAbout,
  type DashboardData,
  type DashboardDecision,
  type DashboardOptions,
  type DashboardPoint,
  htmlSafeJson,
  type RecentRequest,
  type WorkerEvent,
} from "./dashboard.ts";
