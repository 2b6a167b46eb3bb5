/**
 * Validation against the real thing: the same burst on the embedded stack and in the simulator
 * (profile `local`), with the simulator's parameters measured from that stack; makespan, p50 and
 * p95 side by side. Target: the simulator within 15% of the stack on each.
 *
 * The stack's side is `bench/validate_sim.ts`: it runs `deno task start` and the course grader's
 * burst, stamps every log line of the stack and its workers as it arrives, and saves one record
 * per run. This file is the simulator's side: it measures the records, fits the `local` profile
 * and compares, so a saved record can be re-examined without the stack:
 *
 * ```sh
 * deno run -A bench/validate_sim.ts --count 100 --runs 3 --out out/validate-burst100.json
 * deno run -A sim/validate.ts --records out/validate-burst100.json
 * # a second workload, predicted with the first one's fit (no refit):
 * deno run -A bench/validate_sim.ts --count 30 --runs 3 --fit-from out/validate-burst100.json
 * deno run -A sim/validate.ts --records out/validate-burst30.json --fit-from out/validate-burst100.json
 * ```
 *
 * What is measured, per run (see {@linkcode measureBurst}):
 * - start: the controller's start decision → the worker's `ready` line, plus the first request's
 *   extra time over a warm one (the first image pays lazy initialisation), so that a boot ends
 *   when the worker serves at its warm speed;
 * - service: the `serviceMs` of each warm `answered` line (get + recognise + put), plus the
 *   worker's own queue calls between answers (receive, send the response, delete);
 * - upload: burst start → the image stored in the in-bucket (its file's mtime);
 * - response: the worker's `answered` line → the client has the answer (matched by request id).
 * The controller's tick phase against the burst is not a parameter: the simulated bursts arrive
 * at evenly spread offsets within one tick, as the real burst arrives at an arbitrary moment.
 * @module
 */
import { median, quantile } from "../internal/mod.ts";
import { UsageError } from "./cli.ts";
import { decodeStackLine, LogLineError } from "./log_lines.ts";
import { resolveSimConfig, type SimOptions } from "./config.ts";
import { buildReport, type Report } from "./report.ts";
import { simulate } from "./simulation.ts";
import { parseWorkload } from "./workloads.ts";

/** One line of the stack's output, stamped when it arrived (ms since the burst started). */
export interface StampedLine {
  readonly atMs: number;
  readonly entry: Readonly<Record<string, unknown>>;
}

/** One request as the client saw it (ms since the burst started). */
export interface ClientAnswer {
  /** The web tier's `X-Request-Id`; null when the request failed before one was given. */
  readonly id: string | null;
  readonly sentMs: number;
  readonly answeredMs: number;
  readonly status: number;
}

/** What one stack run recorded (bench/validate_sim.ts writes an array of these). */
export interface BurstRecord {
  readonly requests: number;
  readonly instancesMax: number;
  readonly tickMs: number;
  readonly successes: number;
  /** Burst start → last answer, as the load generator measured it. */
  readonly makespanMs: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number };
  /** One-minute load average before and after the run. */
  readonly loadAverage: { readonly before: number; readonly after: number };
  readonly lines: readonly StampedLine[];
  readonly answers: readonly ClientAnswer[];
  /** Burst start → each distinct upload stored. */
  readonly uploadsMs: readonly number[];
}

/** One worker boot, from the stack's lines. */
export interface Boot {
  readonly worker: string;
  /** Start decision → ready line; null when the start was not seen. */
  readonly startMs: number | null;
  /** Process start → model loaded, as the worker reports it. */
  readonly readyMs: number;
  /** serviceMs of the boot's answers, in order (the first is the cold one). */
  readonly serviceMs: readonly number[];
  /**
   * Per answer after the first: time since the worker's previous answer less its serviceMs (the
   * worker's own queue calls: receive, send the response, delete); aligned with serviceMs[1..].
   */
  readonly overheadMs: readonly number[];
}

/** What {@linkcode measureBurst} takes out of a record. */
export interface BurstMeasurement {
  readonly boots: readonly Boot[];
  readonly uploadMs: readonly number[];
  /** Worker's answered line → client's answer, per matched request. */
  readonly responseMs: readonly number[];
  /** Burst start → the controller's first start decision. */
  readonly firstStartMs: number | null;
}

/** One compared figure. */
export interface Comparison {
  readonly figure: "makespanMs" | "p50Ms" | "p95Ms";
  /** The stack's figure (median over runs). */
  readonly stack: number;
  /** Median over the simulated seeds. */
  readonly sim: number;
  /** 5th and 95th percentile over the seeds: the simulator's own spread. */
  readonly simP5: number;
  readonly simP95: number;
  /** (sim − stack) / stack, in percent. */
  readonly errorPct: number;
  readonly within: boolean;
}

/** The settings fitted from stack runs, and the figures they came from. */
export interface FittedProfile {
  /** Settings over the `local` profile. */
  readonly settings: SimOptions;
  readonly basis: {
    readonly runs: number;
    readonly boots: number;
    readonly answers: number;
    /** The warm-up window used. */
    readonly warmupAnswers: number;
    /** Median start decision → ready. */
    readonly startToReadyMsMedian: number;
    /** Median of the worker's own process start → ready. */
    readonly readyMsMedian: number;
    /** Median serviceMs of a boot's first answer. */
    readonly firstServiceMsMedian: number;
    /** Median per boot of the warm-up answers' time over as many warm answers. */
    readonly warmupExtraMsMedian: number;
    /** Warm answers' serviceMs. */
    readonly serviceMsMedian: number;
    readonly serviceMsP95: number;
    /** Median per-request queue calls of a worker, added to the service time. */
    readonly overheadMsMedian: number;
  };
}

/** The validation's limits and defaults. */
export const VALIDATION = Object.freeze({
  /** The issue's target: within 15%. */
  tolerancePct: 15,
  /** Simulated seeds per comparison. */
  seeds: 21,
  /**
   * A boot's first answers counted as its warm-up (see fitLocalProfile): on this machine
   * service times settle within about 10 answers of a boot.
   */
  warmupAnswers: 10,
  /** Largest records file read. */
  fileBytesMax: 256 * 1024 * 1024,
  /** Most runs in one records file. */
  runsMax: 100,
});

interface MutableBoot {
  worker: string;
  startMs: number | null;
  readyMs: number;
  serviceMs: number[];
  overheadMs: number[];
  lastAnswerAtMs: number | null;
}

/**
 * Takes the simulator's parameters out of one stack run's stamped lines, client answers and
 * upload times. Every worker and controller line is decoded into its event
 * (see `log_lines.ts`); only the controller's decisions and the workers' `ready` and `answered`
 * are measured, other components' lines are not read.
 *
 * @param record One run.
 * @returns Per-boot start and service times, per-request upload and response times.
 * @throws {LogLineError} naming the line (by its stamp) and the field, for a worker or
 *   controller line that is not one of their events
 */
export function measureBurst(record: BurstRecord): BurstMeasurement {
  const lines = [...record.lines].sort((a, b) => a.atMs - b.atMs);
  const startAt = new Map<string, number>();
  const current = new Map<string, MutableBoot>();
  const boots: MutableBoot[] = [];
  const answeredAt = new Map<string, number>();
  let firstStartMs: number | null = null;
  for (const { atMs, entry: raw } of lines) {
    const entry = decodeStamped(raw, atMs);
    if (entry?.component === "controller" && entry.event === "decision") {
      const { started } = entry.applied;
      for (const name of started) startAt.set(name, atMs);
      if (started.length > 0 && firstStartMs === null && atMs >= 0) firstStartMs = atMs;
      continue;
    }
    if (entry?.component !== "worker") continue;
    const worker = entry.worker;
    if (entry.event === "ready") {
      const since = startAt.get(worker);
      const boot: MutableBoot = {
        worker,
        startMs: since === undefined ? null : atMs - since,
        readyMs: entry.readyMs,
        serviceMs: [],
        overheadMs: [],
        lastAnswerAtMs: null,
      };
      boots.push(boot);
      current.set(worker, boot);
    } else if (entry.event === "answered") {
      answeredAt.set(entry.id, atMs);
      const boot = current.get(worker);
      if (boot === undefined) continue;
      if (boot.lastAnswerAtMs !== null) {
        boot.overheadMs.push(atMs - boot.lastAnswerAtMs - entry.serviceMs);
      }
      boot.serviceMs.push(entry.serviceMs);
      boot.lastAnswerAtMs = atMs;
    }
  }
  const responseMs: number[] = [];
  for (const answer of record.answers) {
    const at = answer.id === null ? undefined : answeredAt.get(answer.id);
    if (at !== undefined) responseMs.push(answer.answeredMs - at);
  }
  return {
    boots: boots.map(({ lastAnswerAtMs: _, ...boot }) => boot),
    uploadMs: [...record.uploadsMs],
    responseMs,
    firstStartMs,
  };
}

/** One stamped line, decoded; a malformed one is refused naming its stamp. */
function decodeStamped(entry: unknown, atMs: number): ReturnType<typeof decodeStackLine> {
  try {
    return decodeStackLine(entry);
  } catch (error) {
    if (!(error instanceof LogLineError)) throw error;
    throw new LogLineError(error.at, `the line stamped ${atMs} ms: ${error.message}`);
  }
}

/** A median/p95 pair, rounded to whole ms, never below `floorMs`. */
function pair(xs: readonly number[], what: string, floorMs = 1): [number, number] {
  if (xs.length === 0) throw new RangeError(`no ${what} measured; the records hold none`);
  const m = Math.max(floorMs, Math.round(median(xs)));
  return [m, Math.max(m, Math.round(quantile(xs, 0.95)))];
}

/** Options for {@linkcode fitLocalProfile}. */
export interface FitOptions {
  /**
   * A boot's first answers that count as its warm-up: their time over a warm answer's is added
   * to the boot. Any window past the point where service times have settled gives the same fit.
   * @default {VALIDATION.warmupAnswers}
   */
  readonly warmupAnswers?: number;
}

/**
 * Fits the `local` profile's durations to stack runs, pooling their measurements.
 *
 * A worker serves its first images slower than the rest (the first pays lazy initialisation,
 * the next few run while code warms up and the other worker starts too); the simulator has one
 * service distribution, so a boot lasts until the worker is warm: start decision → ready, plus
 * the time its first `warmupAnswers` answers took over as many warm ones. The service
 * distribution is fitted to the warm answers only, plus the worker's per-request queue calls.
 *
 * @param measurements One per run (from {@linkcode measureBurst}).
 * @param instancesMax The stack's `--max`.
 * @param options The warm-up window.
 * @returns Settings over the `local` profile, and the figures behind them.
 * @throws {RangeError} when the runs hold no boot, warm answer, upload or response.
 * @example
 * ```ts
 * const fit = fitLocalProfile(records.map(measureBurst), records[0].instancesMax);
 * const config = resolveSimConfig({ ...fit.settings, seed: 1 }, "local");
 * ```
 */
export function fitLocalProfile(
  measurements: readonly BurstMeasurement[],
  instancesMax: number,
  options: FitOptions = {},
): FittedProfile {
  const warmup = options.warmupAnswers ?? VALIDATION.warmupAnswers;
  if (!Number.isInteger(warmup) || warmup < 1) {
    throw new RangeError(`warmupAnswers must be a whole number >= 1, got ${warmup}`);
  }
  const all = <T>(pick: (m: BurstMeasurement) => readonly T[]) => measurements.flatMap(pick);
  const boots = all((m) => m.boots);
  const warm = boots.flatMap((b) => b.serviceMs.slice(warmup));
  // overheadMs[j] belongs to serviceMs[j + 1].
  const overhead = boots.flatMap((b) => b.overheadMs.slice(Math.max(0, warmup - 1)));
  const [serviceMedian, serviceP95] = pair(
    warm,
    `warm serviceMs (answers after the first ${warmup} of a boot)`,
  );
  const overheadMedian = overhead.length === 0 ? 0 : Math.max(0, Math.round(median(overhead)));
  const warmMeanMs = mean(warm);
  const extras = boots.map((b) =>
    Math.max(0, b.serviceMs.slice(0, warmup).reduce((sum, x) => sum + x - warmMeanMs, 0))
  );
  const starts = boots.flatMap((b, k) => b.startMs === null ? [] : [b.startMs + extras[k]]);
  const [startMedian, startP95] = pair(starts, "worker start (decision → ready)");
  const [uploadMedian, uploadP95] = pair(all((m) => m.uploadMs), "upload");
  const [responseMedian, responseP95] = pair(
    all((m) => m.responseMs).map((x) => Math.max(0, x)),
    "response",
  );
  return {
    settings: {
      instancesMax,
      startMsMedian: startMedian,
      startMsP95: startP95,
      launchMsMedian: startMedian,
      launchMsP95: startP95,
      serviceMsMedian: serviceMedian + overheadMedian,
      serviceMsP95: serviceP95 + overheadMedian,
      uploadMsMedian: uploadMedian,
      uploadMsP95: uploadP95,
      responseMsMedian: responseMedian,
      responseMsP95: responseP95,
    },
    basis: {
      runs: measurements.length,
      boots: boots.length,
      answers: boots.reduce((n, b) => n + b.serviceMs.length, 0),
      warmupAnswers: warmup,
      startToReadyMsMedian: Math.round(
        median(boots.flatMap((b) => b.startMs === null ? [] : [b.startMs])),
      ),
      readyMsMedian: Math.round(median(boots.map((b) => b.readyMs))),
      firstServiceMsMedian: Math.round(
        median(boots.flatMap((b) => b.serviceMs.length > 0 ? [b.serviceMs[0]] : [])),
      ),
      warmupExtraMsMedian: Math.round(median(extras)),
      serviceMsMedian: serviceMedian,
      serviceMsP95: serviceP95,
      overheadMsMedian: overheadMedian,
    },
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Options for {@linkcode simulateBurst}. */
export interface SimulateBurstOptions {
  /** Simulated seeds. @default {VALIDATION.seeds} */
  readonly seeds?: number;
}

/**
 * Simulates a burst once per seed, each arriving at its own offset within the first controller
 * tick (evenly spread, so the median run sees the average phase), with the `local` profile.
 *
 * @param settings Settings over the `local` profile (e.g. a fit's).
 * @param count Requests in the burst.
 * @param options Seeds.
 * @returns One report per seed.
 */
export function simulateBurst(
  settings: SimOptions,
  count: number,
  options: SimulateBurstOptions = {},
): Report[] {
  const seeds = options.seeds ?? VALIDATION.seeds;
  return Array.from({ length: seeds }, (_, k) => {
    const config = resolveSimConfig({ ...settings, seed: k + 1 }, "local");
    const phaseMs = Math.round(((k + 0.5) / seeds) * config.tickMs);
    const workload = parseWorkload(`burst:${count}@${phaseMs}ms`, () => "");
    return buildReport(simulate(config, workload));
  });
}

/** The stack's figures: medians over runs. */
export interface StackFigures {
  readonly makespanMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

/**
 * The median of each figure over stack runs.
 *
 * @param records The runs.
 * @returns Median makespan, p50 and p95.
 */
export function stackFigures(records: readonly BurstRecord[]): StackFigures {
  return {
    makespanMs: median(records.map((r) => r.makespanMs)),
    p50Ms: median(records.map((r) => r.latencyMs.p50)),
    p95Ms: median(records.map((r) => r.latencyMs.p95)),
  };
}

/**
 * Compares the stack's figures with simulated runs.
 *
 * @param stack The stack's figures.
 * @param reports One simulated report per seed.
 * @param tolerancePct Allowed error. @default {VALIDATION.tolerancePct}
 * @returns One comparison per figure.
 */
export function compare(
  stack: StackFigures,
  reports: readonly Report[],
  tolerancePct: number = VALIDATION.tolerancePct,
): Comparison[] {
  const rows: [Comparison["figure"], number, (r: Report) => number][] = [
    ["makespanMs", stack.makespanMs, (r) => r.makespanMs],
    ["p50Ms", stack.p50Ms, (r) => r.latencyMs.p50],
    ["p95Ms", stack.p95Ms, (r) => r.latencyMs.p95],
  ];
  return rows.map(([figure, measured, pick]) => {
    const values = reports.map(pick);
    const sim = median(values);
    const errorPct = measured > 0 ? (100 * (sim - measured)) / measured : Infinity;
    return {
      figure,
      stack: measured,
      sim,
      simP5: quantile(values, 0.05),
      simP95: quantile(values, 0.95),
      errorPct: Math.round(errorPct * 10) / 10,
      within: Math.abs(errorPct) <= tolerancePct,
    };
  });
}

/**
 * Reads a records file (a JSON array of {@linkcode BurstRecord}).
 *
 * @param text The file's text.
 * @param path Its name, for messages.
 * @returns The records.
 * @throws {TypeError} naming the record and field that is missing.
 */
export function parseRecords(text: string, path: string): BurstRecord[] {
  const data = JSON.parse(text);
  if (!Array.isArray(data) || data.length === 0 || data.length > VALIDATION.runsMax) {
    throw new TypeError(
      `${path} must be a JSON array of 1..${VALIDATION.runsMax} runs, as bench/validate_sim.ts --out writes`,
    );
  }
  data.forEach((r, k) => {
    const need = (ok: boolean, field: string) => {
      if (!ok) throw new TypeError(`${path}: run ${k + 1} lacks ${field}; rerun the bench`);
    };
    need(Number.isInteger(r?.requests) && r.requests > 0, "a request count");
    need(Number.isInteger(r?.instancesMax) && r.instancesMax > 0, "instancesMax");
    need(typeof r?.makespanMs === "number", "makespanMs");
    need(typeof r?.latencyMs?.p50 === "number" && typeof r?.latencyMs?.p95 === "number", "p50/p95");
    need(Array.isArray(r?.lines) && Array.isArray(r?.answers), "lines and answers");
    need(Array.isArray(r?.uploadsMs), "uploadsMs");
  });
  return data;
}

/** Everything a validation prints. */
export interface Validation {
  readonly workload: string;
  readonly runs: readonly {
    readonly makespanMs: number;
    readonly p50Ms: number;
    readonly p95Ms: number;
    readonly successes: number;
    readonly loadAverage: { readonly before: number; readonly after: number };
  }[];
  readonly fit: FittedProfile;
  /** Whether the fit came from these runs or from others (a prediction). */
  readonly fittedOn: string;
  readonly rows: readonly Comparison[];
}

/**
 * Fits (or takes) the profile, simulates the records' burst and compares.
 *
 * @param records The stack runs to compare with (one burst size).
 * @param fitRecords The runs to fit on; the same as `records` for a fit, others for a prediction.
 * @param options Seeds, the warm-up window and a label for where the fit came from.
 * @returns The validation.
 * @throws {RangeError} when the runs differ in burst size or maximum.
 */
export function validate(
  records: readonly BurstRecord[],
  fitRecords: readonly BurstRecord[],
  options: SimulateBurstOptions & FitOptions & { readonly fittedOn?: string } = {},
): Validation {
  const count = records[0].requests;
  const max = fitRecords[0].instancesMax;
  if (records.some((r) => r.requests !== count)) {
    throw new RangeError("the runs differ in burst size; compare one size at a time");
  }
  if ([...records, ...fitRecords].some((r) => r.instancesMax !== max)) {
    throw new RangeError(`the runs differ in --max; fit and compare at one maximum (${max})`);
  }
  const fit = fitLocalProfile(fitRecords.map(measureBurst), max, options);
  const reports = simulateBurst(fit.settings, count, options);
  return {
    workload: `burst:${count}`,
    runs: records.map((r) => ({
      makespanMs: r.makespanMs,
      p50Ms: r.latencyMs.p50,
      p95Ms: r.latencyMs.p95,
      successes: r.successes,
      loadAverage: r.loadAverage,
    })),
    fit,
    fittedOn: options.fittedOn ?? "these runs",
    rows: compare(stackFigures(records), reports),
  };
}

/**
 * The validation as text: the runs, the fitted settings and the comparison table.
 *
 * @param v A validation.
 * @param seeds Seeds simulated, for the heading.
 * @returns Lines of text.
 */
export function validationText(v: Validation, seeds: number = VALIDATION.seeds): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const out = [`${v.workload} on the embedded stack, ${v.runs.length} run(s):`];
  v.runs.forEach((r, k) =>
    out.push(
      `  run ${k + 1}: makespan ${s(r.makespanMs)}, p50 ${s(r.p50Ms)}, p95 ${s(r.p95Ms)}, ` +
        `${r.successes} answered, load average ${r.loadAverage.before.toFixed(1)} → ${
          r.loadAverage.after.toFixed(1)
        }`,
    )
  );
  const b = v.fit.basis;
  const f = v.fit.settings;
  out.push(
    `fit (${v.fittedOn}: ${b.runs} runs, ${b.boots} boots, ${b.answers} answers):`,
    `  start ${f.startMsMedian} / ${f.startMsP95} ms (median / p95) = decision → ready ` +
      `${b.startToReadyMsMedian} ms (worker's own readyMs ${b.readyMsMedian}) + warm-up ` +
      `${b.warmupExtraMsMedian} ms (first ${b.warmupAnswers} answers over warm ones; the first ` +
      `alone ${b.firstServiceMsMedian} ms)`,
    `  service ${f.serviceMsMedian} / ${f.serviceMsP95} ms = serviceMs ${b.serviceMsMedian} / ${b.serviceMsP95} ` +
      `+ queue calls ${b.overheadMsMedian} ms`,
    `  upload ${f.uploadMsMedian} / ${f.uploadMsP95} ms, response ${f.responseMsMedian} / ${f.responseMsP95} ms`,
    `stack (median of runs) vs simulator (median of ${seeds} seeds, profile local + fit):`,
    "figure        stack ms     sim ms   sim p5..p95 ms        error   within 15%",
  );
  for (const r of v.rows) {
    out.push(
      `${r.figure.padEnd(12)} ${r.stack.toFixed(0).padStart(9)} ${
        r.sim.toFixed(0).padStart(10)
      }   ${`${r.simP5.toFixed(0)}..${r.simP95.toFixed(0)}`.padEnd(18)} ${
        `${r.errorPct}%`.padStart(7)
      }   ${r.within ? "yes" : "NO"}`,
    );
  }
  return out.join("\n");
}

function readRecords(path: string): BurstRecord[] {
  const stat = Deno.statSync(path);
  if (stat.size > VALIDATION.fileBytesMax) {
    throw new UsageError(`${path} is larger than ${VALIDATION.fileBytesMax} bytes`);
  }
  return parseRecords(Deno.readTextFileSync(path), path);
}

function main(args: string[]): number {
  let recordsPath: string | null = null;
  let fitPath: string | null = null;
  let seeds: number = VALIDATION.seeds;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--records") recordsPath = args[++i] ?? null;
    else if (args[i] === "--fit-from") fitPath = args[++i] ?? null;
    else if (args[i] === "--seeds") seeds = Number(args[++i]);
    else if (args[i] === "--json") json = true;
    else {
      throw new UsageError(
        `unknown argument "${args[i]}"; use --records FILE [--fit-from FILE] [--seeds N] [--json]`,
      );
    }
  }
  if (recordsPath === null) {
    throw new UsageError(
      "--records FILE is required: the runs bench/validate_sim.ts --out saved (see this file's header)",
    );
  }
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 1000) {
    throw new UsageError(`--seeds must be a whole number in [1, 1000], got ${seeds}`);
  }
  const records = readRecords(recordsPath);
  const fitRecords = fitPath === null ? records : readRecords(fitPath);
  const v = validate(records, fitRecords, { seeds, fittedOn: fitPath ?? "these runs" });
  console.log(json ? JSON.stringify(v, null, 2) : validationText(v, seeds));
  return v.rows.every((r) => r.within) ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError || e instanceof TypeError || e instanceof RangeError) {
      console.error(`validate: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
