/**
 * The web tier's one error vocabulary: every expected failure is a {@linkcode WebError} (an
 * `HTTPException` with a stable code and, once known, the request id), and one `onError` turns
 * it — or anything unexpected — into a response.
 * @module
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Stable, machine-readable error kinds; clients may branch on them. */
export type WebErrorCode =
  | "bad_request"
  | "bad_multipart"
  | "missing_field"
  | "bad_file_name"
  | "unsupported_media_type"
  | "upload_too_large"
  | "upload_timeout"
  | "overloaded"
  | "too_many_uploads"
  | "unauthorized"
  | "unavailable"
  | "insufficient_storage"
  | "not_found"
  | "image_error"
  | "worker_failed"
  | "timeout"
  | "internal";

/** An expected failure with its status, code and (when one was assigned) request id. */
export class WebError extends HTTPException {
  readonly code: WebErrorCode;
  /** The request id, when the upload got that far; lets the client ask `GET /requests/:id`. */
  readonly requestId: string | undefined;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: ContentfulStatusCode,
    code: WebErrorCode,
    message: string,
    options: { requestId?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(status, { message, cause: options.cause });
    this.name = "WebError";
    this.code = code;
    this.requestId = options.requestId;
    this.headers = options.headers ?? {};
  }
}
