/**
 * The limits both tiers agree on: what a request message and the image it refers to may weigh.
 * The web tier refuses past them before it enqueues; workers and the queue hold to the same
 * numbers, so nothing the web tier accepts is refused further down.
 * @module
 */

/**
 * The largest request message, in bytes: the request queue's MaximumMessageSize, which the
 * service sets from this when it creates the queue. Messages carry metadata, never pixels.
 */
export const REQUEST_MESSAGE_BYTES_MAX = 1024;

/** Longest file stem a message carries; the web tier validates upload names against it first. */
export const STEM_CHARS_MAX = 200;

/**
 * The largest image a request may refer to, in bytes (20 MiB, far above any photo a phone
 * takes). The web tier's `uploadBytesMax` and the worker's `imageBytesMax` default to it, so what
 * one accepts the other reads; the load generator refuses to send anything larger.
 */
export const REQUEST_IMAGE_BYTES_MAX = 20 * 1024 * 1024;
