/**
 * Keeps server file paths out of HTTP bodies. Error messages from the stores name files (a full
 * disk names the data directory, a broken database its path, a stack trace its source files);
 * that is right for the operator's log and wrong for a client. {@linkcode redactPaths} is the
 * backstop the one error handler (and the health and status views) pass every message through,
 * whatever raised it.
 * @module
 */

/** What a redacted path becomes. */
export const PATH_PLACEHOLDER = "<path>";

// A `file:` URL, or an absolute POSIX path of at least two segments that starts a word (so
// `image/jpeg`, `multipart/form-data` and `http://host/x` are left alone) and is not one of the
// service's own routes (`GET /requests/<id>` is an instruction to the client, not a secret).
// A path a reporter already cut to its last segments (`…/models/face.onnx`, as workers say why
// they cannot get ready) names no server layout and says which file: it stays.
const FILE_URL = /\bfile:\/\/[^\s"'`<>)\]]*/g;
const ABSOLUTE_PATH =
  /(?<![\w.~:/\\…-])\/(?!requests\/)[^\s/"'`<>()[\]{},;:]+(?:\/[^\s/"'`<>()[\]{},;:]*)+/g;
// A Windows drive path, for completeness (C:\data\blobs).
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s"'`<>]+/g;

/**
 * Replaces file paths in a message with {@linkcode PATH_PLACEHOLDER}.
 *
 * @param text a message that may name files
 * @returns the message without absolute paths or file URLs
 * @example
 * ```ts
 * redactPaths("ENOSPC: no space left on device, write '/srv/fr/data/blobs/.data/x'");
 * // "ENOSPC: no space left on device, write '<path>'"
 * redactPaths("the result stays available at GET /requests/abc"); // unchanged
 * ```
 */
export function redactPaths(text: string): string {
  return text.replace(FILE_URL, PATH_PLACEHOLDER).replace(ABSOLUTE_PATH, PATH_PLACEHOLDER)
    .replace(WINDOWS_PATH, PATH_PLACEHOLDER);
}
