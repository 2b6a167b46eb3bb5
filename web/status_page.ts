/**
 * The dashboard page at `GET /`: the fleet, the queues, charts of the last minutes, recent
 * requests, controller decisions, worker start-ups and errors, what the service runs, and a "Try
 * it" form that draws every face's box and label on the uploaded photo. Everything is rendered
 * here, on the server, with every dynamic value escaped; the page's one script
 * (`web/dashboard_script.ts`, served at `/dashboard.js`) only swaps in the panels that
 * `GET /dashboard.json` renders, every 2 s, and runs the "Try it" upload. Without scripts the
 * page still shows the state at load time and the form still posts.
 * @module
 */
import { INSTANCE_STATES } from "../cloud/fleet.ts";
import type { StackSnapshot } from "./metrics.ts";
import type { HealthIssue } from "./health.ts";
import type { RouterStats } from "./response_router.ts";
import type { DashboardData, DashboardPoint } from "./dashboard.ts";

/** What the page shows. */
export interface StatusView {
  /** Undefined when the state could not be read; `stateError` says why. */
  readonly snapshot: StackSnapshot | undefined;
  readonly stateError?: string;
  readonly router: RouterStats;
  /** What is wrong with the stack now (from the health board). @default {none} */
  readonly issues?: readonly HealthIssue[];
  /** Answered requests by status code. */
  readonly statusCounts: Readonly<Record<string, number>>;
  /** When the page was made (ms since epoch). */
  readonly nowMs: number;
  /** Seconds between updates. @default {2} */
  readonly refreshS?: number;
  /** The history: charts, recent requests, decisions, worker events. @default {none shown} */
  readonly dashboard?: DashboardData;
}

/** The URL of the page's script. */
export const DASHBOARD_SCRIPT_PATH = "/dashboard.js";
/** The URL of the page's data (JSON, with the rendered panels in `html`). */
export const DASHBOARD_DATA_PATH = "/dashboard.json";

/**
 * The page's Content-Security-Policy: its own script only (no inline script can run, whatever a
 * hostile string managed), images from itself and from the chosen file (`blob:`), fetches to
 * itself.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; " +
  "img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; " +
  "frame-ancestors 'none'";

/**
 * Renders the whole page. Every dynamic value is escaped: instance names, file names, labels and
 * error messages come from outside this process.
 *
 * @param view what to show
 * @returns a complete HTML document
 * @example
 * ```ts
 * const html = renderStatusPage({ snapshot, router: router.stats(), statusCounts: {}, nowMs });
 * ```
 */
export function renderStatusPage(view: StatusView): string {
  const refreshMs = Math.round((view.refreshS ?? 2) * 1000);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>Face recognition: dashboard</title>
<style>${STYLE}</style></head>
<body data-refresh-ms="${refreshMs}" data-data-path="${DASHBOARD_DATA_PATH}">
<header><h1>Face recognition service</h1>
<p id="conn" role="status" class="muted">Live: updates every ${refreshMs / 1000} s.</p></header>
<div id="live">${renderStatusPanels(view)}</div>
<section id="try"><h2>Try it</h2>
<form id="try-form" method="post" action="/" enctype="multipart/form-data">
<input type="file" id="try-file" name="inputFile" accept="image/*"> <button>Recognise</button>
</form>
<p id="try-status" role="status"></p>
<figure id="try-figure" hidden><div class="photo"><img id="try-img" alt="the uploaded photo">
<svg id="try-boxes" xmlns="http://www.w3.org/2000/svg"></svg></div>
<figcaption id="try-caption"></figcaption></figure>
<table id="try-faces" hidden><thead><tr><th>#</th><th>label</th><th>distance</th><th>score</th>
<th>box (x, y, w, h)</th></tr></thead><tbody></tbody></table>
</section>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> ·
<a href="${DASHBOARD_DATA_PATH}">${DASHBOARD_DATA_PATH}</a></p>
<script src="${DASHBOARD_SCRIPT_PATH}" defer></script>
</body></html>
`;
}

/**
 * Renders the panels that update: state now, degraded states, charts, what runs, recent
 * requests, decisions and worker events. The page swaps this fragment in on every update.
 *
 * @param view what to show
 * @returns an HTML fragment
 */
export function renderStatusPanels(view: StatusView): string {
  const { snapshot, router, dashboard } = view;
  const byState = INSTANCE_STATES.map((state) =>
    `<td>${snapshot ? snapshot.instances.filter((i) => i.state === state).length : "?"}</td>`
  ).join("");
  const instanceRows = (snapshot?.instances ?? []).map((i) =>
    `<tr><td>${escapeHtml(i.name)}</td><td><code>${escapeHtml(i.id)}</code></td>` +
    `<td class="${escapeHtml(i.state)}">${escapeHtml(i.state)}</td></tr>`
  ).join("");
  const queueRows = (snapshot?.queues ?? []).map((q) =>
    `<tr><td>${escapeHtml(q.queue)}</td><td>${q.counts.visible}</td>` +
    `<td>${q.counts.inFlight}</td><td>${q.counts.delayed}</td></tr>`
  ).join("");
  const statusRows = Object.entries(view.statusCounts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `<tr><td>${escapeHtml(status)}</td><td>${count}</td></tr>`)
    .join("");
  const error = view.stateError
    ? `<p class="error">Fleet/queue state unavailable: ${escapeHtml(view.stateError)}</p>`
    : "";
  const issues = (view.issues ?? []).map((issue) =>
    `<p class="error" data-issue="${escapeHtml(issue.code)}"><b>Degraded</b> ` +
    `(${escapeHtml(issue.source)}: ${escapeHtml(issue.code)}): ${escapeHtml(issue.message)}</p>`
  ).join("\n");
  return `<p>As of ${escapeHtml(new Date(view.nowMs).toISOString())}.
Response consumer ${router.running ? "running" : "<b class=error>stopped</b>"}${
    router.lastError ? `; last queue error: ${escapeHtml(router.lastError)}` : ""
  }.</p>
<div id="issues">${issues || `<p class="ok" data-issue="none">No degraded state.</p>`}</div>
${error}
${dashboard ? renderCharts(dashboard) : ""}
${dashboard ? renderAbout(dashboard) : ""}
<div class="cols"><section><h2>Instances</h2>
<table><tr>${INSTANCE_STATES.map((s) => `<th>${s}</th>`).join("")}</tr><tr>${byState}</tr></table>
<table><tr><th>name</th><th>id</th><th>state</th></tr>${instanceRows}</table></section>
<section><h2>Queues</h2>
<table><tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th></tr>${queueRows}</table>
<h2>Requests</h2>
<table><tr><th>waiting (HTTP)</th><th>pending</th><th>answers kept</th><th>matched</th>
<th>unmatched</th><th>malformed</th></tr><tr><td>${router.waiting}</td><td>${router.pending}</td>
<td>${router.results}</td><td>${router.matched}</td><td>${router.unmatched}</td>
<td>${router.malformed}</td></tr></table>
<table><tr><th>status</th><th>answered</th></tr>${statusRows}</table></section></div>
${dashboard ? renderLists(dashboard) : ""}`;
}

/** One line of a chart: its name, colour class and value at each point (null: a gap). */
interface ChartSeries {
  readonly name: string;
  readonly cls: string;
  readonly value: (point: DashboardPoint) => number | null;
}

const CHART_WIDTH = 480;
const CHART_HEIGHT = 120;
/** The narrowest time span a chart shows (a young history is not squeezed into one edge). */
const CHART_SPAN_MS_MIN = 60_000;

function renderCharts(d: DashboardData): string {
  const minutes = Math.round(d.windowMs / 60_000 * 10) / 10;
  const instance = (state: keyof NonNullable<DashboardPoint["instances"]>) => (p: DashboardPoint) =>
    p.instances ? p.instances[state] : null;
  const charts = [
    chart("instances", "Instances by state", d, [
      { name: "running", cls: "s1", value: instance("running") },
      { name: "pending", cls: "s2", value: instance("pending") },
      { name: "stopping", cls: "s3", value: instance("stopping") },
      { name: "stopped", cls: "s4", value: instance("stopped") },
    ], ""),
    chart("queue", "Request queue", d, [
      { name: "visible", cls: "s2", value: (p) => p.queue?.visible ?? null },
      { name: "in flight", cls: "s1", value: (p) => p.queue?.inFlight ?? null },
      { name: "dead-lettered", cls: "s5", value: (p) => p.queue?.deadLettered ?? null },
    ], ""),
    chart("throughput", "Answers per second (POST /)", d, [
      { name: "answered", cls: "s1", value: (p) => p.requestsPerS },
      { name: "5xx", cls: "s5", value: (p) => p.errorsPerS },
    ], "/s"),
    chart("latency", "Latency (POST /)", d, [
      { name: "p50", cls: "s1", value: (p) => p.latencyP50Ms },
      { name: "p95", cls: "s2", value: (p) => p.latencyP95Ms },
    ], " ms"),
  ];
  return `<h2>The last ${minutes} minutes</h2><div class="charts">${charts.join("")}</div>`;
}

function chart(
  id: string,
  title: string,
  d: DashboardData,
  series: readonly ChartSeries[],
  unit: string,
): string {
  // The x axis spans the history there is (at least a minute), up to the whole window.
  const spanMs = d.points.length === 0
    ? d.windowMs
    : Math.min(d.windowMs, Math.max(CHART_SPAN_MS_MIN, d.nowMs - d.points[0].atMs));
  const startMs = d.nowMs - spanMs;
  const values = d.points.flatMap((p) => series.map((s) => s.value(p) ?? 0));
  const top = niceCeiling(Math.max(1, ...values));
  const x = (atMs: number) => ((atMs - startMs) / spanMs * CHART_WIDTH).toFixed(1);
  const y = (v: number) => (CHART_HEIGHT - v / top * CHART_HEIGHT).toFixed(1);
  const lines = series.map((s) => {
    // A null value (state unreadable, no answers) breaks the line into segments.
    const segments: string[][] = [[]];
    for (const p of d.points) {
      const v = s.value(p);
      if (v === null) segments.push([]);
      else segments[segments.length - 1].push(`${x(p.atMs)},${y(v)}`);
    }
    return segments.filter((pts) => pts.length > 0).map((pts) =>
      pts.length === 1
        ? `<circle class="${s.cls}" cx="${pts[0].split(",")[0]}" cy="${
          pts[0].split(",")[1]
        }" r="2"/>`
        : `<polyline class="${s.cls}" points="${pts.join(" ")}"/>`
    ).join("");
  }).join("");
  const last = d.points.at(-1);
  const legend = series.map((s) => {
    const v = last ? s.value(last) : null;
    return `<span class="key ${s.cls}" data-series="${escapeHtml(s.name)}">${escapeHtml(s.name)} ` +
      `<b>${v === null ? "–" : `${formatValue(v)}${unit}`}</b></span>`;
  }).join(" ");
  return `<figure class="chart" id="chart-${id}" data-points="${d.points.length}">` +
    `<figcaption>${escapeHtml(title)} ${legend}</figcaption>` +
    `<svg viewBox="-34 -6 ${CHART_WIDTH + 40} ${CHART_HEIGHT + 20}" role="img" ` +
    `aria-label="${escapeHtml(title)}">` +
    `<line class="axis" x1="0" y1="${CHART_HEIGHT}" x2="${CHART_WIDTH}" y2="${CHART_HEIGHT}"/>` +
    `<line class="grid" x1="0" y1="0" x2="${CHART_WIDTH}" y2="0"/>` +
    `<text class="tick" x="-4" y="4" text-anchor="end">${formatTick(top)}</text>` +
    `<text class="tick" x="-4" y="${CHART_HEIGHT}" text-anchor="end">0</text>` +
    `<text class="tick" x="0" y="${CHART_HEIGHT + 13}">−${formatSpan(spanMs)}</text>` +
    `<text class="tick" x="${CHART_WIDTH}" y="${CHART_HEIGHT + 13}" text-anchor="end">now</text>` +
    `${lines}</svg></figure>`;
}

/** The smallest of 1, 2, 5 × 10^k at or above `value`. */
function niceCeiling(value: number): number {
  const scale = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * scale).find((v) => v >= value) ?? 10 * scale;
}

/** An axis label: `10k` for 10000. */
function formatTick(value: number): string {
  return value >= 1_000 ? `${value / 1_000}k` : formatValue(value);
}

function formatSpan(spanMs: number): string {
  return spanMs < 120_000
    ? `${Math.round(spanMs / 1_000)} s`
    : `${Math.round(spanMs / 60_000)} min`;
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 0);
}

function renderAbout(d: DashboardData): string {
  const a = d.about;
  if (!a) return `<section id="about"><h2>In use</h2><p class="muted">Unknown.</p></section>`;
  const gallery = a.gallery
    ? `${escapeHtml(a.gallery.file)}: <b>${a.gallery.people}</b> people, ` +
      `<b>${a.gallery.embeddings}</b> embeddings (model ${escapeHtml(a.gallery.modelId)})`
    : `<span class="error">none: every face is labelled Unknown${
      a.galleryError ? ` (${escapeHtml(a.galleryError)})` : ""
    }</span>`;
  return `<section id="about"><h2>In use</h2><dl>` +
    `<dt>models built</dt><dd>${a.models.map(escapeHtml).join(", ") || "–"}</dd>` +
    `<dt>detector</dt><dd>${escapeHtml(a.detector)}</dd>` +
    `<dt>match threshold</dt><dd>${escapeHtml(a.threshold)}</dd>` +
    `<dt>gallery</dt><dd id="about-gallery">${gallery}</dd>` +
    `<dt>backend</dt><dd>${escapeHtml(a.backend)}, at most ${a.instancesMax} instances</dd>` +
    `</dl></section>`;
}

function renderLists(d: DashboardData): string {
  const time = (ms: number) => escapeHtml(new Date(ms).toISOString().slice(11, 23));
  const requests = d.requests.map((r) =>
    `<tr class="${r.status >= 400 ? "error" : ""}"><td>${time(r.atMs)}</td>` +
    `<td>${escapeHtml(r.file ?? "–")}</td><td>${r.status}</td><td>${escapeHtml(r.label)}</td>` +
    `<td>${r.faces ?? "–"}</td><td>${Math.round(r.latencyMs)}</td>` +
    `<td>${escapeHtml(r.worker ?? "–")}</td></tr>`
  ).join("");
  const decisions = d.decisions.map((x) =>
    `<li><span class="t">${time(x.atMs)}</span> <b>${escapeHtml(x.summary)}</b>` +
    (x.reasons.length
      ? ` <span class="reasons">${x.reasons.map(escapeHtml).join("; ")}</span>`
      : "") +
    (x.inputs ? `<br><small class="muted">${escapeHtml(x.inputs)}</small>` : "") + `</li>`
  ).join("");
  const workers = d.workerEvents.map((w) =>
    `<li class="${w.error ? "error" : ""}"><span class="t">${time(w.atMs)}</span> ` +
    `${escapeHtml(w.instance)} <b>${escapeHtml(w.kind)}</b>` +
    `${w.detail ? `: ${escapeHtml(w.detail)}` : ""}</li>`
  ).join("");
  return `<section id="recent"><h2>Recent requests</h2>` +
    `<div class="scroll"><table><thead><tr><th>time (UTC)</th><th>file</th><th>status</th><th>label</th>` +
    `<th>faces</th><th>latency (ms)</th><th>worker</th></tr></thead><tbody>${requests}</tbody>` +
    `</table></div>${d.requests.length ? "" : `<p class="muted">None yet.</p>`}</section>` +
    `<div class="cols"><section id="decisions"><h2>Controller decisions</h2>` +
    `${decisions ? `<ul>${decisions}</ul>` : `<p class="muted">None yet.</p>`}</section>` +
    `<section id="workers"><h2>Workers: start-ups and errors</h2>` +
    `${workers ? `<ul>${workers}</ul>` : `<p class="muted">None yet.</p>`}</section></div>`;
}

const STYLE = `
body{font:14px system-ui,sans-serif;margin:1em 2em;max-width:72em}
h1{margin:.2em 0}h2{font-size:1.1em;margin:1em 0 .4em}
table{border-collapse:collapse;margin:0 0 1em}td,th{border:1px solid #ccc;padding:.2em .6em}
.running{color:#070}.pending{color:#a60}.stopping{color:#a60}.stopped{color:#666}
.error{color:#b00}.ok{color:#070}.muted{color:#666}
.cols{display:flex;flex-wrap:wrap;gap:0 2em}.cols>section{flex:1 1 28em}
.charts{display:flex;flex-wrap:wrap;gap:.5em 1.5em}
.chart{margin:0;flex:0 1 31em}.chart svg{width:100%;height:auto;background:#fafafa}
.chart polyline{fill:none;stroke-width:1.6}.chart .axis,.chart .grid{stroke:#bbb}
.chart .grid{stroke-dasharray:3 3}.tick{font-size:10px;fill:#666}
.s1{stroke:#1a7f37;color:#1a7f37;fill:#1a7f37}.s2{stroke:#c26a00;color:#c26a00;fill:#c26a00}
.s3{stroke:#7a4dc2;color:#7a4dc2;fill:#7a4dc2}.s4{stroke:#888;color:#777;fill:#888}
.s5{stroke:#c0212f;color:#c0212f;fill:#c0212f}
polyline.s1,polyline.s2,polyline.s3,polyline.s4,polyline.s5{fill:none}
.scroll{max-height:24em;overflow-y:auto;display:inline-block}.scroll table{margin:0}
#decisions ul,#workers ul{max-height:24em;overflow-y:auto}
.key{margin-left:.6em;font-size:.9em}.t{font-family:monospace;color:#555}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em}dd{margin:0}
ul{padding-left:1.2em;margin:.2em 0}li{margin:.15em 0}
.photo{position:relative;display:inline-block;max-width:100%}
.photo img{display:block;max-width:100%;min-width:16em;height:auto}
.photo svg{position:absolute;inset:0;width:100%;height:100%}
.photo rect{fill:none;stroke:#ffd400;stroke-width:3;vector-effect:non-scaling-stroke}
.photo text{fill:#ffd400;stroke:#000;stroke-width:.6;paint-order:stroke;font-weight:bold}
`;

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
