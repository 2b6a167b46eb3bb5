/**
 * The messages that cross the queues: web tier → request queue → worker → response queue → web
 * tier. Both ends validate what they read, since a queue is an input like any other.
 * @module
 */
import { isQueueName } from "../cloud/message_queue.ts";
import { REQUEST_MESSAGE_BYTES_MAX, STEM_CHARS_MAX } from "./limits.ts";

/** Request ids: what the web tier generates (UUIDs) and all a client may pass back. */
const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
/** Protocol version; a reader refuses versions it does not know. */
export const PROTOCOL_VERSION = 1;

/** Web tier → worker: recognise the image stored in the in-bucket under `key`. */
export interface RecognitionRequest {
  readonly v: typeof PROTOCOL_VERSION;
  readonly id: string;
  /** Key in the in-bucket (the uploaded file name). */
  readonly key: string;
  /** File name without extension: the out-bucket key and the answer's prefix. */
  readonly stem: string;
  /** When the web tier accepted the upload (ms since epoch, from its clock). */
  readonly acceptedAtMs: number;
  /**
   * The queue the answer goes to, when it is not the deployment's response queue: each extra
   * web process consumes a response queue of its own (`<id>-resp-queue-<n>`), so it receives
   * only the answers to its own requests. Workers honour only queues of their deployment.
   */
  readonly replyTo?: string;
}

/**
 * Where the answer to `request` goes: its `replyTo` when that is `responseQueue` itself or one of
 * its per-process siblings (`<responseQueue>-<suffix>`), else `responseQueue`. A request cannot
 * send a worker's answers into some other queue of the account.
 */
export function replyQueueOf(request: RecognitionRequest, responseQueue: string): string {
  const { replyTo } = request;
  if (replyTo === undefined) return responseQueue;
  return replyTo === responseQueue || replyTo.startsWith(`${responseQueue}-`)
    ? replyTo
    : responseQueue;
}

/** One face in an answer. */
export interface FaceAnswer {
  readonly box: { x: number; y: number; width: number; height: number };
  readonly score: number;
  readonly label: string;
  /** Euclidean distance to the matched gallery entry; null when the gallery is empty. */
  readonly distance: number | null;
}

/** Worker → web tier: the result for one request. */
export type RecognitionResponse =
  | {
    readonly v: typeof PROTOCOL_VERSION;
    readonly id: string;
    readonly stem: string;
    readonly ok: true;
    /** The plain-text answer's label: the largest face's label, or `NoFace`. */
    readonly label: string;
    readonly faces: readonly FaceAnswer[];
    readonly timingsMs: Readonly<Record<string, number>>;
    readonly worker: string;
  }
  | {
    readonly v: typeof PROTOCOL_VERSION;
    readonly id: string;
    readonly stem: string;
    readonly ok: false;
    /** `image_*` codes are the client's fault (422); others are ours (500). */
    readonly error: { readonly code: string; readonly message: string };
    readonly worker: string;
  };

/** A queue message that is not a valid protocol message. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseObject(body: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ProtocolError(`${what} is not JSON: ${JSON.stringify(body.slice(0, 80))}`);
  }
  if (!isObject(parsed)) throw new ProtocolError(`${what} is not a JSON object`);
  if (parsed.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `${what} has protocol version ${parsed.v}, expected ${PROTOCOL_VERSION}`,
    );
  }
  if (typeof parsed.id !== "string" || !ID_PATTERN.test(parsed.id)) {
    throw new ProtocolError(`${what} has a bad id ${JSON.stringify(parsed.id)}`);
  }
  if (typeof parsed.stem !== "string" || parsed.stem.length > STEM_CHARS_MAX) {
    throw new ProtocolError(`${what} ${parsed.id} has a bad stem`);
  }
  return parsed;
}

/** Whether a string is a well-formed request id. */
export function isRequestId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * Serialises a request, refusing one over {@linkcode REQUEST_MESSAGE_BYTES_MAX}.
 * @throws {RangeError} naming the limit when the message is too big
 */
export function encodeRequest(request: RecognitionRequest): string {
  const body = JSON.stringify(request);
  const bytes = new TextEncoder().encode(body).length;
  if (bytes > REQUEST_MESSAGE_BYTES_MAX) {
    throw new RangeError(
      `Request message is ${bytes} bytes, over REQUEST_MESSAGE_BYTES_MAX ` +
        `(${REQUEST_MESSAGE_BYTES_MAX}); shorten the file name`,
    );
  }
  return body;
}

/**
 * Parses and validates a request message body.
 * @throws {ProtocolError} when the body is not a valid request
 */
export function decodeRequest(body: string): RecognitionRequest {
  const o = parseObject(body, "Request message");
  if (typeof o.key !== "string" || o.key.length === 0) {
    throw new ProtocolError(`Request ${o.id} has no key`);
  }
  if (typeof o.acceptedAtMs !== "number" || !Number.isFinite(o.acceptedAtMs)) {
    throw new ProtocolError(`Request ${o.id} has a bad acceptedAtMs`);
  }
  if (o.replyTo !== undefined && !isQueueName(o.replyTo)) {
    throw new ProtocolError(`Request ${o.id} has a bad replyTo ${JSON.stringify(o.replyTo)}`);
  }
  return o as unknown as RecognitionRequest;
}

/** Serialises a response. */
export function encodeResponse(response: RecognitionResponse): string {
  return JSON.stringify(response);
}

/**
 * Parses and validates a response message body.
 * @throws {ProtocolError} when the body is not a valid response
 */
export function decodeResponse(body: string): RecognitionResponse {
  const o = parseObject(body, "Response message");
  if (typeof o.worker !== "string") throw new ProtocolError(`Response ${o.id} has no worker`);
  if (o.ok === true) {
    if (typeof o.label !== "string" || !Array.isArray(o.faces) || !isObject(o.timingsMs)) {
      throw new ProtocolError(`Response ${o.id} is ok but lacks label, faces or timingsMs`);
    }
  } else if (o.ok === false) {
    const e = o.error;
    if (!isObject(e) || typeof e.code !== "string" || typeof e.message !== "string") {
      throw new ProtocolError(`Response ${o.id} failed but has no error code and message`);
    }
  } else {
    throw new ProtocolError(`Response ${o.id} has no ok flag`);
  }
  return o as unknown as RecognitionResponse;
}
