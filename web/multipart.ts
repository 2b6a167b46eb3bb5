/**
 * A streaming `multipart/form-data` reader that finds one file field and hands its bytes on as a
 * stream, so a 20 MB upload flows to the blob store without ever being held whole in memory.
 * Hono's `parseBody` (and `Request.formData`) buffer the whole body; that is why this exists.
 *
 * Every size is bounded: the whole body, the file, each part's header block, the number of parts.
 * @module
 */

/** Limits for {@linkcode openFilePart}; each is checked while reading. */
export interface MultipartLimits {
  /** Largest file accepted, in bytes. */
  fileBytesMax: number;
  /** Largest request body, in bytes: the file plus headers, other fields and boundaries. */
  bodyBytesMax: number;
  /** Largest header block of one part (and largest preamble), in bytes. @default {16384} */
  partHeaderBytesMax?: number;
  /** Most parts read before the file field, including it. @default {16} */
  partsMax?: number;
  /**
   * Aborting it stops reading: the pending read ends and the caller (or the file stream) fails
   * with `signal.reason` (the web tier's upload time limit uses this).
   */
  signal?: AbortSignal;
  /** Called with the size of each chunk of the body as it is read (the upload's pace watch). */
  onBytes?: (byteCount: number) => void;
}

/**
 * Why a multipart body was refused, so callers branch without parsing messages:
 * - `bad_boundary`: the Content-Type has no usable boundary, or the body does not use it;
 * - `missing_field`: the body closed without the file field;
 * - `too_many_parts`: the file field is not among the first `partsMax` parts;
 * - `not_a_file`: the field has no file name;
 * - `malformed_header`: a header line or parameter is malformed;
 * - `truncated`: the body ended early, or reading it failed or was aborted.
 */
export type MultipartErrorCode =
  | "bad_boundary"
  | "missing_field"
  | "too_many_parts"
  | "not_a_file"
  | "malformed_header"
  | "truncated";

/** The body is not well-formed multipart, or lacks the file field: the client's fault (400). */
export class MultipartError extends Error {
  /** A stable machine-readable kind. */
  readonly code: MultipartErrorCode;
  constructor(code: MultipartErrorCode, message: string) {
    super(message);
    this.name = "MultipartError";
    this.code = code;
  }
}

/** The body or the file passed a byte limit (413). */
export class UploadTooLargeError extends Error {
  /** The limit's option name, e.g. `uploadBytesMax`. */
  readonly limitName: string;
  /** The limit, in bytes. */
  readonly limitBytes: number;
  constructor(limitName: string, limitBytes: number, what: string) {
    super(`${what} is over ${limitName} = ${limitBytes} bytes; send a smaller file`);
    this.name = "UploadTooLargeError";
    this.limitName = limitName;
    this.limitBytes = limitBytes;
  }
}

/** The file field, found; its bytes follow as a stream. */
export interface FilePart {
  /** The `filename` (or decoded `filename*`) parameter, unvalidated. */
  readonly fileName: string;
  /** The part's Content-Type, if it sent one. */
  readonly contentType: string | undefined;
  /**
   * The file's bytes. It errors with {@linkcode MultipartError} when the body ends before the
   * part's closing boundary and with {@linkcode UploadTooLargeError} past a limit.
   */
  readonly body: ReadableStream<Uint8Array>;
  /**
   * The error `body` failed with, if any. Consumers (blob stores) may wrap or replace a stream's
   * error; this keeps the original so the caller can answer 400 or 413.
   */
  failure(): Error | undefined;
  /**
   * Reads what follows the file part (bounded by `bodyBytesMax`) and releases the body. A broken
   * or oversize tail is dropped, but a read cut off by `signal` (the body stopped short of its
   * Content-Length and the upload timed out) rejects with the signal's reason: the upload did not
   * arrive whole.
   */
  finish(): Promise<void>;
  /** Abandons the body (when the file will not be stored). */
  cancel(reason: string): Promise<void>;
}

const PART_HEADER_BYTES_MAX_DEFAULT = 16_384;
const PARTS_MAX_DEFAULT = 16;
const BOUNDARY_CHARS_MAX = 70;
/** RFC 2046 `bchars`. */
const BOUNDARY_PATTERN = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const CRLF = new Uint8Array([13, 10]);
const encoder = new TextEncoder();

/**
 * Reads the boundary from a request's Content-Type.
 *
 * @param contentType the request's Content-Type header
 * @returns the boundary, or undefined when the type is not `multipart/form-data`
 * @throws {MultipartError} for a multipart type with a missing or malformed boundary
 * @example
 * ```ts
 * multipartBoundary("multipart/form-data; boundary=abc"); // "abc"
 * multipartBoundary("application/json"); // undefined
 * ```
 */
export function multipartBoundary(contentType: string | null | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...rest] = splitParams(contentType);
  if (type.trim().toLowerCase() !== "multipart/form-data") return undefined;
  const params = parseParams(rest);
  const boundary = params.get("boundary");
  if (boundary === undefined) {
    throw new MultipartError(
      "bad_boundary",
      "multipart/form-data without a boundary parameter; let your HTTP client build the body",
    );
  }
  if (boundary.length > BOUNDARY_CHARS_MAX || !BOUNDARY_PATTERN.test(boundary)) {
    throw new MultipartError(
      "bad_boundary",
      `multipart boundary ${JSON.stringify(boundary.slice(0, 80))} is not 1-70 RFC 2046 characters`,
    );
  }
  return boundary;
}

/**
 * Reads a multipart body up to the file field `fieldName` and returns that part with its bytes as
 * a stream. Other fields before it are skipped (within the limits).
 *
 * @param body the request body
 * @param boundary from {@linkcode multipartBoundary}
 * @param fieldName the file field, e.g. `inputFile`
 * @param limits byte and part limits
 * @returns the file part; its `body` must be consumed or cancelled
 * @throws {MultipartError} for a malformed body, a missing field or a field that is not a file
 * @throws {UploadTooLargeError} past `bodyBytesMax`
 * @throws {RangeError} for bad limits (a programmer error)
 * @example
 * ```ts
 * const part = await openFilePart(request.body!, boundary, "inputFile", {
 *   fileBytesMax: REQUEST_IMAGE_BYTES_MAX,
 *   bodyBytesMax: REQUEST_IMAGE_BYTES_MAX + 65_536,
 * });
 * await store.put("in-bucket", part.fileName, part.body);
 * ```
 */
export async function openFilePart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  fieldName: string,
  limits: MultipartLimits,
): Promise<FilePart> {
  const partHeaderBytesMax = limits.partHeaderBytesMax ?? PART_HEADER_BYTES_MAX_DEFAULT;
  const partsMax = limits.partsMax ?? PARTS_MAX_DEFAULT;
  const { fileBytesMax, bodyBytesMax } = limits;
  for (
    const [name, value] of Object.entries({
      fileBytesMax,
      bodyBytesMax,
      partHeaderBytesMax,
      partsMax,
    })
  ) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  const input = new ByteInput(body, limits.bodyBytesMax, limits.signal, limits.onBytes);
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  try {
    // A virtual CRLF lets the first boundary match the same delimiter as the others.
    input.unshift(CRLF);
    if (!await input.skipThrough(delimiter, partHeaderBytesMax)) {
      throw new MultipartError(
        "bad_boundary",
        "multipart body has no opening boundary; check the boundary",
      );
    }
    for (let part = 1;; part++) {
      if (await readBoundaryTail(input) === "close") {
        throw new MultipartError(
          "missing_field",
          `multipart body has no field ${JSON.stringify(fieldName)}`,
        );
      }
      if (part > partsMax) {
        throw new MultipartError(
          "too_many_parts",
          `field ${JSON.stringify(fieldName)} not found in the first partsMax = ${partsMax} parts`,
        );
      }
      const headers = await readPartHeaders(input, partHeaderBytesMax);
      const disposition = parseDisposition(headers.get("content-disposition"));
      if (disposition.name !== fieldName) {
        if (!await input.skipThrough(delimiter, Infinity)) {
          throw new MultipartError(
            "truncated",
            "multipart body ended inside a part; send the whole body",
          );
        }
        continue;
      }
      if (disposition.fileName === undefined) {
        throw new MultipartError(
          "not_a_file",
          `field ${JSON.stringify(fieldName)} is not a file (no filename); send it as a file`,
        );
      }
      return filePart(input, delimiter, disposition.fileName, headers.get("content-type"), limits);
    }
  } catch (error) {
    await input.cancel(String(error));
    throw error;
  }
}

function filePart(
  input: ByteInput,
  delimiter: Uint8Array,
  fileName: string,
  contentType: string | undefined,
  limits: MultipartLimits,
): FilePart {
  let failure: Error | undefined;
  let fileBytes = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await input.readUntil(delimiter);
        if (chunk === null) {
          throw new MultipartError(
            "truncated",
            "multipart body ended inside the file; send the whole file",
          );
        }
        if (chunk === "done") return controller.close();
        fileBytes += chunk.byteLength;
        if (fileBytes > limits.fileBytesMax) {
          throw new UploadTooLargeError("uploadBytesMax", limits.fileBytesMax, "the file");
        }
        controller.enqueue(chunk);
      } catch (error) {
        failure = error as Error;
        await input.cancel(failure.message);
        controller.error(error);
      }
    },
    async cancel(reason) {
      await input.cancel(String(reason));
    },
  }, { highWaterMark: 0 });
  return {
    fileName,
    contentType,
    body: stream,
    failure: () => failure ?? input.failure,
    finish: () => input.drain(),
    cancel: (reason) => input.cancel(reason),
  };
}

/** After a delimiter: `--` closes the body; otherwise optional padding then CRLF. */
async function readBoundaryTail(input: ByteInput): Promise<"close" | "part"> {
  const two = await input.take(2);
  if (two === null) throw new MultipartError("truncated", "multipart body ended after a boundary");
  if (two[0] === 45 && two[1] === 45) return "close"; // "--"
  input.unshift(two);
  // RFC 2046 allows transport padding (spaces and tabs) before the CRLF.
  const line = await input.takeThrough(CRLF, 256);
  if (line === null || !/^[ \t]*$/.test(latin1(line))) {
    throw new MultipartError(
      "bad_boundary",
      "multipart boundary line is followed by junk; check the boundary",
    );
  }
  return "part";
}

async function readPartHeaders(
  input: ByteInput,
  partHeaderBytesMax: number,
): Promise<Map<string, string>> {
  const headers = new Map<string, string>();
  const first = await input.take(2);
  if (first === null) {
    throw new MultipartError("truncated", "multipart body ended in a part's headers");
  }
  if (first[0] === 13 && first[1] === 10) return headers; // a part with no headers
  input.unshift(first);
  const block = await input.takeThrough(encoder.encode("\r\n\r\n"), partHeaderBytesMax);
  if (block === null) {
    throw new MultipartError(
      "malformed_header",
      `a part's headers do not end within partHeaderBytesMax = ${partHeaderBytesMax} bytes`,
    );
  }
  // Headers are UTF-8 in practice (browsers send file names that way); bad bytes become U+FFFD,
  // which the file-name rules then refuse.
  const text = new TextDecoder().decode(block);
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\r\n]/.test(line)) {
      throw new MultipartError(
        "malformed_header",
        `malformed part header line ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function parseDisposition(
  value: string | undefined,
): { name: string | undefined; fileName: string | undefined } {
  if (value === undefined) {
    throw new MultipartError("malformed_header", "a part has no Content-Disposition header");
  }
  const [type, ...rest] = splitParams(value);
  if (type.trim().toLowerCase() !== "form-data") {
    throw new MultipartError(
      "malformed_header",
      `a part's Content-Disposition is ${type.trim()}, not form-data`,
    );
  }
  const params = parseParams(rest);
  let fileName = params.get("filename");
  const extended = params.get("filename*");
  if (extended !== undefined) fileName = decodeExtended(extended);
  return { name: params.get("name"), fileName };
}

/** RFC 5987 `UTF-8''percent-encoded`. */
function decodeExtended(value: string): string {
  const match = /^utf-8'[^']*'(.*)$/i.exec(value);
  if (!match) {
    throw new MultipartError("malformed_header", "filename* must be UTF-8''<percent-encoded name>");
  }
  try {
    return decodeURIComponent(match[1]);
  } catch {
    throw new MultipartError("malformed_header", "filename* has broken percent-encoding");
  }
}

/** Splits `a; b="x;y"; c` on semicolons outside quotes. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted && ch === "\\" && i + 1 < value.length) {
      current += ch + value[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ";" && !quoted) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  if (quoted) {
    throw new MultipartError(
      "malformed_header",
      `unterminated quoted string in ${JSON.stringify(value)}`,
    );
  }
  out.push(current);
  return out;
}

function parseParams(items: string[]): Map<string, string> {
  const params = new Map<string, string>();
  for (const item of items) {
    const trimmed = item.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    if (eq <= 0) {
      throw new MultipartError(
        "malformed_header",
        `malformed parameter ${JSON.stringify(trimmed)}`,
      );
    }
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    let value = trimmed.slice(eq + 1).trim();
    if (value.startsWith('"')) {
      if (value.length < 2 || !value.endsWith('"')) {
        throw new MultipartError(
          "malformed_header",
          `malformed quoted parameter ${JSON.stringify(trimmed)}`,
        );
      }
      value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    }
    if (params.has(key)) {
      throw new MultipartError("malformed_header", `parameter ${key} is given twice`);
    }
    params.set(key, value);
  }
  return params;
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first, from); i !== -1; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** The body as a byte source with look-ahead, counting every byte against `bodyBytesMax`. */
class ByteInput {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #bodyBytesMax: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #bodyBytes = 0;
  #eof = false;
  #released = false;
  failure: Error | undefined;

  readonly #signal: AbortSignal | undefined;
  readonly #onBytes: ((byteCount: number) => void) | undefined;

  constructor(
    body: ReadableStream<Uint8Array>,
    bodyBytesMax: number,
    signal?: AbortSignal,
    onBytes?: (byteCount: number) => void,
  ) {
    this.#reader = body.getReader();
    this.#bodyBytesMax = bodyBytesMax;
    this.#signal = signal;
    this.#onBytes = onBytes;
    // Cancelling ends a read that is waiting on a slow client; #fill then reports the reason.
    signal?.addEventListener("abort", () => {
      this.#reader.cancel(String(signal.reason)).catch(() => {});
    }, { once: true });
  }

  #checkSignal(): void {
    if (!this.#signal?.aborted) return;
    const reason = this.#signal.reason;
    this.failure = reason instanceof Error
      ? reason
      : new MultipartError("truncated", "reading was aborted");
    throw this.failure;
  }

  unshift(bytes: Uint8Array): void {
    this.#buffer = concat(bytes, this.#buffer);
  }

  /** Reads one more chunk into the buffer; false at the end of the body. */
  async #fill(): Promise<boolean> {
    this.#checkSignal();
    if (this.#eof) return false;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.#reader.read();
      this.#checkSignal();
    } catch (error) {
      if (error === this.failure) throw error;
      // The client went away or the connection broke: for us, a truncated body.
      this.failure = new MultipartError(
        "truncated",
        `reading the upload failed: ${(error as Error).message}`,
      );
      throw this.failure;
    }
    if (result.done) {
      this.#eof = true;
      return false;
    }
    this.#bodyBytes += result.value.byteLength;
    this.#onBytes?.(result.value.byteLength);
    if (this.#bodyBytes > this.#bodyBytesMax) {
      this.failure = new UploadTooLargeError(
        "bodyBytesMax",
        this.#bodyBytesMax,
        "the request body",
      );
      throw this.failure;
    }
    this.#buffer = concat(this.#buffer, result.value);
    return true;
  }

  /** Exactly `count` bytes, or null when the body ends first. */
  async take(count: number): Promise<Uint8Array | null> {
    while (this.#buffer.byteLength < count) {
      if (!await this.#fill()) return null;
    }
    const out = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return out;
  }

  /** The bytes before `needle` (consuming it), or null when not found within `bytesMax`. */
  async takeThrough(needle: Uint8Array, bytesMax: number): Promise<Uint8Array | null> {
    for (let from = 0;;) {
      const at = indexOf(this.#buffer, needle, from);
      // The limit holds however the bytes arrived: a block that came in one large chunk is
      // found at once and must still be measured (a 60 KB part header used to pass here).
      if (at > bytesMax) return null;
      if (at !== -1) {
        const out = this.#buffer.subarray(0, at);
        this.#buffer = this.#buffer.subarray(at + needle.byteLength);
        return out;
      }
      from = Math.max(0, this.#buffer.byteLength - needle.byteLength + 1);
      if (this.#buffer.byteLength > bytesMax + needle.byteLength) return null;
      if (!await this.#fill()) return null;
    }
  }

  /** Discards bytes through `needle`; false when the body ends (or `bytesMax` passes) first. */
  async skipThrough(needle: Uint8Array, bytesMax: number): Promise<boolean> {
    let skipped = 0;
    for (;;) {
      const at = indexOf(this.#buffer, needle);
      if (at !== -1) {
        if (skipped + at > bytesMax) return false;
        this.#buffer = this.#buffer.subarray(at + needle.byteLength);
        return true;
      }
      const keep = Math.min(this.#buffer.byteLength, needle.byteLength - 1);
      skipped += this.#buffer.byteLength - keep;
      this.#buffer = this.#buffer.slice(this.#buffer.byteLength - keep);
      if (skipped > bytesMax) return false;
      if (!await this.#fill()) return false;
    }
  }

  /**
   * The next run of bytes before `needle`: a chunk (maybe empty) while it is not found yet,
   * `"done"` once it was found and consumed, null when the body ends first.
   */
  async readUntil(needle: Uint8Array): Promise<Uint8Array | "done" | null> {
    for (;;) {
      const at = indexOf(this.#buffer, needle);
      if (at === 0) {
        this.#buffer = this.#buffer.subarray(needle.byteLength);
        return "done";
      }
      if (at > 0) {
        // Hand the bytes before the delimiter out now; the next call finds it at 0.
        const out = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.subarray(at);
        return out;
      }
      // Keep a tail that could be the start of a delimiter split across chunks.
      const safe = this.#buffer.byteLength - (needle.byteLength - 1);
      if (safe > 0) {
        const out = this.#buffer.slice(0, safe);
        this.#buffer = this.#buffer.slice(safe);
        return out;
      }
      if (!await this.#fill()) return null;
    }
  }

  /** Reads to the end (still bounded by `bodyBytesMax`), then releases the body. */
  async drain(): Promise<void> {
    try {
      this.#buffer = new Uint8Array(0);
      while (await this.#fill()) this.#buffer = new Uint8Array(0);
    } catch (error) {
      // What follows the file does not matter; a broken or oversize tail is just dropped. But a
      // tail that never comes (a Content-Length longer than the body) is an upload that did not
      // arrive: it used to be answered 200 once uploadTimeoutMs had passed.
      if (this.#signal?.aborted) {
        await this.cancel("aborted");
        throw error;
      }
    }
    await this.cancel("done");
  }

  async cancel(reason: string): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#buffer = new Uint8Array(0);
    await this.#reader.cancel(reason).catch(() => {});
  }
}
