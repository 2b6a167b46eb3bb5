/**
 * What the model commands share: flag parsing for the recognizer's options, expanding IMAGE
 * arguments, progress on stderr, and turning errors into one clear line.
 * @module
 */
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

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

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
    options.threads = parseIntFlag("--threads", values.threads as string, 1, THREADS_MAX);
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

/** Parses an integer flag within [min, max]. */
export function parseIntFlag(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got "${text}"`);
  }
  return n;
}

const IMAGE_FILE = /\.(jpe?g|png|gif|webp|bmp|tiff?|heic|heif|avif)$/i;

/**
 * Expands IMAGE arguments: files are kept as given; a directory contributes its image files
 * (by extension, sorted by name, not recursive).
 * @throws {UsageError} when an argument does not exist
 */
export async function expandImageArgs(args: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(arg);
    } catch {
      throw new UsageError(`${arg}: no such file or directory`);
    }
    if (!info.isDirectory) {
      files.push(arg);
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(arg)) {
      if (entry.isFile && IMAGE_FILE.test(entry.name)) names.push(entry.name);
    }
    names.sort();
    files.push(...names.map((n) => `${arg.replace(/\/+$/, "")}/${n}`));
  }
  return files;
}

/** A file's name without folders and without its last extension (`a/test_000.jpg` → `test_000`). */
export function stemOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Progress on stderr for long runs: a redrawn line on a terminal, a line per 10% otherwise,
 * nothing for runs shorter than `quietBelow` items.
 */
export function progressReporter(label: string, total: number, quietBelow = 20) {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let lastDecile = 0;
  return {
    tick(done: number) {
      if (total < quietBelow) return;
      if (tty) {
        const width = 30;
        const filled = Math.round((done / total) * width);
        const bar = "#".repeat(filled) + ".".repeat(width - filled);
        Deno.stderr.writeSync(encoder.encode(`\r${label} [${bar}] ${done}/${total}`));
        if (done === total) Deno.stderr.writeSync(encoder.encode("\n"));
        return;
      }
      const decile = Math.floor((done / total) * 10);
      if (decile > lastDecile || done === total) {
        lastDecile = decile;
        console.error(`${label}: ${done}/${total}`);
      }
    },
  };
}

/**
 * Runs a command's main, turning known errors into one line on stderr and an exit code:
 * 2 for usage errors, 1 for everything else we can explain.
 */
export async function runCommand(usage: string, main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${usage}`);
      code = 2;
    } else if (
      error instanceof GalleryFileError || error instanceof GalleryMismatchError ||
      error instanceof ImageError || error instanceof Deno.errors.NotFound ||
      error instanceof RangeError
    ) {
      console.error(error.message);
      code = 1;
    } else {
      throw error;
    }
  }
  Deno.exit(code);
}
