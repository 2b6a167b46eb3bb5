/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and histograms
 * with labels, a bound on series per metric, and the web tier's own metric set.
 * @module
 */
import { INSTANCE_STATES, type InstanceExit, type InstanceState } from "../cloud/fleet.ts";
import type { QueueCounts } from "../cloud/message_queue.ts";

/** The Content-Type Prometheus expects for the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
/** Series one metric may hold; label values come from our own code, so this is a safety net. */
export const SERIES_PER_METRIC_MAX = 1_000;
/** Request-latency histogram buckets, in seconds: 5 ms to 2 min (a cold burst is seconds). */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  20,
  30,
  60,
  120,
];

type Labels = Readonly<Record<string, string>>;
type Kind = "counter" | "gauge" | "histogram";

interface Series {
  labels: Labels;
  value: number;
  /** Histograms: per-bucket counts (not cumulative), then sum and count. */
  buckets?: number[];
  sum?: number;
  count?: number;
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly labelNames: readonly string[];
  protected readonly series = new Map<string, Series>();
  /** Observations dropped because the series limit was reached. */
  dropped = 0;

  constructor(name: string, help: string, kind: Kind, labelNames: readonly string[]) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
      throw new TypeError(`metric name ${JSON.stringify(name)} is not a Prometheus name`);
    }
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
  }

  protected seriesFor(labels: Labels): Series | undefined {
    const names = Object.keys(labels);
    if (
      names.length !== this.labelNames.length || !this.labelNames.every((n) => n in labels)
    ) {
      throw new TypeError(
        `${this.name} takes labels ${this.labelNames.join(",")}, got ${names.join(",")}`,
      );
    }
    const key = this.labelNames.map((n) => labels[n]).join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      if (this.series.size >= SERIES_PER_METRIC_MAX) {
        this.dropped++;
        return undefined;
      }
      series = { labels: { ...labels }, value: 0 };
      this.series.set(key, series);
    }
    return series;
  }

  /** Removes every series (gauges refilled on each scrape). */
  reset(): void {
    this.series.clear();
  }

  render(): string {
    const lines = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.kind}`,
    ];
    for (const series of this.series.values()) lines.push(...this.renderSeries(series));
    return lines.join("\n");
  }

  protected renderSeries(series: Series): string[] {
    return [`${this.name}${formatLabels(series.labels)} ${formatNumber(series.value)}`];
  }
}

/** A value that only goes up. */
export class Counter extends Metric {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "counter", labelNames);
  }

  /** @throws {RangeError} for a negative or non-finite amount */
  inc(labels: Labels = {}, amount = 1): void {
    if (!(amount >= 0) || !Number.isFinite(amount)) {
      throw new RangeError(`${this.name}: counters only go up, got ${amount}`);
    }
    const series = this.seriesFor(labels);
    if (series) series.value += amount;
  }

  /**
   * Mirrors a count kept elsewhere (e.g. by the response router).
   * @throws {RangeError} when the value would go down
   */
  setTotal(labels: Labels, value: number): void {
    const series = this.seriesFor(labels);
    if (!series) return;
    if (!(value >= series.value)) {
      throw new RangeError(`${this.name}: counters only go up, ${series.value} → ${value}`);
    }
    series.value = value;
  }

  /** The current value of one series (0 when never touched). */
  get(labels: Labels = {}): number {
    return this.seriesFor(labels)?.value ?? 0;
  }
}

/** A value that is set. */
export class Gauge extends Metric {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "gauge", labelNames);
  }

  set(labels: Labels, value: number): void {
    const series = this.seriesFor(labels);
    if (series) series.value = value;
  }
}

/** Observations counted into fixed buckets, with their sum. */
export class Histogram extends Metric {
  readonly bucketBounds: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    bucketBounds: readonly number[],
  ) {
    super(name, help, "histogram", labelNames);
    for (let i = 0; i < bucketBounds.length; i++) {
      if (!Number.isFinite(bucketBounds[i]) || (i > 0 && bucketBounds[i] <= bucketBounds[i - 1])) {
        throw new RangeError(`${name}: bucket bounds must be finite and increasing`);
      }
    }
    this.bucketBounds = bucketBounds;
  }

  observe(labels: Labels, value: number): void {
    const series = this.seriesFor(labels);
    if (!series) return;
    series.buckets ??= new Array(this.bucketBounds.length + 1).fill(0);
    let i = this.bucketBounds.findIndex((bound) => value <= bound);
    if (i === -1) i = this.bucketBounds.length;
    series.buckets[i]++;
    series.sum = (series.sum ?? 0) + value;
    series.count = (series.count ?? 0) + 1;
  }

  protected override renderSeries(series: Series): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    const buckets = series.buckets ?? [];
    for (let i = 0; i <= this.bucketBounds.length; i++) {
      cumulative += buckets[i] ?? 0;
      const le = i < this.bucketBounds.length ? formatNumber(this.bucketBounds[i]) : "+Inf";
      lines.push(`${this.name}_bucket${formatLabels({ ...series.labels, le })} ${cumulative}`);
    }
    lines.push(`${this.name}_sum${formatLabels(series.labels)} ${formatNumber(series.sum ?? 0)}`);
    lines.push(`${this.name}_count${formatLabels(series.labels)} ${series.count ?? 0}`);
    return lines;
  }
}

/** Metrics by name, rendered together. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  /** @throws {TypeError} when the name is taken */
  register<M extends Metric>(metric: M): M {
    if (this.#metrics.has(metric.name)) {
      throw new TypeError(`metric ${metric.name} is registered twice`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** The whole registry in the Prometheus text format. */
  render(): string {
    return [...this.#metrics.values()].map((m) => m.render()).join("\n") + "\n";
  }
}

/** One queue's counts, under the name the metrics use. */
export interface QueueSnapshot {
  /** The queue's name, e.g. `demo-req-queue`. */
  readonly queue: string;
  readonly counts: QueueCounts;
}

/** The fleet and queues at one moment, as the status page and /metrics show them. */
export interface StackSnapshot {
  readonly instances: readonly {
    readonly id: string;
    readonly name: string;
    readonly state: InstanceState;
    /** When it last left `stopped`, when its worker said ready, how its last run ended. */
    readonly lastStartedAtMs?: number | null;
    readonly readyAtMs?: number | null;
    readonly lastExit?: InstanceExit | null;
  }[];
  readonly queues: readonly QueueSnapshot[];
}

/** The web tier's metric set, on its own registry. */
export class WebMetrics {
  readonly registry: MetricsRegistry = new MetricsRegistry();
  readonly requests: Counter = this.registry.register(
    new Counter("fr_http_requests_total", "HTTP requests answered, by route and status.", [
      "route",
      "status",
    ]),
  );
  readonly latency: Histogram = this.registry.register(
    new Histogram(
      "fr_request_duration_seconds",
      "Time from receiving a request to answering it, by route.",
      ["route"],
      LATENCY_BUCKETS_S,
    ),
  );
  readonly instances: Gauge = this.registry.register(
    new Gauge("fr_instances", "App-tier instances by fleet state.", ["state"]),
  );
  readonly queueMessages: Gauge = this.registry.register(
    new Gauge(
      "fr_queue_messages",
      "Approximate messages per queue: visible, in_flight (received, not deleted), delayed.",
      ["queue", "kind"],
    ),
  );
  readonly scrapeErrors: Counter = this.registry.register(
    new Counter(
      "fr_state_read_errors_total",
      "Scrapes where the fleet or queue state could not be read.",
    ),
  );
  readonly web: Gauge = this.registry.register(
    new Gauge(
      "fr_web_requests",
      "Web tier bookkeeping: uploading (bodies being received), waiting (HTTP requests " +
        "blocked on an answer), pending (accepted, unanswered), results (answers kept for " +
        "GET /requests/:id).",
      ["kind"],
    ),
  );
  readonly responses: Counter = this.registry.register(
    new Counter(
      "fr_response_messages_total",
      "Response messages received by this process: matched, unmatched (unknown id), malformed.",
      ["outcome"],
    ),
  );

  /** Records one answered request. */
  observeRequest(route: string, status: number, durationMs: number): void {
    this.requests.inc({ route, status: String(status) });
    this.latency.observe({ route }, durationMs / 1000);
  }

  /** Refreshes the fleet and queue gauges; every fleet state gets a series, zeros included. */
  setSnapshot(snapshot: StackSnapshot): void {
    this.instances.reset();
    const byState = new Map<InstanceState, number>(INSTANCE_STATES.map((s) => [s, 0]));
    for (const instance of snapshot.instances) {
      byState.set(instance.state, (byState.get(instance.state) ?? 0) + 1);
    }
    for (const [state, count] of byState) this.instances.set({ state }, count);
    this.queueMessages.reset();
    for (const { queue, counts } of snapshot.queues) {
      this.queueMessages.set({ queue, kind: "visible" }, counts.visible);
      this.queueMessages.set({ queue, kind: "in_flight" }, counts.inFlight);
      this.queueMessages.set({ queue, kind: "delayed" }, counts.delayed);
    }
  }
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
