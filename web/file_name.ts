/**
 * Upload file names → blob keys. The specification stores each image in the in-bucket under the
 * uploaded file name and its label in the out-bucket under the stem, so the name a client sends
 * becomes a storage key: only plain base names made of S3's "safe characters" pass.
 * @module
 */
import { validateKey } from "../cloud/blob_store.ts";
import { STEM_CHARS_MAX } from "../protocol/mod.ts";

/**
 * Longest upload file name accepted, in characters (all ASCII once validated). The stem must fit
 * the protocol's {@linkcode STEM_CHARS_MAX}, and the whole name a file-system segment.
 */
export const FILE_NAME_CHARS_MAX_DEFAULT = 200;

/** Where an upload is stored: the in-bucket key and the stem (out-bucket key, answer prefix). */
export interface UploadName {
  /** The in-bucket key: the uploaded base name, unchanged. */
  readonly key: string;
  /** The name without its last extension: `test_000.jpg` → `test_000`. */
  readonly stem: string;
}

/** A file name the service will not store; the message says which rule and what to send. */
export class FileNameError extends Error {
  /** The name as received (may hold control characters; escape before showing). */
  readonly fileName: string;
  constructor(fileName: string, rule: string) {
    const shown = fileName.length > 80 ? `${fileName.slice(0, 80)}…` : fileName;
    super(`file name ${JSON.stringify(shown)} refused: ${rule}`);
    this.name = "FileNameError";
    this.fileName = fileName;
  }
}

const SAFE_NAME = /^[A-Za-z0-9!\-_.*'()]+$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks an uploaded file name and derives its storage key and stem.
 *
 * Rules, each with its own message: non-empty; at most `fileNameCharsMax` characters; no NUL or
 * other control characters; a base name, not a path (no `/` or `\`); not hidden (no leading
 * `.`, which also refuses `.` and `..`); only letters, digits and `! - _ . * ' ( )`.
 *
 * @param fileName the `filename` parameter of the upload's Content-Disposition
 * @param fileNameCharsMax the length limit, 1..{@linkcode STEM_CHARS_MAX}
 * @returns the key (the name itself) and the stem
 * @throws {FileNameError} naming the broken rule
 * @throws {RangeError} for a bad `fileNameCharsMax` (a programmer error)
 * @example
 * ```ts
 * parseUploadName("test_000.jpg"); // { key: "test_000.jpg", stem: "test_000" }
 * parseUploadName("../../x.jpg"); // throws FileNameError
 * ```
 */
export function parseUploadName(
  fileName: string,
  fileNameCharsMax: number = FILE_NAME_CHARS_MAX_DEFAULT,
): UploadName {
  validateFileNameCharsMax(fileNameCharsMax);
  const refuse = (rule: string) => new FileNameError(fileName, rule);
  if (fileName.length === 0) throw refuse("it is empty; choose a file to upload");
  if (fileName.length > fileNameCharsMax) {
    throw refuse(
      `it has ${fileName.length} characters, over fileNameCharsMax = ${fileNameCharsMax}; ` +
        "rename the file",
    );
  }
  if (CONTROL.test(fileName)) throw refuse("it contains NUL or control characters");
  if (fileName.includes("/") || fileName.includes("\\")) {
    throw refuse("send the base name only, not a path (no / or \\)");
  }
  if (fileName.startsWith(".")) throw refuse("names starting with . (hidden, . or ..) are refused");
  if (!SAFE_NAME.test(fileName)) {
    throw refuse("use only letters, digits and ! - _ . * ' ( ) (rename files with spaces)");
  }
  // The rules above are stricter than the blob store's; this keeps them so if either changes.
  try {
    validateKey(fileName);
  } catch (error) {
    throw refuse((error as Error).message);
  }
  return { key: fileName, stem: stemOf(fileName) };
}

/** The file name without its last extension: what the service answers with (`test_000`). */
export function stemOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * Checks the file-name length limit setting.
 * @throws {RangeError} when not an integer in 1..STEM_CHARS_MAX
 */
export function validateFileNameCharsMax(fileNameCharsMax: number): void {
  if (
    !Number.isInteger(fileNameCharsMax) || fileNameCharsMax < 1 ||
    fileNameCharsMax > STEM_CHARS_MAX
  ) {
    throw new RangeError(
      `fileNameCharsMax must be an integer in 1..${STEM_CHARS_MAX} (STEM_CHARS_MAX), ` +
        `got ${fileNameCharsMax}`,
    );
  }
}
