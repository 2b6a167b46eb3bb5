/**
 * The one error type image decoding throws for bad input.
 * @module
 */
import type { ImageFormat } from "./format.ts";

/**
 * Why an image was refused:
 * - `empty`: zero bytes.
 * - `unsupported_format`: recognised or unrecognised, but not a format we decode
 *   (see {@linkcode ImageError.format}), or a variant of one we do not decode (an arithmetic-
 *   coded JPEG, a 64-bit BMP, a BigTIFF...).
 * - `truncated`: the data stops before the image does.
 * - `corrupt`: the structure or the compressed data is invalid.
 * - `too_large`: more bytes, pixels, JPEG scans or animation frames than the configured limits.
 * - `dimensions_invalid`: the header declares a zero or otherwise impossible width/height.
 */
export type ImageErrorCode =
  | "empty"
  | "unsupported_format"
  | "truncated"
  | "corrupt"
  | "too_large"
  | "dimensions_invalid";

/** Every code, for exhaustive tests and for mapping codes to responses. */
export const IMAGE_ERROR_CODES: readonly ImageErrorCode[] = [
  "empty",
  "unsupported_format",
  "truncated",
  "corrupt",
  "too_large",
  "dimensions_invalid",
];

/** Details carried by an {@linkcode ImageError}. */
export interface ImageErrorOptions {
  /** The format detected from the bytes. */
  format: ImageFormat;
  /** The underlying decoder failure, if any. */
  cause?: unknown;
}

/**
 * An input image that cannot be decoded. An operating error, not a bug: callers turn it into a
 * user-facing answer (HTTP 400/413/415); the message says what was wrong and what to do.
 *
 * @example
 * ```ts
 * import { ImageError } from "./errors.ts";
 * try {
 *   throw new ImageError("empty", "The image has 0 bytes; upload a JPEG or PNG file.", {
 *     format: "unknown",
 *   });
 * } catch (error) {
 *   if (error instanceof ImageError && error.code === "empty") console.log(error.message);
 * }
 * ```
 */
export class ImageError extends Error {
  /** Machine-readable reason. */
  readonly code: ImageErrorCode;
  /** The format detected from the bytes (`"unknown"` when nothing matched). */
  readonly format: ImageFormat;

  /**
   * Creates an error for one refused image.
   * @param code why the image was refused
   * @param message what was wrong and what to do about it
   * @param options the detected format and the underlying failure
   * @example
   * ```ts
   * import { ImageError } from "./errors.ts";
   * const error = new ImageError("too_large", "The image has 50000000 pixels...", {
   *   format: "png",
   * });
   * ```
   */
  constructor(code: ImageErrorCode, message: string, options: ImageErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ImageError";
    this.code = code;
    this.format = options.format;
  }
}
