/**
 * Workloads: when requests arrive. A workload is a sum of terms joined by `+`, each optionally
 * shifted by `@START`:
 *
 * | term | arrivals |
 * | --- | --- |
 * | `burst:N` | N requests at once |
 * | `poisson:RATE:DURATION` | a Poisson process of RATE per second for DURATION |
 * | `ramp:FROM:TO:DURATION` | Poisson, rate rising linearly from FROM to TO per second |
 * | `diurnal:MEAN:DURATION[:PERIOD]` | Poisson, rate MEAN·(1 − cos(2πt/PERIOD)) (0 at start, 2·MEAN at half period); PERIOD defaults to 24h |
 * | `trace:FILE` | the arrival times in a CSV file (see {@linkcode parseTraceCsv}) |
 *
 * Durations take a unit: `500ms`, `30s`, `10m`, `24h`, `2d`; a bare number is seconds.
 * Example: `burst:100+poisson:2:10m@1m`.
 * @module
 */
import { deriveSeed, Prng } from "./rng.ts";

/** One term of a workload. */
export type WorkloadTerm =
  | { readonly kind: "burst"; readonly count: number; readonly startMs: number }
  | {
    readonly kind: "poisson";
    readonly ratePerS: number;
    readonly durationMs: number;
    readonly startMs: number;
  }
  | {
    readonly kind: "ramp";
    readonly fromPerS: number;
    readonly toPerS: number;
    readonly durationMs: number;
    readonly startMs: number;
  }
  | {
    readonly kind: "diurnal";
    readonly meanPerS: number;
    readonly durationMs: number;
    readonly periodMs: number;
    readonly startMs: number;
  }
  | {
    readonly kind: "trace";
    readonly path: string;
    /** Arrival times in ms from the trace's start, ascending. */
    readonly timesMs: Float64Array;
    readonly startMs: number;
  };

/** A parsed workload: its text and its terms. */
export interface Workload {
  readonly spec: string;
  readonly terms: readonly WorkloadTerm[];
}

/** Limits on workload input. */
export const WORKLOAD_LIMITS = Object.freeze({
  /** Longest workload text. */
  specCharsMax: 4096,
  /** Most terms in a sum. */
  termsMax: 64,
  /** Largest trace file. */
  traceBytesMax: 256 * 1024 * 1024,
  /** Highest rate of any term. */
  ratePerSMax: 1_000_000,
  /** Longest duration of any term (one year). */
  durationMsMax: 365 * 86_400_000,
});

/** A workload the user wrote wrong; the message says what and how to fix it. */
export class WorkloadError extends Error {
  override name = "WorkloadError";
}

/** Reads a trace file; injected so parsing stays pure and testable. */
export type ReadTextFile = (path: string) => string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `24h`, `90s`, `250ms`; a bare number is seconds.
 *
 * @param text The duration.
 * @param what What it is, for the error message.
 * @returns Milliseconds.
 * @throws {WorkloadError} on anything else.
 * @example
 * ```ts
 * parseDurationMs("24h", "duration"); // 86_400_000
 * ```
 */
export function parseDurationMs(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) {
    throw new WorkloadError(
      `${what} "${text}" is not a duration; write e.g. 500ms, 30s, 10m, 24h or 2d`,
    );
  }
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? "s"];
  if (ms > WORKLOAD_LIMITS.durationMsMax) {
    throw new WorkloadError(`${what} "${text}" is longer than a year; shorten it`);
  }
  return ms;
}

function parseRate(text: string, what: string): number {
  const rate = Number(text);
  if (
    text.trim() === "" || !Number.isFinite(rate) || rate < 0 || rate > WORKLOAD_LIMITS.ratePerSMax
  ) {
    throw new WorkloadError(
      `${what} "${text}" must be a rate per second in [0, ${WORKLOAD_LIMITS.ratePerSMax}]`,
    );
  }
  return rate;
}

/**
 * Parses a CSV of arrival times. Blank lines and lines starting with `#` are skipped; the first
 * column is the time. A first line that is not a number is a header: if its first column's name
 * ends in `ms` (e.g. `arrival_ms`) times are milliseconds, otherwise seconds. Without a header,
 * seconds. Times need not be sorted; they are sorted and shifted so the first is 0.
 *
 * @param text The file's text.
 * @param path The file's name, for messages.
 * @returns Arrival times in ms, ascending, from 0.
 * @throws {WorkloadError} naming the line of a bad value.
 */
export function parseTraceCsv(text: string, path: string): Float64Array {
  const lines = text.split(/\r?\n/);
  let scale = 1000;
  const times: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const first = line.split(",")[0].trim();
    const value = Number(first);
    if (first === "" || !Number.isFinite(value)) {
      if (times.length === 0 && i === firstContentLine(lines)) {
        scale = /ms"?$/i.test(first) ? 1 : 1000;
        continue;
      }
      throw new WorkloadError(`${path}:${i + 1}: "${first}" is not an arrival time`);
    }
    if (value < 0) throw new WorkloadError(`${path}:${i + 1}: arrival time ${value} is negative`);
    times.push(value * scale);
  }
  if (times.length === 0) throw new WorkloadError(`${path} holds no arrival times`);
  const sorted = Float64Array.from(times).sort();
  const t0 = sorted[0];
  for (let i = 0; i < sorted.length; i++) sorted[i] -= t0;
  return sorted;
}

function firstContentLine(lines: readonly string[]): number {
  return lines.findIndex((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

/**
 * Parses a workload text into terms.
 *
 * @param spec E.g. `burst:100`, `poisson:50:24h`, `burst:100+burst:100@2m`.
 * @param readTextFile Reads `trace:FILE` files.
 * @returns The workload.
 * @throws {WorkloadError} saying which term is wrong and what is accepted.
 * @example
 * ```ts
 * const w = parseWorkload("poisson:50:24h", (p) => Deno.readTextFileSync(p));
 * ```
 */
export function parseWorkload(spec: string, readTextFile: ReadTextFile): Workload {
  if (spec.length > WORKLOAD_LIMITS.specCharsMax) {
    throw new WorkloadError(`workload is longer than ${WORKLOAD_LIMITS.specCharsMax} characters`);
  }
  const parts = spec.split("+").map((s) => s.trim());
  if (parts.length > WORKLOAD_LIMITS.termsMax) {
    throw new WorkloadError(
      `workload has ${parts.length} terms, more than ${WORKLOAD_LIMITS.termsMax}`,
    );
  }
  return { spec, terms: parts.map((p) => parseTerm(p, readTextFile)) };
}

function parseTerm(text: string, readTextFile: ReadTextFile): WorkloadTerm {
  const at = text.lastIndexOf("@");
  const body = at >= 0 ? text.slice(0, at) : text;
  const startMs = at >= 0 ? parseDurationMs(text.slice(at + 1), `start of "${text}"`) : 0;
  const [kind, ...args] = body.split(":");
  const need = (n: number, form: string) => {
    if (args.length !== n) throw new WorkloadError(`"${text}": write ${form}`);
  };
  switch (kind) {
    case "burst": {
      need(1, "burst:N (N requests at once)");
      const count = Number(args[0]);
      if (!Number.isSafeInteger(count) || count < 0) {
        throw new WorkloadError(`"${text}": N must be a whole number >= 0, got "${args[0]}"`);
      }
      return { kind, count, startMs };
    }
    case "poisson":
      need(2, "poisson:RATE:DURATION, e.g. poisson:50:24h");
      return {
        kind,
        ratePerS: parseRate(args[0], `rate in "${text}"`),
        durationMs: parseDurationMs(args[1], `duration in "${text}"`),
        startMs,
      };
    case "ramp":
      need(3, "ramp:FROM:TO:DURATION (rates per second), e.g. ramp:0:20:10m");
      return {
        kind,
        fromPerS: parseRate(args[0], `start rate in "${text}"`),
        toPerS: parseRate(args[1], `end rate in "${text}"`),
        durationMs: parseDurationMs(args[2], `duration in "${text}"`),
        startMs,
      };
    case "diurnal": {
      if (args.length !== 2 && args.length !== 3) {
        throw new WorkloadError(
          `"${text}": write diurnal:MEAN:DURATION[:PERIOD], e.g. diurnal:5:48h`,
        );
      }
      const periodMs = args[2] === undefined
        ? 86_400_000
        : parseDurationMs(args[2], `period in "${text}"`);
      if (periodMs <= 0) throw new WorkloadError(`"${text}": PERIOD must be > 0`);
      return {
        kind,
        meanPerS: parseRate(args[0], `mean rate in "${text}"`),
        durationMs: parseDurationMs(args[1], `duration in "${text}"`),
        periodMs,
        startMs,
      };
    }
    case "trace": {
      const path = body.slice("trace:".length);
      if (path === "") {
        throw new WorkloadError(`"${text}": write trace:FILE (a CSV of arrival times)`);
      }
      let content: string;
      try {
        content = readTextFile(path);
      } catch (e) {
        throw new WorkloadError(`cannot read trace file ${path}: ${(e as Error).message}`);
      }
      if (content.length > WORKLOAD_LIMITS.traceBytesMax) {
        throw new WorkloadError(
          `trace file ${path} is larger than ${WORKLOAD_LIMITS.traceBytesMax} bytes`,
        );
      }
      return { kind, path, timesMs: parseTraceCsv(content, path), startMs };
    }
    default:
      throw new WorkloadError(
        `unknown workload "${kind}" in "${text}"; use burst:N, poisson:RATE:DURATION, ramp:FROM:TO:DURATION, diurnal:MEAN:DURATION[:PERIOD] or trace:FILE`,
      );
  }
}

/**
 * The expected number of arrivals (exact for bursts and traces, the mean for Poisson terms).
 *
 * @param workload A parsed workload.
 * @returns Expected requests.
 */
export function expectedRequests(workload: Workload): number {
  let n = 0;
  for (const t of workload.terms) {
    switch (t.kind) {
      case "burst":
        n += t.count;
        break;
      case "poisson":
        n += (t.ratePerS * t.durationMs) / 1000;
        break;
      case "ramp":
        n += ((t.fromPerS + t.toPerS) / 2) * t.durationMs / 1000;
        break;
      case "diurnal": {
        // ∫ MEAN·(1 − cos(2πt/P)) dt over [0, D].
        const w = (2 * Math.PI) / t.periodMs;
        n += t.meanPerS * (t.durationMs - Math.sin(w * t.durationMs) / w) / 1000;
        break;
      }
      case "trace":
        n += t.timesMs.length;
    }
  }
  return n;
}

/** The workload's end: the last moment any term can produce an arrival. */
export function workloadEndMs(workload: Workload): number {
  let end = 0;
  for (const t of workload.terms) {
    const last = t.kind === "burst"
      ? t.startMs
      : t.kind === "trace"
      ? t.startMs + t.timesMs[t.timesMs.length - 1]
      : t.startMs + t.durationMs;
    end = Math.max(end, last);
  }
  return end;
}

/** A stream of arrival times (ms, ascending) for one term. */
export interface ArrivalSource {
  /** @returns The next arrival time, or Infinity when the term is exhausted. */
  next(): number;
}

/**
 * Builds one arrival source per term, each with its own sub-seed (`workload/<index>`), so that
 * adding a term does not change the arrivals of the others.
 *
 * @param workload A parsed workload.
 * @param seed The run's seed.
 * @returns Sources in term order.
 */
export function arrivalSources(workload: Workload, seed: number): ArrivalSource[] {
  return workload.terms.map((term, i) =>
    sourceFor(term, new Prng(deriveSeed(seed, `workload/${i}`)))
  );
}

function sourceFor(term: WorkloadTerm, rng: Prng): ArrivalSource {
  switch (term.kind) {
    case "burst": {
      let left = term.count;
      return { next: () => (left-- > 0 ? term.startMs : Infinity) };
    }
    case "trace": {
      let i = 0;
      return {
        next: () => (i < term.timesMs.length ? term.startMs + term.timesMs[i++] : Infinity),
      };
    }
    case "poisson": {
      const ratePerMs = term.ratePerS / 1000;
      const end = term.startMs + term.durationMs;
      let t = term.startMs;
      return {
        next: () => {
          if (ratePerMs <= 0) return Infinity;
          t += rng.nextExponentialMs(ratePerMs);
          return t < end ? t : Infinity;
        },
      };
    }
    case "ramp": {
      const slope = (term.toPerS - term.fromPerS) / term.durationMs;
      return thinned(
        rng,
        term.startMs,
        term.durationMs,
        Math.max(term.fromPerS, term.toPerS),
        (x) => term.fromPerS + slope * x,
      );
    }
    case "diurnal": {
      const w = (2 * Math.PI) / term.periodMs;
      return thinned(
        rng,
        term.startMs,
        term.durationMs,
        2 * term.meanPerS,
        (x) => term.meanPerS * (1 - Math.cos(w * x)),
      );
    }
  }
}

/** A non-homogeneous Poisson process by thinning (Lewis & Shedler): propose at the peak rate. */
function thinned(
  rng: Prng,
  startMs: number,
  durationMs: number,
  peakPerS: number,
  ratePerSAt: (elapsedMs: number) => number,
): ArrivalSource {
  const peakPerMs = peakPerS / 1000;
  let x = 0;
  return {
    next: () => {
      if (peakPerMs <= 0) return Infinity;
      for (;;) {
        x += rng.nextExponentialMs(peakPerMs);
        if (x >= durationMs) return Infinity;
        if (rng.nextUniform() * peakPerS <= ratePerSAt(x)) return startMs + x;
      }
    },
  };
}
