/**
 * The load generator: posts images the way the course grader does (multipart field `inputFile`,
 * N at once), shows a progress bar on stderr when it is a terminal, then reports successes, failures, correct and wrong
 * answers (against an `Image,Results` CSV), total seconds and latency percentiles.
 *
 * ```sh
 * deno task loadgen --url http://localhost:8000/ --images face_images_100.zip \
 *   --labels labels_100.csv --concurrency 100 [--count 1000] [--json] \
 *   [--api-token-file FILE | --api-token T]   # or env FR_API_TOKEN
 * ```
 * @module
 */
import { unzipSync } from "fflate";
import {
  batchConsole,
  EXIT_FAILED,
  type FlagValues,
  integerFlag,
  parseCommandLine,
  readFailureReason,
  runCli,
  UsageError,
} from "../internal/cli.ts";
import { checkInteger, dropUndefined, quantileSorted } from "../internal/mod.ts";
import { parseLabelsCsv as parseLabelRows } from "../model/gallery/labels_csv.ts";
import { REQUEST_IMAGE_BYTES_MAX } from "../protocol/mod.ts";
import { stemOf } from "../web/file_name.ts";

/** One image to post. */
export interface LoadImage {
  /** The file name sent as the upload's filename (its stem is the expected answer's prefix). */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** The web tier's upload URL, e.g. `http://localhost:8000/`. */
  url: string;
  /** Images posted in order, cycling when `count` exceeds them. */
  images: readonly LoadImage[];
  /** Expected label by stem; without it, correct and wrong are not counted. */
  labels?: ReadonlyMap<string, string>;
  /** Requests in flight at once (the grader's threads). @default {100} */
  concurrency?: number;
  /** Requests in all. @default {images.length} */
  count?: number;
  /** Sent as `Authorization: Bearer <token>` (a service started with an API token). */
  apiToken?: string;
}

/** The I/O the load generator needs, passed in. */
export interface LoadDeps {
  /** Sends one request (the CLI wraps `fetch` with a timeout; tests pass `app.fetch`). */
  send: (request: Request) => Promise<Response>;
  /** A monotonic millisecond clock. */
  nowMs: () => number;
  /** Called after each answer. @default {ignore} */
  onProgress?: (done: number, total: number) => void;
}

/** What a run measured. */
export interface LoadReport {
  readonly url: string;
  readonly requests: number;
  readonly concurrency: number;
  /** Answered 200. */
  readonly successes: number;
  /** Anything else: other statuses and network errors. */
  readonly failures: number;
  /** 200 with `<stem>:<expected label>`; null without labels. */
  readonly correct: number | null;
  /** 200 with any other text (or a stem missing from the labels); null without labels. */
  readonly wrong: number | null;
  readonly totalS: number;
  /** Total wall time / requests, the grader's "average time per request". */
  readonly totalPerRequestS: number;
  /** Per-request latency, in ms. */
  readonly latencyMs: {
    readonly average: number;
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Answers by status (`error` for requests that got no response). */
  readonly statuses: Readonly<Record<string, number>>;
  /** The first few failures and wrong answers, for diagnosis. */
  readonly samples: readonly string[];
}

/** Most requests one run makes. */
export const LOAD_COUNT_MAX = 1_000_000;
/** Most requests in flight at once. */
export const LOAD_CONCURRENCY_MAX = 10_000;
/** Largest answer body read, in bytes; anything longer is a failure. */
const ANSWER_BYTES_MAX = 1 << 20;
/** Failures and wrong answers kept as samples. */
const SAMPLES_MAX = 10;

/**
 * Posts `count` images with `concurrency` requests in flight and measures the answers.
 *
 * @param options target, images, labels, shape of the load
 * @param deps how to send and how to tell time
 * @returns the report
 * @throws {RangeError} for an empty image list or out-of-range count or concurrency
 * @example
 * ```ts
 * const report = await runLoad(
 *   { url: "http://localhost:8000/", images, labels, concurrency: 100 },
 *   { send: (r) => fetch(r), nowMs: () => performance.now() },
 * );
 * console.log(formatReport(report));
 * ```
 */
export async function runLoad(options: LoadOptions, deps: LoadDeps): Promise<LoadReport> {
  const { url, images, labels } = options;
  const count = options.count ?? images.length;
  const concurrency = Math.min(options.concurrency ?? 100, Math.max(count, 1));
  if (images.length === 0) throw new RangeError("no images to post; check --images");
  checkInteger("count", count, 1, LOAD_COUNT_MAX);
  checkInteger("concurrency", concurrency, 1, LOAD_CONCURRENCY_MAX);
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const samples: string[] = [];
  let successes = 0;
  let correct = 0;
  let wrong = 0;
  let next = 0;
  let done = 0;
  const startMs = deps.nowMs();
  const client = async () => {
    while (next < count) {
      const image = images[next++ % images.length];
      const sentMs = deps.nowMs();
      const outcome = await post(deps.send, url, image, options.apiToken);
      latenciesMs.push(deps.nowMs() - sentMs);
      statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
      const expected = labels?.get(stemOf(image.name));
      if (outcome.status === "200") {
        successes++;
        if (labels) {
          if (outcome.text === `${stemOf(image.name)}:${expected}`) correct++;
          else {
            wrong++;
            sample(
              samples,
              `${image.name}: got ${outcome.text}, expected ${expected ?? "(no label)"}`,
            );
          }
        }
      } else sample(samples, `${image.name}: ${outcome.status} ${outcome.text}`);
      deps.onProgress?.(++done, count);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const totalS = (deps.nowMs() - startMs) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return {
    url,
    requests: count,
    concurrency,
    successes,
    failures: count - successes,
    correct: labels ? correct : null,
    wrong: labels ? wrong : null,
    totalS,
    totalPerRequestS: totalS / count,
    latencyMs: {
      average: latenciesMs.reduce((a, b) => a + b, 0) / latenciesMs.length,
      p50: quantileSorted(latenciesMs, 0.5),
      p95: quantileSorted(latenciesMs, 0.95),
      p99: quantileSorted(latenciesMs, 0.99),
      max: latenciesMs[latenciesMs.length - 1],
    },
    statuses,
    samples,
  };
}

async function post(
  send: LoadDeps["send"],
  url: string,
  image: LoadImage,
  apiToken: string | undefined,
): Promise<{ status: string; text: string }> {
  const form = new FormData();
  form.append("inputFile", new Blob([image.bytes as BlobPart]), image.name);
  const headers: Record<string, string> = apiToken === undefined
    ? {}
    : { authorization: `Bearer ${apiToken}` };
  try {
    const response = await send(new Request(url, { method: "POST", body: form, headers }));
    const declared = Number(response.headers.get("content-length") ?? 0);
    if (declared > ANSWER_BYTES_MAX) {
      await response.body?.cancel();
      return { status: String(response.status), text: `(answer of ${declared} bytes)` };
    }
    return { status: String(response.status), text: (await response.text()).trim() };
  } catch (error) {
    return { status: "error", text: (error as Error).message };
  }
}

function sample(samples: string[], line: string): void {
  if (samples.length < SAMPLES_MAX) samples.push(line.slice(0, 300));
}

/**
 * Parses the course's `Image,Results` CSV into expected label by stem. An `Image` given with an
 * extension is keyed by its stem.
 *
 * @param text the CSV
 * @returns label by stem
 * @throws {TypeError} when the header is not `Image,Results` or a row is malformed (line named)
 * @example
 * ```ts
 * parseLabelsCsv("Image,Results\ntest_000,Paul\n").get("test_000"); // "Paul"
 * ```
 */
export function parseLabelsCsv(text: string): Map<string, string> {
  let parsed: ReturnType<typeof parseLabelRows>;
  try {
    parsed = parseLabelRows(text);
  } catch (error) {
    throw new TypeError(`labels CSV: ${(error as Error).message}`, { cause: error });
  }
  const problem = parsed.problems[0];
  if (problem) throw new TypeError(`labels CSV line ${problem.line}: ${problem.message}`);
  return new Map(parsed.rows.map((row) => [stemOf(row.image), row.label]));
}

/** Image files loadgen posts. */
const IMAGE_NAME = /\.(jpe?g|png)$/i;
/** Most images loaded from a directory or zip. */
export const IMAGES_MAX = 100_000;

/**
 * Loads the images of a directory (not recursive) or a `.zip` (any folder inside; macOS
 * `__MACOSX` entries skipped), sorted by name.
 *
 * @param path a directory or a zip file
 * @returns the images
 * @throws {RangeError} when there are none, too many, or one is too large
 */
export async function loadImages(path: string): Promise<LoadImage[]> {
  const images: LoadImage[] = [];
  const add = (name: string, bytes: Uint8Array) => {
    // The largest image a request may refer to (the web tier's default upload limit).
    if (bytes.byteLength > REQUEST_IMAGE_BYTES_MAX) {
      throw new RangeError(
        `${name} is ${bytes.byteLength} bytes, over REQUEST_IMAGE_BYTES_MAX (${REQUEST_IMAGE_BYTES_MAX})`,
      );
    }
    if (images.length >= IMAGES_MAX) throw new RangeError(`${path} has over ${IMAGES_MAX} images`);
    images.push({ name, bytes });
  };
  if (/\.zip$/i.test(path)) {
    const entries = unzipSync(await Deno.readFile(path), {
      filter: (f) => IMAGE_NAME.test(f.name) && !f.name.startsWith("__MACOSX/"),
    });
    for (const [entry, bytes] of Object.entries(entries)) add(entry.split("/").pop()!, bytes);
  } else {
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && IMAGE_NAME.test(entry.name)) {
        add(entry.name, await Deno.readFile(`${path}/${entry.name}`));
      }
    }
  }
  if (images.length === 0) throw new RangeError(`no .jpg/.jpeg/.png images in ${path}`);
  return images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The report as the plain text the CLI prints. */
export function formatReport(r: LoadReport): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  const rows: [string, string][] = [
    ["url", r.url],
    ["requests", `${r.requests} (concurrency ${r.concurrency})`],
    ["successes", String(r.successes)],
    ["failures", String(r.failures)],
    ["correct", r.correct === null ? "n/a (no --labels)" : String(r.correct)],
    ["wrong", r.wrong === null ? "n/a (no --labels)" : String(r.wrong)],
    ["total", `${r.totalS.toFixed(3)} s (${r.totalPerRequestS.toFixed(3)} s per request)`],
    ["average", s(r.latencyMs.average)],
    ["p50", s(r.latencyMs.p50)],
    ["p95", s(r.latencyMs.p95)],
    ["p99", s(r.latencyMs.p99)],
    ["max", s(r.latencyMs.max)],
    ["statuses", Object.entries(r.statuses).map(([k, v]) => `${k}: ${v}`).join(", ")],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(10)} ${v}`);
  if (r.samples.length > 0) lines.push("samples:", ...r.samples.map((x) => `  ${x}`));
  return lines.join("\n");
}

/** Command-line settings. */
export interface LoadgenArgs {
  url: string;
  images: string;
  labels?: string;
  concurrency: number;
  count?: number;
  timeoutMs: number;
  json: boolean;
  /** `--api-token T` (visible in `ps`). */
  apiToken?: string;
  /** `--api-token-file FILE`: the token is the file's first line. */
  apiTokenFile?: string;
}

const USAGE = `Usage: deno task loadgen --url U --images DIR|ZIP [--labels CSV] [--concurrency N]
                      [--count N] [--timeout-ms MS] [--json]
                      [--api-token-file FILE | --api-token T (or env FR_API_TOKEN)]

Posts images the way the course grader does (multipart field inputFile, N at once), then prints
successes, failures, correct and wrong answers, total seconds and latency percentiles. The exit
code is 1 when any request failed or was answered wrong, 2 for a wrong command line.

  --url U                the upload URL, e.g. http://localhost:8000/
  --images DIR|ZIP       a folder or a .zip of .jpg/.png images (posted in name order, cycling)
  --labels CSV           Image,Results CSV: count correct and wrong answers
  --concurrency N        requests in flight at once (default 100; 1..${LOAD_CONCURRENCY_MAX})
  --count N              requests in all (default: one per image; 1..${LOAD_COUNT_MAX})
  --timeout-ms MS        per-request timeout (default 120000; 1..3600000)
  --json                 the report as one JSON object
  --api-token-file FILE  send the token on the file's first line (keeps it out of ps)
  --api-token T          send this token (visible in ps; env FR_API_TOKEN also works)
  -h, --help             this help`;

/** loadgen's flags, as `parseArgs` takes them. */
const LOADGEN_FLAGS = {
  url: { type: "string" },
  images: { type: "string" },
  labels: { type: "string" },
  concurrency: { type: "string" },
  count: { type: "string" },
  "timeout-ms": { type: "string" },
  json: { type: "boolean" },
  "api-token": { type: "string" },
  "api-token-file": { type: "string" },
} as const;

/**
 * Parses the command line.
 * @returns the settings, or `"help"` for `--help`/`-h`
 * @throws {UsageError} naming the bad or missing flag, in one line
 */
export function parseLoadgenArgs(args: readonly string[]): LoadgenArgs | "help" {
  const line = parseCommandLine(args, LOADGEN_FLAGS);
  return line === "help" ? "help" : loadgenArgs(line.values);
}

/** Checks the parsed flags and fills in the defaults. */
function loadgenArgs(values: FlagValues<typeof LOADGEN_FLAGS>): LoadgenArgs {
  if (values["api-token"] !== undefined && values["api-token-file"] !== undefined) {
    throw new UsageError("give --api-token or --api-token-file, not both");
  }
  if (!values.url) throw new UsageError("--url is required; see --help");
  if (!values.images) throw new UsageError("--images is required; see --help");
  try {
    new URL(values.url);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(values.url)} is not a URL`);
  }
  const integer = (flag: keyof typeof LOADGEN_FLAGS, fallback: number, max: number) => {
    const text = values[flag] as string | undefined;
    return text === undefined ? fallback : integerFlag(`--${flag}`, text, 1, max);
  };
  return dropUndefined<LoadgenArgs>({
    url: values.url,
    images: values.images,
    labels: values.labels,
    concurrency: integer("concurrency", 100, LOAD_CONCURRENCY_MAX),
    count: values.count === undefined ? undefined : integer("count", 0, LOAD_COUNT_MAX),
    timeoutMs: integer("timeout-ms", 120_000, 3_600_000),
    json: values.json ?? false,
    apiToken: values["api-token"],
    apiTokenFile: values["api-token-file"],
  }) as LoadgenArgs;
}

/** Reads an input file named by `flag`; a missing or unreadable one is one clear line. */
async function readFlagFile<T>(flag: string, path: string, read: (p: string) => Promise<T>) {
  try {
    return await read(path);
  } catch (error) {
    // loadImages and parseLabelsCsv say what is wrong with the content in their messages.
    const reason = error instanceof RangeError || error instanceof TypeError
      ? error.message
      : readFailureReason(error);
    throw new InputError(`${flag} ${path}: ${reason}`);
  }
}

/** An input named on the command line that cannot be used (exit 1, one line). */
class InputError extends Error {
  override name = "InputError";
}

/** The CLI: real fetch with a per-request timeout, real time, progress on a terminal's stderr. */
function main(args: string[]): Promise<number> {
  const spec = { name: "loadgen", usage: USAGE, options: LOADGEN_FLAGS } as const;
  return runCli(spec, args, async ({ values }) => {
    try {
      return await load(loadgenArgs(values));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      console.error(`loadgen: ${error.message}`);
      return EXIT_FAILED;
    }
  });
}

async function load(parsed: LoadgenArgs): Promise<number> {
  const images = await readFlagFile("--images", parsed.images, loadImages);
  const labels = parsed.labels === undefined
    ? undefined
    : await readFlagFile("--labels", parsed.labels, async (p) =>
      parseLabelsCsv(await Deno.readTextFile(p)));
  const apiToken = parsed.apiTokenFile !== undefined
    ? (await readFlagFile("--api-token-file", parsed.apiTokenFile, Deno.readTextFile))
      .split(/\r?\n/)[0]
    : parsed.apiToken ?? (Deno.env.get("FR_API_TOKEN") || undefined);
  const count = parsed.count ?? images.length;
  const io = batchConsole("loadgen", count);
  const report = await runLoad({
    url: parsed.url,
    images,
    labels,
    concurrency: parsed.concurrency,
    count: parsed.count,
    apiToken,
  }, {
    send: (request) => fetch(request, { signal: AbortSignal.timeout(parsed.timeoutMs) }),
    nowMs: () => performance.now(),
    onProgress: (done) => io.tick(done),
  });
  io.end();
  console.log(parsed.json ? JSON.stringify(report) : formatReport(report));
  return report.failures === 0 && (report.wrong ?? 0) === 0 ? 0 : EXIT_FAILED;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
