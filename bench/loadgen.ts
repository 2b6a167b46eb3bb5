/**
 * The load generator: posts images the way the course grader does (multipart field `inputFile`,
 * N at once), shows a progress bar on stderr, then reports successes, failures, correct and wrong
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
import { checkInteger, quantileSorted } from "../internal/mod.ts";
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

/** A one-line progress bar, e.g. `[#######.............] 35/100`. */
export function progressBar(done: number, total: number, widthChars = 30): string {
  const filled = total === 0 ? widthChars : Math.round((done / total) * widthChars);
  return `[${"#".repeat(filled)}${".".repeat(widthChars - filled)}] ${done}/${total}`;
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

const USAGE = "usage: deno task loadgen --url U --images DIR|ZIP [--labels CSV] " +
  "[--concurrency N] [--count N] [--timeout-ms MS] [--json] " +
  "[--api-token-file FILE | --api-token T (or env FR_API_TOKEN)]";

/**
 * Parses the command line.
 * @throws {TypeError} naming the bad or missing flag, with the usage line
 */
export function parseLoadgenArgs(args: readonly string[]): LoadgenArgs {
  const out: Partial<LoadgenArgs> = { concurrency: 100, timeoutMs: 120_000, json: false };
  const integer = (flag: string, raw: string | undefined, min: number, max: number) => {
    const value = Number(raw);
    if (raw === undefined || !/^\d+$/.test(raw) || value < min || value > max) {
      throw new TypeError(`${flag} needs an integer in ${min}..${max}, got ${raw}\n${USAGE}`);
    }
    return value;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new TypeError(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case "--url":
        out.url = value();
        break;
      case "--images":
        out.images = value();
        break;
      case "--labels":
        out.labels = value();
        break;
      case "--concurrency":
        out.concurrency = integer(flag, args[++i], 1, LOAD_CONCURRENCY_MAX);
        break;
      case "--count":
        out.count = integer(flag, args[++i], 1, LOAD_COUNT_MAX);
        break;
      case "--timeout-ms":
        out.timeoutMs = integer(flag, args[++i], 1, 3_600_000);
        break;
      case "--json":
        out.json = true;
        break;
      case "--api-token":
        out.apiToken = value();
        break;
      case "--api-token-file":
        out.apiTokenFile = value();
        break;
      default:
        throw new TypeError(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
    }
  }
  if (out.apiToken !== undefined && out.apiTokenFile !== undefined) {
    throw new TypeError(`give --api-token or --api-token-file, not both\n${USAGE}`);
  }
  if (!out.url) throw new TypeError(`--url is required\n${USAGE}`);
  if (!out.images) throw new TypeError(`--images is required\n${USAGE}`);
  try {
    new URL(out.url);
  } catch {
    throw new TypeError(`--url ${JSON.stringify(out.url)} is not a URL\n${USAGE}`);
  }
  return out as LoadgenArgs;
}

/** The CLI: real fetch with a per-request timeout, real time, progress on stderr. */
async function main(args: string[]): Promise<number> {
  let parsed: LoadgenArgs;
  try {
    parsed = parseLoadgenArgs(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const images = await loadImages(parsed.images);
  const labels = parsed.labels ? parseLabelsCsv(await Deno.readTextFile(parsed.labels)) : undefined;
  const apiToken = parsed.apiTokenFile !== undefined
    ? (await Deno.readTextFile(parsed.apiTokenFile)).split(/\r?\n/)[0]
    : parsed.apiToken ?? (Deno.env.get("FR_API_TOKEN") || undefined);
  const encoder = new TextEncoder();
  const terminal = Deno.stderr.isTerminal();
  let shownTenth = -1;
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
    onProgress: (done, total) => {
      // On a terminal, redraw in place; in a log, one line per tenth.
      const tenth = Math.floor((done / total) * 10);
      if (terminal) Deno.stderr.writeSync(encoder.encode(`\r${progressBar(done, total)}`));
      else if (tenth !== shownTenth) {
        shownTenth = tenth;
        Deno.stderr.writeSync(encoder.encode(`${progressBar(done, total)}\n`));
      }
    },
  });
  if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
  console.log(parsed.json ? JSON.stringify(report) : formatReport(report));
  return report.failures === 0 && (report.wrong ?? 0) === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
