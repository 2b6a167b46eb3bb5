/**
 * Test and benchmark fixture: the web app over the real embedded adapters (file blob store and
 * SQLite queue in a temp dir), with a stand-in worker that answers through the real queues.
 * @module
 */
import { join } from "node:path";
import { type Clock, systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import {
  decodeRequest,
  encodeResponse,
  type RecognitionRequest,
  type RecognitionResponse,
  REQUEST_MESSAGE_BYTES_MAX,
} from "../protocol/mod.ts";
import { createApp, type WebDeps, type WebOptions } from "../web/app.ts";
import type { HealthBoard } from "../web/health.ts";
import { type StackSnapshot, WebMetrics } from "../web/metrics.ts";
import { ResponseRouter, type ResponseRouterOptions } from "../web/response_router.ts";
import { snapshotReader } from "../web/snapshot.ts";
import type { Hono } from "hono";

export const NAMES = {
  inBucket: "t-in-bucket",
  outBucket: "t-out-bucket",
  requestQueue: "t-req-queue",
  responseQueue: "t-resp-queue",
} as const;

export interface TestStack {
  readonly root: string;
  readonly dataDir: string;
  readonly blobs: LocalBlobStore;
  readonly queue: SqliteMessageQueue;
  readonly router: ResponseRouter;
  readonly metrics: WebMetrics;
  readonly app: Hono;
  close(): Promise<void>;
}

export interface TestStackOptions {
  web?: Partial<WebOptions>;
  router?: Partial<ResponseRouterOptions>;
  /** The router's clock (timeouts); the queue always uses the real clock. */
  clock?: Clock;
  readState?: () => Promise<StackSnapshot>;
  health?: HealthBoard;
  newId?: () => string;
  /** The app's log (5xx and other events). */
  log?: WebDeps["log"];
  /** A shutdown's start and the end of its drain. */
  draining?: AbortSignal;
  shutdown?: AbortSignal;
  syncData?: boolean;
  /** The dashboard's history. @default {the app's own} */
  dashboard?: WebDeps["dashboard"];
  /** The blob store's `inlineBytesMax`; 0 sends every upload through a temp file. */
  blobInlineBytesMax?: number;
}

/** Opens a fresh stack under a new temp dir; `close` removes it. */
export async function openTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const root = await Deno.makeTempDir({ prefix: "fr-web-test-" });
  const dataDir = join(root, "data");
  const blobs = await LocalBlobStore.open(join(dataDir, "blobs"), {
    syncData: options.syncData ?? false,
    inlineBytesMax: options.blobInlineBytesMax,
  });
  const queue = await SqliteMessageQueue.open(join(dataDir, "queues.db"));
  await blobs.ensureBucket(NAMES.inBucket);
  await blobs.ensureBucket(NAMES.outBucket);
  await queue.ensureQueue(NAMES.requestQueue, { messageBytesMax: REQUEST_MESSAGE_BYTES_MAX });
  await queue.ensureQueue(NAMES.responseQueue);
  const clock = options.clock ?? systemClock;
  const router = new ResponseRouter({ queue, blobs, clock }, {
    responseQueue: NAMES.responseQueue,
    outBucket: NAMES.outBucket,
    receiveWaitMs: 1_000,
    ...options.router,
  });
  router.start();
  const metrics = new WebMetrics();
  let app: Hono;
  try {
    app = createApp({
      blobs,
      requestQueue: queue,
      responses: router,
      clock,
      metrics,
      newId: options.newId,
      health: options.health,
      log: options.log,
      draining: options.draining,
      shutdown: options.shutdown,
      dashboard: options.dashboard,
      readState: options.readState ??
        snapshotReader(undefined, queue, [NAMES.requestQueue, NAMES.responseQueue]),
    }, {
      inBucket: NAMES.inBucket,
      requestQueue: NAMES.requestQueue,
      ...options.web,
    });
  } catch (error) {
    // Bad options are a test case too: leave nothing open or on disk.
    await router.stop();
    await queue.close();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
  return {
    root,
    dataDir,
    blobs,
    queue,
    router,
    metrics,
    app,
    async close() {
      await router.stop();
      await queue.close();
      await blobs.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** What the stand-in worker does with a request: an answer, or undefined to drop it. */
export type Answerer = (
  request: RecognitionRequest,
  image: Uint8Array,
) => RecognitionResponse | undefined | Promise<RecognitionResponse | undefined>;

/** A plain success: label taken from the image bytes' text, so tests can check routing by id. */
export function labelFromImage(
  request: RecognitionRequest,
  image: Uint8Array,
): RecognitionResponse {
  const label = new TextDecoder().decode(image).replace(/[^A-Za-z]/g, "").slice(0, 40) || "NoFace";
  return {
    v: 1,
    id: request.id,
    stem: request.stem,
    ok: true,
    label,
    faces: [{ box: { x: 1, y: 2, width: 30, height: 40 }, score: 0.9, label, distance: 0.3 }],
    timingsMs: { recognize: 1 },
    worker: "test-worker",
  };
}

/**
 * Plays the app tier's role: receive → get image → answer → put label → send → delete, over the
 * real queue and blob store. Stops when `signal` aborts.
 */
export async function runTestWorker(
  stack: TestStack,
  answer: Answerer,
  signal: AbortSignal,
  concurrency = 1,
): Promise<void> {
  const loop = async () => {
    while (!signal.aborted) {
      const messages = await stack.queue.receive(NAMES.requestQueue, {
        waitMs: 200,
        messagesMax: 1,
        signal,
      });
      for (const m of messages) {
        const request = decodeRequest(m.body);
        const object = await stack.blobs.get(NAMES.inBucket, request.key);
        const image = new Uint8Array(await new Response(object.body).arrayBuffer());
        const response = await answer(request, image);
        if (!response) continue;
        if (response.ok) {
          await stack.blobs.put(
            NAMES.outBucket,
            request.stem,
            new TextEncoder().encode(response.label),
          );
        }
        await stack.queue.send(NAMES.responseQueue, encodeResponse(response));
        await stack.queue.delete(NAMES.requestQueue, m.receipt);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

/** A multipart upload request built by the platform's own FormData encoder. */
export function uploadRequest(
  fileName: string,
  bytes: Uint8Array | string,
  init: { path?: string; accept?: string; field?: string } = {},
): Request {
  const form = new FormData();
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  form.append(init.field ?? "inputFile", new Blob([data as BlobPart]), fileName);
  const headers: Record<string, string> = {};
  if (init.accept) headers.accept = init.accept;
  return new Request(`http://web.test${init.path ?? "/"}`, { method: "POST", body: form, headers });
}

/** A multipart request from raw parts, for bodies FormData would never produce. */
export function rawRequest(
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  contentType: string | undefined,
  path = "/",
): Request {
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers["content-type"] = contentType;
  return new Request(`http://web.test${path}`, {
    method: "POST",
    body: body as BodyInit,
    headers,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** Every file under `dir`, as paths relative to it. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(rel === "" ? dir : join(dir, rel))) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else out.push(path);
    }
  };
  await walk("");
  return out.sort();
}
