/**
 * What the model commands share: the recognizer's flags, expanding IMAGE arguments, reading an
 * input with a one-line reason when it cannot be read, and turning the model's known errors into
 * one clear line. The command-line conventions themselves (`--help`, exit 2 for a usage mistake,
 * progress) are `internal/cli.ts`'s.
 * @module
 */
import {
  batchConsole,
  type CommandContext,
  type CommandSpec,
  EXIT_FAILED,
  type FlagSpecs,
  integerFlag,
  readFailureReason,
  runCli,
  UsageError,
} from "../../internal/cli.ts";
import { GalleryFileError, GalleryMismatchError } from "../gallery/errors.ts";
import { parseThreshold } from "../gallery/match.ts";
import { ImageError } from "../image/errors.ts";
import {
  DETECTOR_STRATEGIES,
  type DetectorStrategy,
  type RecognizerOptions,
} from "../recognizer.ts";
import { type Backend, BACKENDS, THREADS_MAX } from "../runtime/session.ts";

/** Where `recognize`, `enroll` and the service look for the gallery unless told otherwise. */
export const GALLERY_PATH_DEFAULT = "data/faces.gallery";

/** The `parseArgs` option specs for the recognizer flags every model command takes. */
export const RECOGNIZER_FLAGS = {
  backend: { type: "string" },
  threads: { type: "string" },
  detector: { type: "string" },
  threshold: { type: "string" },
  "min-confidence": { type: "string" },
} as const;

/** Usage text for {@linkcode RECOGNIZER_FLAGS}. */
export const RECOGNIZER_USAGE =
  `  --backend web|native   onnxruntime-web (WASM, default) or onnxruntime-node
  --threads N            intra-op threads per model (default 1)
  --detector STRATEGY    auto (default), ssd (face-api parity), tiny or blaze
  --threshold T|none     match distance threshold (default 0.6; none = nearest person)
  --min-confidence C     minimum detection score in (0, 1) (default 0.5)`;

/** Turns parsed recognizer flags into validated options. */
export function recognizerOptions(
  values: Record<string, string | boolean | undefined>,
): RecognizerOptions {
  const options: RecognizerOptions = {};
  const backend = values.backend as string | undefined;
  if (backend !== undefined) {
    if (!BACKENDS.includes(backend as Backend)) {
      throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got "${backend}"`);
    }
    options.backend = backend as Backend;
  }
  if (values.threads !== undefined) {
    options.threads = integerFlag("--threads", values.threads as string, 1, THREADS_MAX);
  }
  const detector = values.detector as string | undefined;
  if (detector !== undefined) {
    if (!DETECTOR_STRATEGIES.includes(detector as DetectorStrategy)) {
      throw new UsageError(
        `--detector must be one of ${DETECTOR_STRATEGIES.join(", ")}, got "${detector}"`,
      );
    }
    options.detector = detector as DetectorStrategy;
  }
  if (values.threshold !== undefined) {
    try {
      options.threshold = parseThreshold(values.threshold as string);
    } catch (error) {
      throw new UsageError(`--threshold: ${(error as Error).message}`);
    }
  }
  if (values["min-confidence"] !== undefined) {
    const c = Number(values["min-confidence"]);
    if (!(c > 0 && c < 1)) {
      throw new UsageError(`--min-confidence must be in (0, 1), got "${values["min-confidence"]}"`);
    }
    options.minConfidence = c;
  }
  return options;
}

const IMAGE_FILE = /\.(jpe?g|png|gif|webp|bmp|tiff?|heic|heif|avif)$/i;

/**
 * Expands IMAGE arguments: files are kept as given; a directory contributes its image files
 * (by extension, sorted by name, not recursive). An argument that does not exist is kept as it is,
 * so the batch reports it in its turn (see {@linkcode readInput}) and goes on with the others.
 */
export async function expandImageArgs(args: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.stat(arg);
    } catch {
      // reported when it is read
    }
    if (info === undefined || !info.isDirectory) {
      files.push(arg);
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(arg)) {
      if (entry.isFile && IMAGE_FILE.test(entry.name)) names.push(entry.name);
    }
    names.sort();
    // A folder without images is reported in its turn, like a missing file.
    if (names.length === 0) files.push(arg);
    files.push(...names.map((n) => `${arg.replace(/\/+$/, "")}/${n}`));
  }
  return files;
}

/** An input file that could not be read; the message says why in a few words, no OS jargon. */
export class InputFileError extends Error {
  /** `not_found`, `permission_denied`, `is_a_directory` or `unreadable`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputFileError";
    this.code = code;
  }
}

/**
 * Reads an input file.
 * @throws {InputFileError} when it cannot be read, saying why in a few words
 */
async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.IsADirectory) {
      throw new InputFileError("no_images", "a folder with no image files in it", { cause: error });
    }
    throw inputFileError(error);
  }
}

/** The one-line reason for a failed read of an input (`no such file or directory`). */
export function inputFileError(error: unknown): InputFileError {
  const code = error instanceof Deno.errors.NotFound
    ? "not_found"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission_denied"
    : error instanceof Deno.errors.IsADirectory
    ? "is_a_directory"
    : "unreadable";
  return new InputFileError(code, readFailureReason(error), { cause: error });
}

/** The JSON error code and message of a per-image failure, or undefined for a bug. */
function imageFailure(error: unknown): { code: string; message: string } | undefined {
  if (error instanceof ImageError) return { code: `image_${error.code}`, message: error.message };
  if (error instanceof InputFileError) return { code: error.code, message: error.message };
  return undefined;
}

/** A file's name without folders and without its last extension (`a/test_000.jpg` → `test_000`). */
export function stemOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** What {@linkcode runImageBatch} does with each image. */
export interface ImageBatch {
  /** The command's name, for message prefixes. */
  readonly name: string;
  readonly files: readonly string[];
  /** The image's result line on stdout. */
  answer(bytes: Uint8Array, file: string): Promise<string>;
  /** The stdout line for an image that failed (`--json`'s `{file, error}`), if any. */
  failureLine?(file: string, failure: { code: string; message: string }): string | undefined;
}

/**
 * Answers each image in turn: its line on stdout, or, for one that cannot be read or decoded, a
 * line on stderr (and `failureLine`'s on stdout), and on with the next. Progress shows only on a
 * terminal's stderr, never on a line with a result.
 * @returns the exit code: 1 when any image failed, else 0
 * @throws what is not an image's own failure (a bug, a model that cannot run)
 */
export async function runImageBatch(batch: ImageBatch): Promise<number> {
  const { name, files } = batch;
  const io = batchConsole(name, files.length);
  let failed = 0;
  for (const [i, file] of files.entries()) {
    try {
      io.out(await batch.answer(await readInput(file), file));
    } catch (error) {
      const failure = imageFailure(error);
      if (failure === undefined) throw error;
      failed++;
      io.err(`${name}: ${file}: ${failure.message}`);
      const line = batch.failureLine?.(file, failure);
      if (line !== undefined) io.out(line);
    }
    io.tick(i + 1);
  }
  io.end();
  if (failed > 0) console.error(`${name}: ${failed} of ${files.length} images failed`);
  return failed > 0 ? EXIT_FAILED : 0;
}

/**
 * Runs a model command (see `internal/cli.ts` `runCli`): the gallery's and the model's known
 * errors become one line on stderr and exit code 1; anything else is a bug and keeps its stack.
 */
export async function runModelCommand<const O extends FlagSpecs>(
  spec: CommandSpec<O>,
  body: (context: CommandContext<O>) => Promise<number>,
): Promise<never> {
  const code = await runCli(spec, Deno.args, async (context) => {
    try {
      return await body(context);
    } catch (error) {
      if (
        error instanceof GalleryFileError || error instanceof GalleryMismatchError ||
        error instanceof ImageError || error instanceof InputFileError ||
        error instanceof RangeError
      ) {
        console.error(`${spec.name}: ${error.message}`);
        return EXIT_FAILED;
      }
      throw error;
    }
  });
  Deno.exit(code);
}

export { UsageError };
