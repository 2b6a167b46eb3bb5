/**
 * Limits that keep slow or greedy clients from starving the others while they upload:
 *
 * - {@linkcode uploadSlots}: a hono middleware that caps uploads in progress, per client address
 *   (`uploadsPerClientMax`) and in all (`uploadsMax`). A slot is held only while the body is
 *   being received; once the upload is stored the handler releases it, and a `POST /` waiting
 *   for its answer counts against `waitingRequestsMax` instead (in `app.ts`). So a thousand bodies
 *   trickling in never hold the slots of clients that are waiting for answers, and the reverse.
 * - {@linkcode watchUpload}: the pace of one upload — the whole upload within `uploadTimeoutMs`,
 *   no gap between body bytes longer than `uploadIdleMsMax`, and (after `uploadRateGraceMs`) at
 *   least `uploadBytesPerSecondMin` on average. Its signal aborts the body read with a 408.
 *
 * What this cannot do: time out a client that never finishes its request *headers*. `Deno.serve`
 * (2.9.6) calls the handler only once the headers are complete and offers no header timeout;
 * measured by `bench/header_timeout_probe.ts`, a connection that stalls or trickles inside its
 * headers stays open (75 s and counting). Such a connection costs a socket and holds no slot here;
 * put a proxy with a header timeout (nginx `client_header_timeout`) in front when that matters.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../cloud/clock.ts";
import { checkInteger } from "../internal/mod.ts";
import { WebError } from "./errors.ts";

/** What the upload handler gets from {@linkcode uploadSlots}: release the slot once stored. */
export interface UploadSlot {
  /** Frees the slot (idempotent); the middleware also frees it when the request ends. */
  release(): void;
}

declare module "hono" {
  interface ContextVariableMap {
    uploadSlot: UploadSlot;
  }
}

/** Options for {@linkcode uploadSlots}. */
export interface UploadSlotsOptions {
  /** Most uploads in progress at once, from all clients; more → 503. @default {1000} */
  uploadsMax?: number;
  /**
   * Most uploads in progress at once from one client address; more → 429. The course's grader
   * posts 100 at once from one address, hence the default. Behind a proxy every client has the
   * proxy's address: raise it to `uploadsMax` there and let the proxy limit clients.
   * @default {128}
   */
  uploadsPerClientMax?: number;
  /**
   * The client's address. @default {the socket's remote address from `Deno.serve`'s handler
   * info (hono's `c.env`), or "unknown" when there is none (`app.request()` in tests)}
   */
  clientKey?: (c: Context) => string;
}

/** Current uploads, for the status page and tests. */
export interface UploadCounts {
  readonly uploads: number;
  readonly clients: number;
}

/**
 * A middleware that holds one upload slot per request while its body is received.
 *
 * @param options the caps and how to tell clients apart
 * @returns the middleware, and `counts()` for metrics and tests
 * @throws {RangeError} for a cap that is not a positive integer
 * @example
 * ```ts
 * const slots = uploadSlots({ uploadsPerClientMax: 8 });
 * app.post("/", slots.middleware, async (c) => {
 *   await readTheBody(c);
 *   c.get("uploadSlot").release();
 *   return c.text(await waitForTheAnswer());
 * });
 * ```
 */
export function uploadSlots(
  options: UploadSlotsOptions = {},
): { middleware: MiddlewareHandler; counts: () => UploadCounts } {
  const uploadsMax = options.uploadsMax ?? 1_000;
  const uploadsPerClientMax = options.uploadsPerClientMax ?? 128;
  checkInteger("uploadsMax", uploadsMax, 1, 1_000_000);
  checkInteger("uploadsPerClientMax", uploadsPerClientMax, 1, 1_000_000);
  const clientKey = options.clientKey ?? remoteAddress;
  const perClient = new Map<string, number>();
  let uploads = 0;
  const middleware: MiddlewareHandler = async (c, next) => {
    const client = clientKey(c);
    const mine = perClient.get(client) ?? 0;
    if (mine >= uploadsPerClientMax) {
      throw new WebError(
        429,
        "too_many_uploads",
        `this client already has uploadsPerClientMax = ${uploadsPerClientMax} uploads in ` +
          "progress; wait for one to finish",
        { headers: { "Retry-After": "1" } },
      );
    }
    if (uploads >= uploadsMax) {
      throw new WebError(
        503,
        "overloaded",
        `the service is at uploadsMax = ${uploadsMax} uploads in progress; retry shortly`,
        { headers: { "Retry-After": "1" } },
      );
    }
    perClient.set(client, mine + 1);
    uploads++;
    let held = true;
    c.set("uploadSlot", {
      release() {
        if (!held) return;
        held = false;
        uploads--;
        const left = perClient.get(client)! - 1;
        if (left === 0) perClient.delete(client);
        else perClient.set(client, left);
      },
    });
    try {
      await next();
    } finally {
      c.get("uploadSlot").release();
    }
  };
  return { middleware, counts: () => ({ uploads, clients: perClient.size }) };
}

/** The socket's remote address, from `Deno.serve`'s handler info (hono passes it as `c.env`). */
function remoteAddress(c: Context): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "unknown";
}

/** The pace one upload must keep; every field is a named, checked limit. */
export interface UploadPaceLimits {
  /** Longest time to receive the whole body. */
  readonly uploadTimeoutMs: number;
  /** Longest gap between two arrivals of body bytes (a stalled client, a short body). */
  readonly uploadIdleMsMax: number;
  /** Slowest average body rate accepted once `uploadRateGraceMs` has passed. */
  readonly uploadBytesPerSecondMin: number;
  /** How long a new upload may be slower than `uploadBytesPerSecondMin` (slow start, latency). */
  readonly uploadRateGraceMs: number;
}

/** Where one upload stands, in the clock's milliseconds and body bytes. */
export interface UploadProgress {
  readonly startMs: number;
  readonly nowMs: number;
  readonly bytes: number;
  readonly lastBytesMs: number;
}

/** The verdict on an upload's pace: fine until `recheckAtMs`, or refused with the reason. */
export type PaceVerdict =
  | { readonly ok: true; readonly recheckAtMs: number }
  | { readonly ok: false; readonly limitName: keyof UploadPaceLimits; readonly message: string };

/**
 * Judges an upload's pace (pure: time is an input).
 *
 * @param p where the upload stands
 * @param limits the pace limits
 * @returns ok with the next time the verdict could change, or the limit it broke
 * @example
 * ```ts
 * uploadPace({ startMs: 0, nowMs: 11_000, bytes: 11, lastBytesMs: 10_900 }, {
 *   uploadTimeoutMs: 60_000, uploadIdleMsMax: 10_000,
 *   uploadBytesPerSecondMin: 1024, uploadRateGraceMs: 10_000,
 * }).ok; // false: 11 bytes in 11 s is below 1024 B/s once the 10 s grace is over
 * ```
 */
export function uploadPace(p: UploadProgress, limits: UploadPaceLimits): PaceVerdict {
  const elapsedMs = p.nowMs - p.startMs;
  if (elapsedMs >= limits.uploadTimeoutMs) {
    return {
      ok: false,
      limitName: "uploadTimeoutMs",
      message: `the upload did not arrive within uploadTimeoutMs = ${limits.uploadTimeoutMs}; ` +
        "check the connection and retry",
    };
  }
  if (p.nowMs - p.lastBytesMs >= limits.uploadIdleMsMax) {
    return {
      ok: false,
      limitName: "uploadIdleMsMax",
      message: `no body bytes arrived for uploadIdleMsMax = ${limits.uploadIdleMsMax} ms ` +
        `after ${p.bytes} bytes (a body shorter than its Content-Length ends this way); ` +
        "send the whole body",
    };
  }
  // The bytes received so far satisfy the minimum rate until this moment.
  const rateDeadlineMs = p.startMs + limits.uploadRateGraceMs +
    (p.bytes * 1000) / limits.uploadBytesPerSecondMin;
  if (p.nowMs >= rateDeadlineMs) {
    return {
      ok: false,
      limitName: "uploadBytesPerSecondMin",
      message: `the upload is slower than uploadBytesPerSecondMin = ` +
        `${limits.uploadBytesPerSecondMin} (${p.bytes} bytes in ${elapsedMs} ms); ` +
        "check the connection and retry",
    };
  }
  const recheckAtMs = Math.min(
    p.startMs + limits.uploadTimeoutMs,
    p.lastBytesMs + limits.uploadIdleMsMax,
    Math.ceil(rateDeadlineMs),
  );
  return { ok: true, recheckAtMs: Math.max(recheckAtMs, p.nowMs + 1) };
}

/** A running watch over one upload's pace. */
export interface UploadWatch {
  /** Aborts (with a 408 `WebError`, or `stop`'s reason) when the upload breaks a limit. */
  readonly signal: AbortSignal;
  /** Call with each chunk's size as the body is read. */
  onBytes(byteCount: number): void;
  /** Stops watching (the body is in, or the upload failed otherwise). */
  done(): void;
}

/**
 * Watches one upload's pace with one timer, re-armed only when the verdict could change.
 *
 * @param clock the time source
 * @param limits the pace limits (checked by the caller once, at start)
 * @param stop aborting it aborts the upload with its reason (shutdown)
 * @returns the watch
 * @example
 * ```ts
 * const watch = watchUpload(systemClock, limits);
 * try {
 *   await openFilePart(body, boundary, "inputFile", { ...sizes, signal: watch.signal, onBytes: watch.onBytes });
 * } finally {
 *   watch.done();
 * }
 * ```
 */
export function watchUpload(
  clock: Clock,
  limits: UploadPaceLimits,
  stop?: AbortSignal,
): UploadWatch {
  const refused = new AbortController();
  const finished = new AbortController();
  const startMs = clock.nowMs();
  let bytes = 0;
  let lastBytesMs = startMs;
  const onStop = () => refused.abort(stop!.reason);
  stop?.addEventListener("abort", onStop, { once: true });
  if (stop?.aborted) onStop();
  (async () => {
    while (!finished.signal.aborted && !refused.signal.aborted) {
      const nowMs = clock.nowMs();
      const verdict = uploadPace({ startMs, nowMs, bytes, lastBytesMs }, limits);
      if (!verdict.ok) {
        refused.abort(new WebError(408, "upload_timeout", verdict.message));
        return;
      }
      await clock.sleepMs(verdict.recheckAtMs - nowMs, finished.signal);
    }
  })();
  return {
    signal: refused.signal,
    onBytes(byteCount) {
      bytes += byteCount;
      lastBytesMs = clock.nowMs();
    },
    done() {
      stop?.removeEventListener("abort", onStop);
      // A reason, so abort() does not build a DOMException with a stack trace (7.6 µs → 30 ns).
      finished.abort("upload read");
    },
  };
}
