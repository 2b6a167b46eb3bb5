/**
 * The dashboard's memory: a bounded history of the fleet, the queues and the requests answered,
 * sampled every `sampleMs` over the last `windowMs`, and the recent requests, controller
 * decisions and worker start-ups and errors. `GET /dashboard.json` reads it; the page at `GET /`
 * draws it. Nothing here reads the wall clock: times come in as arguments.
 * @module
 */
import { INSTANCE_STATES, type InstanceExit, type InstanceState } from "../cloud/fleet.ts";
import { checkInteger, quantileSorted } from "../internal/mod.ts";
import type { StackSnapshot } from "./metrics.ts";

/** How far back the charts reach: 10 minutes. */
export const DASHBOARD_WINDOW_MS_DEFAULT = 10 * 60_000;
/** One chart point per 2 s (the page polls at the same period). */
export const DASHBOARD_SAMPLE_MS_DEFAULT = 2_000;
/**
 * Most chart points kept, whatever the window and period: the history's memory bound (a point is
 * a dozen numbers, so this is under 100 KB).
 */
export const DASHBOARD_POINTS_MAX = 1_000;
/**
 * How long after a page last polled the dashboard's own sampler keeps reading the fleet and the
 * queues ({@linkcode Dashboard.run}): a minute. Where nobody looks, it reads nothing (each read
 * is a DescribeInstances and a GetQueueAttributes per queue on AWS). The web instance that runs
 * the controller does not run this sampler at all: the controller's own reads feed the charts.
 */
export const DASHBOARD_VIEWED_MS = 60_000;
/** Most recent requests kept for the page. */
export const RECENT_REQUESTS_MAX = 50;
/** Most controller decisions kept for the page. */
export const RECENT_DECISIONS_MAX = 30;
/** Most worker start-up and error events kept for the page. */
export const WORKER_EVENTS_MAX = 50;
/**
 * Most request latencies kept for one point's p50/p95; past it, every later latency of that
 * period replaces a random kept one (a uniform sample, so the quantiles stay fair).
 */
export const LATENCIES_PER_POINT_MAX = 10_000;
/** Longest text kept from outside the process (a file name, label, reason), in characters. */
export const DASHBOARD_TEXT_CHARS_MAX = 300;

/** One chart point: the state at `atMs` and the requests answered since the previous point. */
export interface DashboardPoint {
  readonly atMs: number;
  /** Instances per state; null when the state could not be read. */
  readonly instances: Readonly<Record<InstanceState, number>> | null;
  /**
   * The request queue's messages, and the requests dead-lettered: those in the dead-letter queue
   * now plus those the sweep answered (and took out of it) since the previous point. Null when
   * the queues could not be read.
   */
  readonly queue: { visible: number; inFlight: number; deadLettered: number } | null;
  /** `POST /` answers per second over the period (any status). */
  readonly requestsPerS: number;
  /** Of those, answers with a status of 500 or more, per second. */
  readonly errorsPerS: number;
  /** Latency quantiles of the period's answers, in ms; null when none. */
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
}

/** One `POST /` as the page lists it. */
export interface RecentRequest {
  readonly atMs: number;
  readonly requestId: string | null;
  /** The uploaded file name (validated: safe characters only, but shown escaped all the same). */
  readonly file: string | null;
  readonly status: number;
  /** The answer's label, or the error code. */
  readonly label: string;
  readonly faces: number | null;
  readonly latencyMs: number;
  readonly worker: string | null;
}

/** One controller event as the page lists it (the service turns the controller's log into these). */
export interface DashboardDecision {
  readonly atMs: number;
  /** `decision`, `workers_not_ready`, `workers_ready`, `tick_failed`, … */
  readonly kind: string;
  /** What it did, e.g. `start app-tier-instance-2`, or `hold`. */
  readonly summary: string;
  /** Why: each clamp with its explanation, each failed call. */
  readonly reasons: readonly string[];
  /** The inputs it saw, one line. */
  readonly inputs: string;
}

/** A worker started, became ready, or ended (from the fleet's view of its instances). */
export interface WorkerEvent {
  readonly atMs: number;
  readonly instance: string;
  readonly kind: "started" | "ready" | InstanceExit["kind"];
  /** The start-up time for `ready`, the reason for an exit. */
  readonly detail: string;
  /** A crash or a worker that could not become ready. */
  readonly error: boolean;
}

/** What the service runs, for the page's "in use" panel. */
export interface DashboardAbout {
  readonly models: readonly string[];
  readonly detector: string;
  readonly threshold: string;
  /** Null when the service has no gallery (every face is Unknown). */
  readonly gallery: {
    readonly file: string;
    readonly people: number;
    readonly embeddings: number;
    readonly modelId: string;
  } | null;
  /** Why the gallery could not be read, when it could not. */
  readonly galleryError?: string;
  readonly backend: string;
  readonly instancesMax: number;
}

/** What `GET /dashboard.json` returns (plus the page's panels). */
export interface DashboardData {
  readonly nowMs: number;
  readonly windowMs: number;
  readonly sampleMs: number;
  readonly points: readonly DashboardPoint[];
  readonly requests: readonly RecentRequest[];
  readonly decisions: readonly DashboardDecision[];
  readonly workerEvents: readonly WorkerEvent[];
  readonly about: DashboardAbout | null;
}

/** Options for {@linkcode Dashboard}; each is checked at creation. */
export interface DashboardOptions {
  /** The request queue's name in snapshots. */
  readonly requestQueue: string;
  /** The dead-letter queue's name in snapshots. @default {none: dead-lettered counts 0} */
  readonly deadLetterQueue?: string;
  /** @default {DASHBOARD_WINDOW_MS_DEFAULT} */
  readonly windowMs?: number;
  /** @default {DASHBOARD_SAMPLE_MS_DEFAULT} */
  readonly sampleMs?: number;
  /** What the service runs. @default {unknown} */
  readonly about?: DashboardAbout;
  /** A random number in [0, 1) for the latency sample. @default {Math.random} */
  readonly random?: () => number;
}

/** A bounded ring: the newest `max` items, oldest first. */
class Recent<T> {
  readonly #items: T[] = [];
  constructor(readonly max: number) {}
  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length > this.max) this.#items.splice(0, this.#items.length - this.max);
  }
  list(): T[] {
    return [...this.#items];
  }
  dropOlderThan(minMs: number, at: (item: T) => number): void {
    const keep = this.#items.findIndex((item) => at(item) >= minMs);
    this.#items.splice(0, keep === -1 ? this.#items.length : keep);
  }
}

/** What the previous snapshot showed of one instance, to tell what changed. */
interface SeenInstance {
  readonly lastStartedAtMs: number | null;
  readonly readyAtMs: number | null;
  readonly exitAtMs: number | null;
}

/**
 * The dashboard's history.
 *
 * @example
 * ```ts
 * const dashboard = new Dashboard({ requestQueue: "demo-req-queue" });
 * dashboard.recordRequest({ atMs, requestId, file: "a.jpg", status: 200, label: "Paul", faces: 1, latencyMs: 80, worker: "w1" });
 * dashboard.observe(await readState(), clock.nowMs());
 * dashboard.data(clock.nowMs()).points;
 * ```
 */
export class Dashboard {
  readonly windowMs: number;
  readonly sampleMs: number;
  readonly pointsMax: number;
  readonly #o: DashboardOptions;
  readonly #random: () => number;
  readonly #points: Recent<DashboardPoint>;
  readonly #requests = new Recent<RecentRequest>(RECENT_REQUESTS_MAX);
  readonly #decisions = new Recent<DashboardDecision>(RECENT_DECISIONS_MAX);
  readonly #workerEvents = new Recent<WorkerEvent>(WORKER_EVENTS_MAX);
  readonly #seen = new Map<string, SeenInstance>();
  #about: DashboardAbout | null;
  /** The current period's answers: count, errors, a latency sample. */
  #period = { answered: 0, errors: 0, deadLettered: 0, latenciesMs: [] as number[] };
  #lastSampleMs: number | null = null;
  /** When a page last polled ({@linkcode Dashboard.noteViewed}); null: never. */
  #viewedAtMs: number | null = null;

  constructor(options: DashboardOptions) {
    this.windowMs = options.windowMs ?? DASHBOARD_WINDOW_MS_DEFAULT;
    this.sampleMs = options.sampleMs ?? DASHBOARD_SAMPLE_MS_DEFAULT;
    checkInteger("windowMs", this.windowMs, 1_000, 24 * 3_600_000);
    checkInteger("sampleMs", this.sampleMs, 10, this.windowMs);
    this.pointsMax = Math.min(DASHBOARD_POINTS_MAX, Math.ceil(this.windowMs / this.sampleMs) + 1);
    this.#points = new Recent(this.pointsMax);
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#about = options.about ?? null;
  }

  /** Sets what the service runs (the service reads the gallery after the app exists). */
  setAbout(about: DashboardAbout): void {
    this.#about = about;
  }

  /** Records one answered `POST /` (any status). */
  recordRequest(request: RecentRequest): void {
    this.#requests.push({
      ...request,
      file: request.file === null ? null : clip(request.file),
      label: clip(request.label),
      worker: request.worker === null ? null : clip(request.worker),
    });
    const period = this.#period;
    period.answered++;
    if (request.status >= 500) period.errors++;
    const latencies = period.latenciesMs;
    if (latencies.length < LATENCIES_PER_POINT_MAX) latencies.push(request.latencyMs);
    else {
      // Reservoir sampling: the kept latencies stay a uniform sample of the period's.
      const k = Math.floor(this.#random() * period.answered);
      if (k < LATENCIES_PER_POINT_MAX) latencies[k] = request.latencyMs;
    }
  }

  /** Records one controller event. */
  recordDecision(decision: DashboardDecision): void {
    this.#decisions.push({
      ...decision,
      summary: clip(decision.summary),
      reasons: decision.reasons.slice(0, 10).map(clip),
      inputs: clip(decision.inputs),
    });
  }

  /** Counts one request the dead-letter sweep answered (it leaves the dead-letter queue). */
  recordDeadLetter(): void {
    this.#period.deadLettered++;
  }

  /**
   * Closes the current period: adds a chart point from the snapshot (undefined: the state could
   * not be read) and the requests answered since the previous point, and notes what changed for
   * each instance (started, ready, ended).
   */
  observe(snapshot: StackSnapshot | undefined, nowMs: number): void {
    const previousMs = this.#lastSampleMs;
    this.#lastSampleMs = nowMs;
    const periodS = Math.max(previousMs === null ? this.sampleMs : nowMs - previousMs, 1) / 1000;
    const { answered, errors, deadLettered, latenciesMs } = this.#period;
    this.#period = { answered: 0, errors: 0, deadLettered: 0, latenciesMs: [] };
    const sorted = Float64Array.from(latenciesMs).sort();
    const instances = snapshot ? countStates(snapshot) : null;
    const counts = snapshot?.queues.find((q) => q.queue === this.#o.requestQueue)?.counts;
    const dead = snapshot?.queues.find((q) => q.queue === this.#o.deadLetterQueue)?.counts;
    this.#points.push({
      atMs: nowMs,
      instances,
      queue: counts
        ? {
          visible: counts.visible + counts.delayed,
          inFlight: counts.inFlight,
          // In flight in the dead-letter queue: the sweep has it, and counts it when answered.
          deadLettered: deadLettered + (dead ? dead.visible + dead.delayed : 0),
        }
        : null,
      requestsPerS: round(answered / periodS),
      errorsPerS: round(errors / periodS),
      latencyP50Ms: sorted.length ? quantileSorted(sorted, 0.5) : null,
      latencyP95Ms: sorted.length ? quantileSorted(sorted, 0.95) : null,
    });
    this.#points.dropOlderThan(nowMs - this.windowMs, (p) => p.atMs);
    if (snapshot) this.#noteInstances(snapshot);
  }

  /** Whether a new point is due (none yet, or the last is `sampleMs` old). */
  due(nowMs: number): boolean {
    return this.#lastSampleMs === null || nowMs - this.#lastSampleMs >= this.sampleMs;
  }

  /** Notes that a page (`GET /` or its data) polled at `nowMs`: {@linkcode Dashboard.run} samples. */
  noteViewed(nowMs: number): void {
    this.#viewedAtMs = nowMs;
  }

  /** Whether a page polled within the last {@linkcode DASHBOARD_VIEWED_MS}. */
  viewed(nowMs: number): boolean {
    return this.#viewedAtMs !== null && nowMs - this.#viewedAtMs <= DASHBOARD_VIEWED_MS;
  }

  /**
   * Until `signal` aborts, looks every `sampleMs` and, while a page has polled within
   * {@linkcode DASHBOARD_VIEWED_MS} and a point is due (a page's own poll may have taken it),
   * reads the state and takes a point (a failed read is a point without state). For web
   * instances without a controller; the one with it feeds {@linkcode Dashboard.observe} from the
   * controller's reads instead.
   * @param readState reads the fleet and the queues
   * @param clock the stack's clock
   */
  async run(
    readState: () => Promise<StackSnapshot>,
    clock: { nowMs(): number; sleepMs(ms: number, signal?: AbortSignal): Promise<void> },
    signal: AbortSignal,
  ): Promise<void> {
    while (!signal.aborted) {
      if (this.viewed(clock.nowMs()) && this.due(clock.nowMs())) {
        const snapshot = await readState().catch(() => undefined);
        if (signal.aborted) break;
        this.observe(snapshot, clock.nowMs());
      }
      // Until the next point is due (a page's poll may have taken one), at most sampleMs.
      const untilDueMs = this.#lastSampleMs === null
        ? this.sampleMs
        : this.#lastSampleMs + this.sampleMs - clock.nowMs();
      await clock.sleepMs(
        untilDueMs > 0 ? Math.min(untilDueMs, this.sampleMs) : this.sampleMs,
        signal,
      );
    }
  }

  /** Everything the page shows, newest requests and events first. */
  data(nowMs: number): DashboardData {
    const sinceMs = nowMs - this.windowMs;
    return {
      nowMs,
      windowMs: this.windowMs,
      sampleMs: this.sampleMs,
      points: this.#points.list().filter((p) => p.atMs >= sinceMs),
      requests: this.#requests.list().reverse(),
      decisions: this.#decisions.list().reverse(),
      workerEvents: this.#workerEvents.list().reverse(),
      about: this.#about,
    };
  }

  #noteInstances(snapshot: StackSnapshot): void {
    const events: WorkerEvent[] = [];
    for (const i of snapshot.instances) {
      const seen = this.#seen.get(i.id);
      const now: SeenInstance = {
        lastStartedAtMs: i.lastStartedAtMs ?? null,
        readyAtMs: i.readyAtMs ?? null,
        exitAtMs: i.lastExit?.atMs ?? null,
      };
      this.#seen.set(i.id, now);
      if (now.lastStartedAtMs !== null && now.lastStartedAtMs !== seen?.lastStartedAtMs) {
        events.push({
          atMs: now.lastStartedAtMs,
          instance: i.name,
          kind: "started",
          detail: "",
          error: false,
        });
      }
      if (now.readyAtMs !== null && now.readyAtMs !== seen?.readyAtMs) {
        const startupMs = now.lastStartedAtMs === null ? null : now.readyAtMs - now.lastStartedAtMs;
        events.push({
          atMs: now.readyAtMs,
          instance: i.name,
          kind: "ready",
          detail: startupMs === null || startupMs < 0 ? "" : `start-up ${startupMs} ms`,
          error: false,
        });
      }
      const exit = i.lastExit;
      if (exit && now.exitAtMs !== seen?.exitAtMs) {
        events.push({
          atMs: exit.atMs,
          instance: i.name,
          kind: exit.kind,
          detail: clip(exit.reason ?? ""),
          error: exit.kind === "crashed" || exit.kind === "not_ready",
        });
      }
    }
    for (const id of this.#seen.keys()) {
      if (!snapshot.instances.some((i) => i.id === id)) this.#seen.delete(id);
    }
    for (const event of events.sort((a, b) => a.atMs - b.atMs)) this.#workerEvents.push(event);
  }
}

function countStates(snapshot: StackSnapshot): Record<InstanceState, number> {
  const counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as Record<
    InstanceState,
    number
  >;
  for (const i of snapshot.instances) counts[i.state]++;
  return counts;
}

function clip(text: string): string {
  return text.length > DASHBOARD_TEXT_CHARS_MAX
    ? `${text.slice(0, DASHBOARD_TEXT_CHARS_MAX - 1)}…`
    : text;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * JSON that is safe inside HTML as well: `<`, `>`, `&` and the JavaScript line separators are
 * written as `\u` escapes, so a hostile string cannot close a script element or be sniffed as
 * markup; `JSON.parse` gives the same value back.
 */
export function htmlSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
