/**
 * SVG pictures of runs, self-contained (no scripts, no external fonts) so they open in any
 * browser: a timeline of one run, and cost against p99 latency for a sweep.
 * @module
 */
import type { Report } from "./report.ts";
import type { SeriesName, Timeline } from "./timeline.ts";

const WIDTH = 960;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';
const COLORS = {
  busy: "#1f5fa8",
  idle: "#8db8e8",
  pending: "#f0a030",
  stopping: "#9a9a9a",
  visible: "#d0352b",
  inFlight: "#7b3fb0",
  completions: "#2e9d4f",
  grid: "#e4e4e4",
  axis: "#555",
};

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function num(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

/**
 * A "nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks over `range`.
 *
 * @param range The axis range (> 0).
 * @param count Wanted ticks.
 * @returns The step.
 */
export function niceStep(range: number, count: number): number {
  if (!(range > 0)) return 1;
  const raw = range / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** Time-axis unit for a span: seconds, minutes or hours. */
function timeUnit(spanMs: number): { ms: number; label: string } {
  if (spanMs <= 180_000) return { ms: 1000, label: "s" };
  if (spanMs <= 3 * 3_600_000) return { ms: 60_000, label: "min" };
  return { ms: 3_600_000, label: "h" };
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
  xMax: number;
  yMax: number;
  /** Data values at the left and bottom edges. @default 0 */
  xMin?: number;
  yMin?: number;
}

function sx(f: Frame, x: number): number {
  const lo = f.xMin ?? 0;
  return f.x0 + (f.w * (x - lo)) / (f.xMax - lo);
}

function sy(f: Frame, y: number): number {
  const lo = f.yMin ?? 0;
  return f.y0 + f.h - (f.h * (y - lo)) / (f.yMax - lo);
}

function axes(f: Frame, xLabel: string, yLabel: string, xScale: number, yTicks = 5): string[] {
  const out: string[] = [];
  const yLo = f.yMin ?? 0;
  const yStep = niceStep(f.yMax - yLo, yTicks);
  for (let y = Math.ceil(yLo / yStep) * yStep; y <= f.yMax + 1e-9; y += yStep) {
    const py = num(sy(f, y));
    out.push(
      `<line x1="${f.x0}" y1="${py}" x2="${f.x0 + f.w}" y2="${py}" stroke="${COLORS.grid}"/>`,
    );
    out.push(
      `<text x="${
        f.x0 - 6
      }" y="${py}" dy="0.32em" text-anchor="end" font-size="11" fill="${COLORS.axis}">${
        num(y)
      }</text>`,
    );
  }
  const xLo = f.xMin ?? 0;
  const xStep = niceStep((f.xMax - xLo) / xScale, 10) * xScale;
  for (let x = Math.ceil(xLo / xStep) * xStep; x <= f.xMax + 1e-9; x += xStep) {
    const px = num(sx(f, x));
    out.push(
      `<line x1="${px}" y1="${f.y0 + f.h}" x2="${px}" y2="${
        f.y0 + f.h + 4
      }" stroke="${COLORS.axis}"/>`,
    );
    out.push(
      `<text x="${px}" y="${
        f.y0 + f.h + 16
      }" text-anchor="middle" font-size="11" fill="${COLORS.axis}">${num(x / xScale)}</text>`,
    );
  }
  out.push(
    `<rect x="${f.x0}" y="${f.y0}" width="${f.w}" height="${f.h}" fill="none" stroke="${COLORS.axis}"/>`,
    `<text x="${f.x0 + f.w / 2}" y="${
      f.y0 + f.h + 32
    }" text-anchor="middle" font-size="12" fill="${COLORS.axis}">${esc(xLabel)}</text>`,
    `<text transform="translate(${f.x0 - 40} ${
      f.y0 + f.h / 2
    }) rotate(-90)" text-anchor="middle" font-size="12" fill="${COLORS.axis}">${
      esc(yLabel)
    }</text>`,
  );
  return out;
}

/** Step-shaped polygon between `lower` and `upper` cumulative series. */
function stepBand(
  f: Frame,
  t: Float64Array,
  n: number,
  lower: Float64Array,
  upper: Float64Array,
): string {
  const top: string[] = [];
  const bottom: string[] = [];
  for (let i = 0; i < n; i++) {
    const x1 = sx(f, t[i]);
    const x2 = sx(f, i + 1 < n ? t[i + 1] : f.xMax);
    top.push(`${num(x1)},${num(sy(f, upper[i]))} ${num(x2)},${num(sy(f, upper[i]))}`);
    bottom.push(`${num(x2)},${num(sy(f, lower[i]))} ${num(x1)},${num(sy(f, lower[i]))}`);
  }
  return `${top.join(" ")} ${bottom.reverse().join(" ")}`;
}

function stepLine(f: Frame, t: Float64Array, n: number, v: Float64Array): string {
  const pts: string[] = [];
  for (let i = 0; i < n; i++) {
    const y = num(sy(f, v[i]));
    pts.push(`${num(sx(f, t[i]))},${y} ${num(sx(f, i + 1 < n ? t[i + 1] : f.xMax))},${y}`);
  }
  return pts.join(" ");
}

function legend(x: number, y: number, items: [string, string][]): string[] {
  const out: string[] = [];
  let cx = x;
  for (const [label, color] of items) {
    out.push(
      `<rect x="${cx}" y="${y - 9}" width="12" height="10" fill="${color}"/>`,
      `<text x="${cx + 16}" y="${y}" font-size="11" fill="#222">${esc(label)}</text>`,
    );
    cx += 24 + label.length * 6.2;
  }
  return out;
}

function fmtMs(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * The timeline of a run: instances by state (stacked), queue depth, in-flight messages and
 * completions per sample, with the report's headline figures.
 *
 * @param report The run's report.
 * @param timeline The run's timeline.
 * @returns SVG text.
 */
export function timelineSvg(report: Report, timeline: Timeline): string {
  const n = timeline.size;
  const t = timeline.timesMs;
  const s = timeline.series;
  const spanMs = Math.max(1, n > 0 ? t[n - 1] : 1);
  const unit = timeUnit(spanMs);
  const zero = new Float64Array(n);
  const cum = (names: SeriesName[]) => {
    const out = new Float64Array(n);
    for (const name of names) for (let i = 0; i < n; i++) out[i] += s[name][i];
    return out;
  };
  const busy = cum(["busy"]);
  const idle = cum(["busy", "idle"]);
  const pending = cum(["busy", "idle", "pending"]);
  const stopping = cum(["busy", "idle", "pending", "stopping"]);
  let instMax = report.config.instancesMax;
  let queueMax = 1;
  let doneMax = 1;
  for (let i = 0; i < n; i++) {
    instMax = Math.max(instMax, stopping[i]);
    queueMax = Math.max(queueMax, s.visible[i], s.inFlight[i]);
    doneMax = Math.max(doneMax, s.completions[i]);
  }
  const top: Frame = { x0: 70, y0: 70, w: WIDTH - 140, h: 230, xMax: spanMs, yMax: instMax };
  const bottom: Frame = { x0: 70, y0: 370, w: WIDTH - 140, h: 150, xMax: spanMs, yMax: queueMax };
  const doneFrame: Frame = { ...bottom, yMax: doneMax };
  const parts: string[] = [];
  const lat = report.latencyMs;
  parts.push(
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${
      esc(`${report.workload} · policy ${report.policy} · seed ${report.seed} · ${report.outcome}`)
    }</text>`,
    `<text x="${WIDTH / 2}" y="44" text-anchor="middle" font-size="12" fill="#333">${
      esc(
        `makespan ${fmtMs(report.makespanMs)} (oracle ≥ ${
          fmtMs(report.oracle.makespanMs)
        }) · latency p50 ${fmtMs(lat.p50)} p95 ${fmtMs(lat.p95)} p99 ${
          fmtMs(lat.p99)
        } · ${report.instanceSeconds} instance-s (${report.instanceSecondsBusy} busy) · ${report.coldStarts} cold starts`,
      )
    }</text>`,
  );
  parts.push(...axes(top, "", "instances", unit.ms));
  const bands: [Float64Array, Float64Array, string][] = [
    [zero, busy, COLORS.busy],
    [busy, idle, COLORS.idle],
    [idle, pending, COLORS.pending],
    [pending, stopping, COLORS.stopping],
  ];
  for (const [lo, hi, color] of bands) {
    if (n > 0) parts.push(`<polygon points="${stepBand(top, t, n, lo, hi)}" fill="${color}"/>`);
  }
  const maxY = num(sy(top, report.config.instancesMax));
  parts.push(
    `<line x1="${top.x0}" y1="${maxY}" x2="${
      top.x0 + top.w
    }" y2="${maxY}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${top.x0 + top.w - 4}" y="${
      Number(maxY) - 4
    }" text-anchor="end" font-size="11">max ${report.config.instancesMax}</text>`,
  );
  parts.push(
    ...legend(top.x0, top.y0 - 8, [
      ["busy", COLORS.busy],
      ["idle (running)", COLORS.idle],
      ["pending (booting)", COLORS.pending],
      ["stopping", COLORS.stopping],
    ]),
  );

  parts.push(...axes(bottom, `time (${unit.label})`, "messages", unit.ms));
  for (let i = 0; i < n; i++) {
    const c = s.completions[i];
    if (c <= 0) continue;
    const x1 = sx(doneFrame, t[i]);
    const x2 = sx(doneFrame, i + 1 < n ? t[i + 1] : spanMs);
    const y = sy(doneFrame, c);
    parts.push(
      `<rect x="${num(x1)}" y="${num(y)}" width="${num(Math.max(0.5, x2 - x1))}" height="${
        num(doneFrame.y0 + doneFrame.h - y)
      }" fill="${COLORS.completions}" fill-opacity="0.45"/>`,
    );
  }
  if (n > 0) {
    parts.push(
      `<polyline points="${
        stepLine(bottom, t, n, s.visible)
      }" fill="none" stroke="${COLORS.visible}" stroke-width="1.6"/>`,
      `<polyline points="${
        stepLine(bottom, t, n, s.inFlight)
      }" fill="none" stroke="${COLORS.inFlight}" stroke-width="1.6"/>`,
    );
  }
  parts.push(
    `<text x="${bottom.x0 + bottom.w + 6}" y="${
      bottom.y0 + 10
    }" font-size="11" fill="${COLORS.completions}">${num(doneMax)}</text>`,
    ...legend(bottom.x0, bottom.y0 - 8, [
      ["queue depth (visible)", COLORS.visible],
      ["in flight", COLORS.inFlight],
      [`completions per ${fmtMs(timeline.periodMs)} (right scale)`, COLORS.completions],
    ]),
  );
  return svgDocument(WIDTH, 580, parts);
}

/** One point of a sweep. */
export interface SweepPoint {
  /** The swept setting's value (or, comparing policies, the policy's name). */
  readonly value: number | string;
  readonly report: Report;
}

/**
 * Cost (instance-seconds) against p99 latency for each value of a swept setting.
 *
 * @param param The swept setting's name.
 * @param points The runs, in sweep order.
 * @returns SVG text.
 */
export function sweepSvg(param: string, points: readonly SweepPoint[]): string {
  const xs = points.map((p) => p.report.instanceSeconds);
  const ys = points.map((p) => p.report.latencyMs.p99 / 1000);
  // Zoom on the points (an axis from 0 would squash a sweep's differences into a corner).
  const span = (v: number[]) => {
    const lo = Math.min(...v, Infinity);
    const hi = Math.max(...v, -Infinity);
    const pad = Math.max((hi - lo) * 0.12, Math.abs(hi) * 0.02, 1e-3);
    return lo === Infinity ? [0, 1] : [Math.max(0, lo - pad), hi + pad];
  };
  const [xMin, xMax] = span(xs);
  const [yMin, yMax] = span(ys);
  const f: Frame = { x0: 80, y0: 60, w: WIDTH - 140, h: 420, xMin, xMax, yMin, yMax };
  const first = points[0]?.report;
  const parts: string[] = [
    `<text x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="15" font-weight="600">${
      esc(`cost against p99 latency, sweeping ${param} (labels: its value)`)
    }</text>`,
    `<text x="${WIDTH / 2}" y="44" text-anchor="middle" font-size="12" fill="#333">${
      esc(first ? `${first.workload} · policy ${first.policy} · seed ${first.seed}` : "")
    }</text>`,
    ...axes(f, "instance-seconds (cost)", "p99 latency (s)", 1),
  ];
  const pts = points.map((_, i) => [sx(f, xs[i]), sy(f, ys[i])]);
  if (pts.length > 1) {
    parts.push(
      `<polyline points="${
        pts.map(([x, y]) => `${num(x)},${num(y)}`).join(" ")
      }" fill="none" stroke="${COLORS.busy}" stroke-width="1.5"/>`,
    );
  }
  points.forEach((p, i) => {
    const [x, y] = pts[i];
    // Alternate labels above and below, and put them left of points in the right third, so
    // neighbours do not overprint and none runs off the picture.
    const leftward = x > f.x0 + (2 * f.w) / 3;
    const dy = i % 2 === 0 ? -8 : 16;
    parts.push(
      `<circle cx="${num(x)}" cy="${num(y)}" r="4.5" fill="${COLORS.visible}"/>`,
      `<text x="${num(x + (leftward ? -7 : 7))}" y="${num(y + dy)}" font-size="11"${
        leftward ? ' text-anchor="end"' : ""
      }>${esc(String(p.value))}</text>`,
    );
  });
  return svgDocument(WIDTH, 540, parts);
}

function svgDocument(width: number, height: number, parts: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
