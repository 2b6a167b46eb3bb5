/**
 * The web tier as a hono app: upload → in-bucket, request message → request queue, answer from
 * the response router → `<stem>:<label>`. Ports come in through {@linkcode WebDeps}; nothing here
 * opens a socket, reads the wall clock or touches a file, so tests drive it with `app.request()`.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode, StatusCode } from "hono/utils/http-status";
import type { BlobStore } from "../cloud/blob_store.ts";
import type { Clock } from "../cloud/clock.ts";
import {
  CloudError,
  CorruptStoreError,
  LimitExceededError,
  StorageError,
} from "../cloud/errors.ts";
import type { MessageQueue } from "../cloud/message_queue.ts";
import { checkInteger } from "../internal/mod.ts";
import {
  encodeRequest,
  isRequestId,
  PROTOCOL_VERSION,
  type RecognitionRequest,
  REQUEST_IMAGE_BYTES_MAX,
} from "../protocol/mod.ts";
import { WebError, type WebErrorCode } from "./errors.ts";
import { FileNameError, parseUploadName, validateFileNameCharsMax } from "./file_name.ts";
import {
  type FilePart,
  multipartBoundary,
  MultipartError,
  type MultipartErrorCode,
  openFilePart,
  UploadTooLargeError,
} from "./multipart.ts";
import { HealthBoard, type HealthIssue } from "./health.ts";
import { bearerAuth } from "./auth.ts";
import { uploadSlots, watchUpload } from "./client_limits.ts";
import { redactPaths } from "./redact.ts";
import { PROMETHEUS_CONTENT_TYPE, type StackSnapshot, WebMetrics } from "./metrics.ts";
import { OverloadedError, type ResponseRouter, type StoredResult } from "./response_router.ts";
import {
  DASHBOARD_CSP,
  DASHBOARD_DATA_PATH,
  DASHBOARD_SCRIPT_PATH,
  renderStatusPage,
  renderStatusPanels,
  type StatusView,
} from "./status_page.ts";
import { Dashboard, type DashboardData, htmlSafeJson } from "./dashboard.ts";
import { DASHBOARD_SCRIPT } from "./dashboard_script.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** What a `POST /` was about and answered, for the dashboard's recent requests. */
    dashboardRequest: DashboardNote;
  }
}

/** What the handlers learn about a `POST /` for the dashboard. */
interface DashboardNote {
  readonly id?: string;
  readonly file?: string;
  readonly label?: string;
  readonly faces?: number;
  readonly worker?: string;
}

function noteRequest(c: Context, note: DashboardNote): void {
  c.set("dashboardRequest", { ...c.get("dashboardRequest"), ...note });
}

/** The multipart field that carries the image (the specification's name). */
export const UPLOAD_FIELD = "inputFile";
/** Default upload limit: the protocol's {@linkcode REQUEST_IMAGE_BYTES_MAX} (20 MiB). */
export const UPLOAD_BYTES_MAX_DEFAULT = REQUEST_IMAGE_BYTES_MAX;
/** Default time allowed to receive one upload (20 MiB at ~350 KB/s). */
export const UPLOAD_TIMEOUT_MS_DEFAULT = 60_000;
/** Default time a `POST /` waits for its answer before answering 504. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 60_000;
/** Default longest gap between body bytes: a stalled client, or a body short of its length. */
export const UPLOAD_IDLE_MS_MAX_DEFAULT = 10_000;
/** Default slowest average upload rate, once {@linkcode UPLOAD_RATE_GRACE_MS_DEFAULT} is over. */
export const UPLOAD_BYTES_PER_SECOND_MIN_DEFAULT = 1_024;
/** Default time a new upload may go slower than the minimum rate. */
export const UPLOAD_RATE_GRACE_MS_DEFAULT = 10_000;

/** The ports the web tier uses, passed in (never imported deep inside). */
export interface WebDeps {
  /** Holds the in-bucket. */
  blobs: BlobStore;
  /** Holds the request queue (`options.requestQueue`). */
  requestQueue: MessageQueue;
  /** The process's one response-queue consumer; the caller starts and stops it. */
  responses: ResponseRouter;
  clock: Clock;
  /** @default {new WebMetrics()} */
  metrics?: WebMetrics;
  /**
   * The dashboard's history (charts, recent requests, decisions, worker events); the service
   * feeds it the controller's decisions and samples it on a timer.
   * @default {a dashboard sampled only when the page asks}
   */
  dashboard?: Dashboard;
  /** Reads fleet and queue state for /metrics and the status page. @default {no fleet, no queues} */
  readState?: () => Promise<StackSnapshot>;
  /** New request ids; must match the protocol's id pattern. @default {crypto.randomUUID} */
  newId?: () => string;
  /** Server-side failures (5xx) and other events worth a log line. @default {ignore} */
  log?: (event: WebLogEvent) => void;
  /**
   * What is wrong with the stack (controller, storage, gallery): shown on `/healthz` and the
   * status page; an issue with `refuseUploads` refuses new uploads with its status and message.
   * @default {an empty board}
   */
  health?: HealthBoard;
  /**
   * Aborted when a shutdown begins (the drain): new uploads are refused 503 with `Retry-After`
   * and `/healthz` answers 503 `draining`; uploads in progress and requests waiting for answers
   * go on. (Not a health-board issue: nothing that reacts to board refusals may fail the clients
   * a drain is for.) @default {never}
   */
  draining?: AbortSignal;
  /**
   * Aborted when a shutdown's drain time is over: every `POST /` still waiting is answered 503
   * with its request id (the result stays retrievable), uploads still arriving are cut off with
   * 503, and long polls return. @default {never}
   */
  shutdown?: AbortSignal;
}

/**
 * The status recorded for a `POST /` whose client disconnected before its answer (nginx's
 * convention; never seen by a client).
 */
export const CLIENT_CLOSED_STATUS = 499;

/** One log event. */
export interface WebLogEvent {
  readonly event: "request_failed" | "client_closed";
  readonly status: number;
  readonly code: string;
  readonly id?: string;
  readonly message: string;
}

/** Options for {@linkcode createApp}; every limit is named and checked at creation. */
export interface WebOptions {
  /** The in-bucket (`<id>-in-bucket`). */
  inBucket: string;
  /** The request queue (`<id>-req-queue`). */
  requestQueue: string;
  /**
   * The response queue this process's router consumes, when it is not the deployment's own
   * (`<id>-resp-queue`): every request message then names it, and workers answer there. Set by
   * each extra web process, so answers reach the process whose client waits.
   */
  replyTo?: string;
  /** Largest image accepted, in bytes; larger → 413. @default {UPLOAD_BYTES_MAX_DEFAULT} (20 MiB) */
  uploadBytesMax?: number;
  /** Body bytes allowed beyond the image (boundaries, headers, other fields). @default {65536} */
  multipartOverheadBytesMax?: number;
  /**
   * Longest time to receive a whole upload; a slower client gets 408 and nothing is stored.
   * @default {UPLOAD_TIMEOUT_MS_DEFAULT}
   */
  uploadTimeoutMs?: number;
  /** How long `POST /` waits for an answer before 504. @default {REQUEST_TIMEOUT_MS_DEFAULT} */
  requestTimeoutMs?: number;
  /**
   * Most `POST /` requests waiting for their answer (their upload stored); more → 503. Uploads
   * still arriving count against `uploadsMax` and `uploadsPerClientMax` instead, so slow bodies
   * cannot take the places of requests waiting for answers. @default {1000}
   */
  waitingRequestsMax?: number;
  /** Most uploads (`POST /`, `POST /requests`) being received at once; more → 503. @default {1000} */
  uploadsMax?: number;
  /**
   * Most uploads being received at once from one client address; more → 429.
   * @default {128} (the course's grader posts 100 at once from one address)
   */
  uploadsPerClientMax?: number;
  /** Longest gap between body bytes; longer → 408. @default {UPLOAD_IDLE_MS_MAX_DEFAULT} */
  uploadIdleMsMax?: number;
  /**
   * Slowest average upload rate, in body bytes per second, once `uploadRateGraceMs` is over;
   * slower → 408. @default {UPLOAD_BYTES_PER_SECOND_MIN_DEFAULT}
   */
  uploadBytesPerSecondMin?: number;
  /** How long a new upload may be slower than that. @default {UPLOAD_RATE_GRACE_MS_DEFAULT} */
  uploadRateGraceMs?: number;
  /**
   * A bearer token every route but `GET /healthz` requires (`Authorization: Bearer <token>`);
   * missing or wrong → 401. @default {none: the service is open}
   */
  apiToken?: string;
  /** Longest file name, in characters. @default {200} */
  fileNameCharsMax?: number;
  /** Largest header block of one multipart part, in bytes. @default {16384} */
  partHeaderBytesMax?: number;
  /** Most multipart parts read looking for `inputFile`. @default {16} */
  partsMax?: number;
  /** Longest `?waitMs=` a `GET /requests/:id` may ask for. @default {requestTimeoutMs} */
  pollWaitMsMax?: number;
}

type ResolvedOptions =
  & Required<Omit<WebOptions, "replyTo" | "apiToken">>
  & Pick<WebOptions, "replyTo" | "apiToken">;

/** How long one fleet and queue read serves the dashboard's viewers. */
export const DASHBOARD_STATE_REUSE_MS = 1_000;

/** The routes, as metric labels (a fixed set, so series stay bounded). */
const ROUTES = [
  "POST /",
  "POST /requests",
  "GET /requests/:id",
  "GET /healthz",
  "GET /metrics",
  `GET ${DASHBOARD_DATA_PATH}`,
  `GET ${DASHBOARD_SCRIPT_PATH}`,
];

/**
 * Creates the web tier's hono app.
 *
 * Routes: `POST /` (multipart `inputFile` → `text/plain` `<stem>:<label>`, or JSON with all faces
 * when the client accepts `application/json`); `POST /requests` (same upload, answers
 * `202 {id}` at once); `GET /requests/:id` (pending, done or failed; `?waitMs=` long-polls);
 * `GET /healthz`; `GET /metrics` (Prometheus); `GET /` (status page).
 *
 * @param deps the ports
 * @param options bucket and queue names, limits
 * @returns the app; serve it with `serveWeb` or test it with `app.request()`
 * @throws {RangeError} naming the first bad option
 * @example
 * ```ts
 * const app = createApp({ blobs, requestQueue: queue, responses: router, clock: systemClock }, {
 *   inBucket: "demo-in-bucket",
 *   requestQueue: "demo-req-queue",
 * });
 * const res = await app.request("/", { method: "POST", body: form });
 * ```
 */
export function createApp(deps: WebDeps, options: WebOptions): Hono {
  const o = resolveOptions(options);
  const metrics = deps.metrics ?? new WebMetrics();
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const readState = deps.readState ?? (() => Promise.resolve({ instances: [], queues: [] }));
  const health = deps.health ?? new HealthBoard();
  const dashboard = deps.dashboard ?? new Dashboard({ requestQueue: o.requestQueue });
  // The drain is over: what still waits or uploads is answered 503 (the reason every cut-off
  // read and wait reports).
  const drainOver = new AbortController();
  const onShutdown = () =>
    drainOver.abort(
      new WebError(
        503,
        "unavailable",
        "the service is shutting down; retry shortly (another instance, or this one restarted)",
        { headers: { "Retry-After": "5" } },
      ),
    );
  if (deps.shutdown?.aborted) onShutdown();
  else deps.shutdown?.addEventListener("abort", onShutdown, { once: true });
  const load = { waiting: 0 };
  const tier: Tier = { deps, o, newId, health, load, drainOver: drainOver.signal };
  const statusCounts: Record<string, number> = {};
  const slots = uploadSlots({
    uploadsMax: o.uploadsMax,
    uploadsPerClientMax: o.uploadsPerClientMax,
  });

  const app = new Hono();

  app.use("*", async (c, next) => {
    const startMs = deps.clock.nowMs();
    await next();
    const route = routeLabel(c.req.method, c.req.path);
    const latencyMs = deps.clock.nowMs() - startMs;
    metrics.observeRequest(route, c.res.status, latencyMs);
    if (route.startsWith("POST ")) {
      statusCounts[c.res.status] = (statusCounts[c.res.status] ?? 0) + 1;
    }
    if (route === "POST /") {
      const note = c.get("dashboardRequest") ?? {};
      dashboard.recordRequest({
        atMs: startMs,
        requestId: note.id ?? null,
        file: note.file ?? null,
        status: c.res.status,
        label: note.label ?? String(c.res.status),
        faces: note.faces ?? null,
        latencyMs,
        worker: note.worker ?? null,
      });
    }
  });
  if (o.apiToken !== undefined) app.use("*", bearerAuth({ token: o.apiToken }));

  app.post("/", slots.middleware, async (c) => {
    // Refuse before reading a body whose answer nobody could wait for; accept() takes the slot.
    if (load.waiting >= o.waitingRequestsMax) {
      throw overloaded("waitingRequestsMax", o.waitingRequestsMax);
    }
    const accepted = await accept(c, tier, "wait");
    noteRequest(c, { id: accepted.id, file: accepted.key });
    try {
      // Deno.serve aborts the request's signal when the client disconnects: stop waiting then, so
      // a client that gave up frees its waitingRequestsMax slot at once. (deno.json opts in to
      // `no-legacy-abort`, under which the signal does not also abort after every answer.)
      const gone = c.req.raw.signal;
      // A part of the stack that starts refusing with 503 (workers cannot get ready) ends the
      // wait too: the client hears why within seconds instead of a 504 after the timeout.
      const refused = refusalSignal(health);
      const stop = AbortSignal.any([gone, drainOver.signal, refused.signal]);
      const result = await deps.responses.wait(accepted.id, o.requestTimeoutMs, stop)
        .finally(refused.stop) ??
        (gone.aborted ? undefined : await deps.responses.readPersisted(accepted.id));
      if (!result && gone.aborted) {
        noteRequest(c, { label: "client_closed" });
        deps.log?.({
          event: "client_closed",
          status: CLIENT_CLOSED_STATUS,
          code: "client_closed",
          id: accepted.id,
          message: `the client disconnected while waiting; the result will be at ` +
            `GET /requests/${accepted.id}`,
        });
        // Nobody reads it; the status is what the metrics and the status page count.
        return c.body(null, CLIENT_CLOSED_STATUS as StatusCode);
      }
      if (!result && drainOver.signal.aborted) {
        throw new WebError(
          503,
          "unavailable",
          "the service is shutting down before the answer came; the request was queued and its " +
            `result will be at GET /requests/${accepted.id} once the service is back`,
          { requestId: accepted.id, headers: { "Retry-After": "5" } },
        );
      }
      const refusal = refused.issue();
      if (!result && refusal) {
        throw new WebError(
          503,
          "unavailable",
          `${refusal.message}; the request stays queued: if a worker answers it later, the ` +
            `result will be at GET /requests/${accepted.id}`,
          { requestId: accepted.id, headers: { "Retry-After": "5" } },
        );
      }
      if (!result) {
        throw new WebError(
          504,
          "timeout",
          `no answer within requestTimeoutMs = ${o.requestTimeoutMs}; ` +
            `the result stays available at GET /requests/${accepted.id}`,
          { requestId: accepted.id },
        );
      }
      return answer(c, result, accepted, deps.clock.nowMs());
    } finally {
      load.waiting--;
    }
  });

  app.post("/requests", slots.middleware, async (c) => {
    const accepted = await accept(c, tier, "return");
    c.header("Location", `/requests/${accepted.id}`);
    c.header("X-Request-Id", accepted.id);
    return c.json({ id: accepted.id, status: "pending", stem: accepted.stem }, 202);
  });

  app.get("/requests/:id", async (c) => {
    const id = c.req.param("id");
    const waitMs = parseWaitMs(c.req.query("waitMs"), o.pollWaitMsMax);
    if (!isRequestId(id)) throw unknownRequest(id);
    let status = await deps.responses.status(id);
    if (status?.state === "pending" && waitMs > 0) {
      await deps.responses.wait(id, waitMs, drainOver.signal);
      status = await deps.responses.status(id);
    }
    if (!status) throw unknownRequest(id);
    c.header("X-Request-Id", id);
    if (status.state === "pending") {
      const { stem, acceptedAtMs } = status.request;
      return c.json({ id, status: "pending", stem, acceptedAtMs });
    }
    return c.json(resultJson(status.result));
  });

  app.get("/healthz", (c) => {
    const router = deps.responses.stats();
    const issues = health.issues();
    // Degraded still answers 200: the stack serves what it can (reads, stored results), and a
    // load balancer should not take it out of rotation for a condition it reports itself.
    const draining = deps.draining?.aborted === true;
    const status = draining
      ? "draining"
      : !router.running
      ? "unavailable"
      : issues.length > 0
      ? "degraded"
      : "ok";
    const body = {
      status,
      responseConsumer: router.running ? "running" : "stopped",
      waiting: load.waiting,
      uploading: slots.counts().uploads,
      pending: router.pending,
      lastQueueError: router.lastError === undefined ? null : redactPaths(router.lastError),
      issues: issues.map((issue) => ({ ...issue, message: redactPaths(issue.message) })),
    };
    return c.json(body, router.running && !draining ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    try {
      metrics.setSnapshot(await readState());
    } catch {
      metrics.scrapeErrors.inc();
    }
    const router = deps.responses.stats();
    metrics.web.set({ kind: "waiting" }, load.waiting);
    metrics.web.set({ kind: "uploading" }, slots.counts().uploads);
    metrics.web.set({ kind: "pending" }, router.pending);
    metrics.web.set({ kind: "results" }, router.results);
    metrics.responses.setTotal({ outcome: "matched" }, router.matched);
    metrics.responses.setTotal({ outcome: "unmatched" }, router.unmatched);
    metrics.responses.setTotal({ outcome: "malformed" }, router.malformed);
    return c.body(metrics.registry.render(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });

  // One state read serves every dashboard viewer for DASHBOARD_STATE_REUSE_MS: ten open pages
  // polling every 2 s cost the fleet and queue APIs what one does.
  let lastRead: { atMs: number; state: Promise<StackSnapshot> } | undefined;
  const readStateShared = () => {
    const nowMs = deps.clock.nowMs();
    if (!lastRead || nowMs - lastRead.atMs >= DASHBOARD_STATE_REUSE_MS) {
      lastRead = { atMs: nowMs, state: readState() };
    }
    return lastRead.state;
  };
  /** The state now, for the page and its data; takes a chart point when one is due. */
  const statusView = async (): Promise<StatusView> => {
    let snapshot: StackSnapshot | undefined;
    let stateError: string | undefined;
    try {
      snapshot = await readStateShared();
    } catch (error) {
      stateError = redactPaths((error as Error).message);
    }
    const nowMs = deps.clock.nowMs();
    dashboard.noteViewed(nowMs);
    if (dashboard.due(nowMs)) dashboard.observe(snapshot, nowMs);
    const router = deps.responses.stats();
    return {
      snapshot,
      stateError,
      router: {
        ...router,
        lastError: router.lastError === undefined ? undefined : redactPaths(router.lastError),
        waiting: load.waiting,
      },
      issues: health.issues().map((issue) => ({ ...issue, message: redactPaths(issue.message) })),
      statusCounts,
      nowMs,
      refreshS: dashboard.sampleMs / 1000,
      dashboard: redactDashboard(dashboard.data(nowMs)),
    };
  };
  const pageHeaders = {
    "Content-Security-Policy": DASHBOARD_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
  };

  app.get("/", async (c) => c.html(renderStatusPage(await statusView()), 200, pageHeaders));

  app.get(DASHBOARD_DATA_PATH, async (c) => {
    const view = await statusView();
    // The data, and the panels rendered from it (escaped here, once, for the page to swap in).
    const body = htmlSafeJson({ ...view.dashboard, html: renderStatusPanels(view) });
    return c.body(body, 200, { ...pageHeaders, "Content-Type": "application/json" });
  });

  app.get(DASHBOARD_SCRIPT_PATH, (c) =>
    c.body(DASHBOARD_SCRIPT, 200, {
      ...pageHeaders,
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": "no-cache",
    }));

  app.notFound((c) =>
    errorResponse(
      c,
      new WebError(404, "not_found", "no such route; POST / with multipart field inputFile"),
      deps.log,
    )
  );

  app.onError((error, c) => errorResponse(c, error, deps.log));
  return app;
}

interface Accepted {
  readonly id: string;
  readonly key: string;
  readonly stem: string;
  readonly acceptedAtMs: number;
  readonly storedAtMs: number;
  readonly sentAtMs: number;
}

/** What the handlers share: the ports, the resolved options, the id source, the health board. */
interface Tier {
  readonly deps: WebDeps;
  readonly o: ResolvedOptions;
  readonly newId: () => string;
  readonly health: HealthBoard;
  /** `POST /` requests waiting for their answer (`waitingRequestsMax`). */
  readonly load: { waiting: number };
  /** Aborted (with a 503 `WebError`) when a shutdown's drain time is over. */
  readonly drainOver: AbortSignal;
}

/**
 * Aborts once the health board holds an issue that refuses uploads with 503 (the service cannot
 * answer them, e.g. no worker can get ready), and keeps that issue (it may clear again before the
 * waiter answers); `stop` unsubscribes. A 507 (disk full) does not end a wait: a request already
 * accepted is still answered.
 */
function refusalSignal(
  health: HealthBoard,
): { signal: AbortSignal; stop: () => void; issue: () => HealthIssue | undefined } {
  const abort = new AbortController();
  let issue: HealthIssue | undefined;
  const check = () => {
    issue ??= health.refusal(503);
    if (issue) abort.abort("refused");
  };
  const stop = health.onChange(check);
  check();
  return { signal: abort.signal, stop: () => void stop(), issue: () => issue };
}

/**
 * Streams the upload into the in-bucket and sends the request message. With `"wait"` (POST /),
 * the request takes a `waitingRequestsMax` place once its upload is stored and before it is
 * queued; the caller gives the place back when it answers.
 */
async function accept(c: Context, tier: Tier, then: "wait" | "return"): Promise<Accepted> {
  const { deps, o } = tier;
  if (deps.draining?.aborted) {
    throw new WebError(503, "unavailable", "the service is shutting down; retry shortly", {
      headers: { "Retry-After": "5" },
    });
  }
  const refusal = tier.health.refusal();
  if (refusal) {
    const code = refusal.refuseUploads === 507 ? "insufficient_storage" : "unavailable";
    throw new WebError(refusal.refuseUploads!, code, refusal.message, {
      headers: { "Retry-After": "5" },
    });
  }
  const bodyBytesMax = o.uploadBytesMax + o.multipartOverheadBytesMax;
  const boundary = readBoundary(c.req.header("content-type"));
  const declaredBytes = Number(c.req.header("content-length") ?? "0");
  if (declaredBytes > bodyBytesMax) {
    throw new WebError(
      413,
      "upload_too_large",
      `the request body is ${declaredBytes} bytes, over uploadBytesMax = ${o.uploadBytesMax} ` +
        `plus multipartOverheadBytesMax = ${o.multipartOverheadBytesMax}; send a smaller file`,
    );
  }
  const body = c.req.raw.body;
  if (!body) throw new WebError(400, "missing_field", `empty body; send the ${UPLOAD_FIELD} field`);
  const watch = watchUpload(deps.clock, o, tier.drainOver);
  let stored: Omit<Accepted, "sentAtMs"> & { message: string };
  try {
    const part = await openPart(body, boundary, o, bodyBytesMax, watch);
    stored = await store(tier, part);
  } finally {
    watch.done();
  }
  // The body is in: the upload's place is free for the next one, from this client or another.
  c.get("uploadSlot")?.release();
  if (then === "wait") {
    if (tier.load.waiting >= o.waitingRequestsMax) {
      await unstore(tier, stored.id, stored.key);
      throw overloaded("waitingRequestsMax", o.waitingRequestsMax);
    }
    tier.load.waiting++;
  }
  try {
    // The durable record and the message in one turn: one transaction on the embedded backend.
    await Promise.all([
      deps.responses.record(stored.id),
      deps.requestQueue.send(o.requestQueue, stored.message),
    ]);
  } catch (error) {
    if (then === "wait") tier.load.waiting--;
    deps.responses.forget(stored.id);
    const refused = storageRefusal(error, tier);
    if (refused) throw refused;
    throw new WebError(
      500,
      "internal",
      `the image was stored but the request could not be queued: ${(error as Error).message}`,
      { requestId: stored.id, cause: error },
    );
  }
  const { message: _, ...accepted } = stored;
  return { ...accepted, sentAtMs: deps.clock.nowMs() };
}

/** Validates the name, assigns the id, tracks it, and streams the file into the in-bucket. */
async function store(
  tier: Tier,
  part: FilePart,
): Promise<Omit<Accepted, "sentAtMs"> & { message: string }> {
  const { deps, o, newId } = tier;
  let name;
  try {
    name = parseUploadName(part.fileName, o.fileNameCharsMax);
  } catch (error) {
    await part.cancel("refused file name");
    if (error instanceof FileNameError) throw new WebError(400, "bad_file_name", error.message);
    throw error;
  }
  const id = newId();
  if (!isRequestId(id)) throw new TypeError(`newId returned ${JSON.stringify(id)}, not an id`);
  const acceptedAtMs = deps.clock.nowMs();
  const request: RecognitionRequest = {
    v: PROTOCOL_VERSION,
    id,
    key: name.key,
    stem: name.stem,
    acceptedAtMs,
    ...(o.replyTo === undefined ? {} : { replyTo: o.replyTo }),
  };
  // Encode first: a message that cannot be sent must not leave an orphan upload behind.
  let message: string;
  try {
    message = encodeRequest(request);
  } catch (error) {
    await part.cancel("request message too large");
    // Only the name varies in size, and fileNameCharsMax keeps it in bounds; this is a backstop.
    throw new WebError(400, "bad_file_name", (error as Error).message);
  }
  try {
    deps.responses.track({ id, key: name.key, stem: name.stem, acceptedAtMs });
  } catch (error) {
    await part.cancel("overloaded");
    if (error instanceof OverloadedError) throw overloaded(error.limitName, undefined, error);
    throw error;
  }
  try {
    await deps.blobs.put(o.inBucket, name.key, part.body);
  } catch (error) {
    deps.responses.forget(id);
    await part.cancel("store failed");
    const failure = part.failure() ?? error;
    throw storageRefusal(failure, tier) ?? uploadError(failure, o, id);
  }
  try {
    await part.finish();
  } catch (error) {
    // The file came, but the body stopped short of its Content-Length (or the drain ended):
    // the upload did not arrive whole, so nothing is kept.
    await unstore({ deps, o }, id, name.key);
    throw uploadError(error, o, undefined);
  }
  return {
    id,
    key: name.key,
    stem: name.stem,
    acceptedAtMs,
    storedAtMs: deps.clock.nowMs(),
    message,
  };
}

/** Forgets a stored upload that will not be queued (best effort: a leftover is only bytes). */
async function unstore(
  { deps, o }: Pick<Tier, "deps" | "o">,
  id: string,
  key: string,
): Promise<void> {
  deps.responses.forget(id);
  await deps.blobs.delete(o.inBucket, key).catch(() => {});
}

function readBoundary(contentType: string | undefined): string {
  let boundary: string | undefined;
  try {
    boundary = multipartBoundary(contentType);
  } catch (error) {
    throw new WebError(400, "bad_multipart", (error as Error).message);
  }
  if (boundary === undefined) {
    throw new WebError(
      415,
      "unsupported_media_type",
      `Content-Type ${JSON.stringify(contentType ?? "")} is not multipart/form-data; ` +
        `send the image as the multipart field ${UPLOAD_FIELD}`,
    );
  }
  return boundary;
}

async function openPart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  o: ResolvedOptions,
  bodyBytesMax: number,
  watch: { signal: AbortSignal; onBytes: (byteCount: number) => void },
): Promise<FilePart> {
  try {
    return await openFilePart(body, boundary, UPLOAD_FIELD, {
      fileBytesMax: o.uploadBytesMax,
      bodyBytesMax,
      partHeaderBytesMax: o.partHeaderBytesMax,
      partsMax: o.partsMax,
      signal: watch.signal,
      onBytes: watch.onBytes,
    });
  } catch (error) {
    throw uploadError(error, o, undefined);
  }
}

/** The code a client sees for each multipart refusal: a missing field is its own case. */
const MULTIPART_WEB_CODES: Readonly<Record<MultipartErrorCode, WebErrorCode>> = {
  bad_boundary: "bad_multipart",
  missing_field: "missing_field",
  too_many_parts: "bad_multipart",
  not_a_file: "bad_multipart",
  malformed_header: "bad_multipart",
  truncated: "bad_multipart",
};

/**
 * Maps a failure while reading or storing the upload to its status. Client errors carry no
 * request id: the request was refused and will never have a result.
 */
function uploadError(error: unknown, o: ResolvedOptions, requestId: string | undefined): Error {
  if (error instanceof WebError) return error;
  if (error instanceof MultipartError) {
    return new WebError(400, MULTIPART_WEB_CODES[error.code], error.message);
  }
  if (error instanceof UploadTooLargeError) {
    const message = error.limitName === "bodyBytesMax"
      ? `the request body is over uploadBytesMax = ${o.uploadBytesMax} plus ` +
        `multipartOverheadBytesMax = ${o.multipartOverheadBytesMax} bytes; send a smaller file`
      : error.message;
    return new WebError(413, "upload_too_large", message);
  }
  if (error instanceof LimitExceededError) {
    return new WebError(413, "upload_too_large", `${error.message}; send a smaller file`);
  }
  if (error instanceof CloudError && error.code === "invalid_name") {
    return new WebError(400, "bad_file_name", error.message);
  }
  return new WebError(500, "internal", `storing the upload failed: ${(error as Error).message}`, {
    requestId,
    cause: error,
  });
}

/** Why a full disk refuses uploads: what clients see, never the server's path. */
export const DISK_FULL_MESSAGE = "the service's storage is full: new uploads are refused until " +
  "space is freed (requests already accepted are still answered); retry later";

/**
 * A write the storage refused: a full disk answers 507 and reports `storage`/`disk_full` on the
 * health board, so further uploads are refused at once until the storage monitor sees room again;
 * another refusal (read-only, permissions) answers 503. The message is ours: a `StorageError`'s
 * path stays in the log. No request id: the request was refused and will never have a result.
 * Undefined for any other error.
 */
function storageRefusal(error: unknown, tier: Tier): WebError | undefined {
  if (!(error instanceof StorageError)) return undefined;
  if (error.reason === "disk_full") {
    tier.health.report(
      "storage",
      { code: "disk_full", message: DISK_FULL_MESSAGE, refuseUploads: 507 },
      tier.deps.clock.nowMs(),
    );
    return new WebError(507, "insufficient_storage", DISK_FULL_MESSAGE, {
      headers: { "Retry-After": "5" },
      cause: error,
    });
  }
  return new WebError(
    503,
    "unavailable",
    `the service's storage refused the upload (${error.reason}); retry later`,
    { headers: { "Retry-After": "5" }, cause: error },
  );
}

function overloaded(limitName: string, limit: number | undefined, cause?: unknown): WebError {
  return new WebError(
    503,
    "overloaded",
    `the service is at ${limitName}${limit === undefined ? "" : ` = ${limit}`}; retry shortly`,
    { headers: { "Retry-After": "1" }, cause },
  );
}

function unknownRequest(id: string): WebError {
  return new WebError(
    404,
    "not_found",
    `no request ${JSON.stringify(id.slice(0, 80))} is known here (ids are kept for a bounded ` +
      "number of requests)",
  );
}

function answer(c: Context, result: StoredResult, accepted: Accepted, nowMs: number): Response {
  const { response } = result;
  c.header("X-Request-Id", accepted.id);
  noteRequest(c, {
    worker: response.worker,
    ...(response.ok
      ? { label: response.label, faces: response.faces.length }
      : { label: response.error.code }),
  });
  if (!response.ok) throw workerError(response.error, accepted.id);
  if (!wantsJson(c)) return c.text(`${accepted.stem}:${response.label}`);
  return c.json({
    ...resultJson(result),
    key: accepted.key,
    timingsMs: {
      web: {
        upload: accepted.storedAtMs - accepted.acceptedAtMs,
        enqueue: accepted.sentAtMs - accepted.storedAtMs,
        wait: nowMs - accepted.sentAtMs,
        total: nowMs - accepted.acceptedAtMs,
      },
      worker: response.timingsMs,
    },
  });
}

function workerError(error: { code: string; message: string }, requestId: string): WebError {
  if (error.code.startsWith("image_")) {
    return new WebError(422, "image_error", `${error.code}: ${error.message}`, { requestId });
  }
  return new WebError(502, "worker_failed", `the worker failed (${error.code}): ${error.message}`, {
    requestId,
  });
}

function resultJson(result: StoredResult): Record<string, unknown> {
  const r = result.response;
  if (!r.ok) {
    return {
      id: r.id,
      status: "failed",
      stem: r.stem,
      httpStatus: r.error.code.startsWith("image_") ? 422 : 502,
      // A worker's message can name its files (model, gallery); the client gets it without them.
      error: { ...r.error, message: redactPaths(r.error.message) },
      worker: r.worker,
      source: result.source,
    };
  }
  return {
    id: r.id,
    status: "done",
    stem: r.stem,
    label: r.label,
    answer: `${r.stem}:${r.label}`,
    faces: r.faces,
    timingsMs: r.timingsMs,
    worker: r.worker,
    source: result.source,
  };
}

function wantsJson(c: Context): boolean {
  return (c.req.header("accept") ?? "").includes("application/json");
}

function parseWaitMs(raw: string | undefined, pollWaitMsMax: number): number {
  if (raw === undefined) return 0;
  const waitMs = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || waitMs > pollWaitMsMax) {
    throw new WebError(
      400,
      "bad_request",
      `waitMs must be an integer in 0..${pollWaitMsMax} (pollWaitMsMax), got ${
        JSON.stringify(raw.slice(0, 20))
      }`,
    );
  }
  return waitMs;
}

function errorResponse(c: Context, error: Error, log: WebDeps["log"]): Response {
  let status: ContentfulStatusCode = 500;
  let code = "internal";
  let requestId: string | undefined;
  let headers: Record<string, string> = {};
  if (error instanceof WebError) {
    status = error.status as ContentfulStatusCode;
    code = error.code;
    requestId = error.requestId;
    headers = { ...error.headers };
  } else if (error instanceof HTTPException) {
    status = error.status as ContentfulStatusCode;
  }
  noteRequest(c, { label: c.get("dashboardRequest")?.label ?? code });
  const cause = error.cause;
  // Store errors keep their path out of the message (it reaches clients) and in a field: the
  // operator's log line gets it back.
  const where = cause instanceof StorageError || cause instanceof CorruptStoreError
    ? ` (path: ${cause.path}; ${cause.message})`
    : "";
  const logged = (error.message || "internal error") + where;
  if (status >= 500) {
    log?.({ event: "request_failed", status, code, id: requestId, message: logged });
  }
  // The log keeps the whole message; the client never sees a server path, whatever failed.
  const message = redactPaths(error.message || "internal error");
  if (requestId !== undefined) headers["X-Request-Id"] = requestId;
  if (wantsJson(c) || c.req.path.startsWith("/requests")) {
    return c.json({ error: { code, message }, id: requestId ?? null }, status, headers);
  }
  const suffix = requestId === undefined ? "" : ` (request id ${requestId})`;
  return c.text(`${message}${suffix}\n`, status, headers);
}

function routeLabel(method: string, path: string): string {
  const route = /^\/requests\/[^/]+$/.test(path) ? "/requests/:id" : path;
  const label = `${method} ${route}`;
  if (ROUTES.includes(label)) return label;
  return method === "GET" && path === "/" ? "GET /" : "other";
}

function resolveOptions(options: WebOptions): ResolvedOptions {
  const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  const o: ResolvedOptions = {
    uploadBytesMax: UPLOAD_BYTES_MAX_DEFAULT,
    multipartOverheadBytesMax: 65_536,
    waitingRequestsMax: 1_000,
    uploadsMax: 1_000,
    uploadsPerClientMax: 128,
    uploadIdleMsMax: UPLOAD_IDLE_MS_MAX_DEFAULT,
    uploadBytesPerSecondMin: UPLOAD_BYTES_PER_SECOND_MIN_DEFAULT,
    uploadRateGraceMs: UPLOAD_RATE_GRACE_MS_DEFAULT,
    fileNameCharsMax: 200,
    partHeaderBytesMax: 16_384,
    partsMax: 16,
    pollWaitMsMax: requestTimeoutMs,
    uploadTimeoutMs: UPLOAD_TIMEOUT_MS_DEFAULT,
    ...options,
    requestTimeoutMs,
  };
  const checks: [keyof ResolvedOptions, number, number][] = [
    ["uploadBytesMax", 1, 2 ** 40],
    ["uploadTimeoutMs", 1, 86_400_000],
    ["multipartOverheadBytesMax", 1_024, 2 ** 30],
    ["requestTimeoutMs", 1, 86_400_000],
    ["waitingRequestsMax", 1, 1_000_000],
    ["uploadsMax", 1, 1_000_000],
    ["uploadsPerClientMax", 1, 1_000_000],
    ["uploadIdleMsMax", 1, 86_400_000],
    ["uploadBytesPerSecondMin", 1, 2 ** 40],
    ["uploadRateGraceMs", 1_000, 86_400_000],
    ["partHeaderBytesMax", 256, 1 << 20],
    ["partsMax", 1, 1_000],
    ["pollWaitMsMax", 0, 86_400_000],
  ];
  for (const [name, min, max] of checks) checkInteger(name, o[name] as number, min, max);
  validateFileNameCharsMax(o.fileNameCharsMax);
  for (const name of ["inBucket", "requestQueue"] as const) {
    if (typeof o[name] !== "string" || o[name] === "") {
      throw new RangeError(`${name} must be a non-empty name, got ${JSON.stringify(o[name])}`);
    }
  }
  return o;
}

/** The dashboard's texts from outside this process, without server paths (as every page). */
function redactDashboard(data: DashboardData): DashboardData {
  return {
    ...data,
    decisions: data.decisions.map((d) => ({
      ...d,
      reasons: d.reasons.map(redactPaths),
      summary: redactPaths(d.summary),
    })),
    workerEvents: data.workerEvents.map((w) => ({ ...w, detail: redactPaths(w.detail) })),
    about: data.about && {
      ...data.about,
      ...(data.about.galleryError === undefined
        ? {}
        : { galleryError: redactPaths(data.about.galleryError) }),
    },
  };
}
