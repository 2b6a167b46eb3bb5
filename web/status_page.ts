/**
 * The status page: one small HTML page (no scripts) showing the fleet, the queues and the web
 * tier's counters, refreshed by the browser every few seconds, with an upload form.
 * @module
 */
import { INSTANCE_STATES } from "../cloud/fleet.ts";
import type { StackSnapshot } from "./metrics.ts";
import type { HealthIssue } from "./health.ts";
import type { RouterStats } from "./response_router.ts";

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
  /** Seconds between browser refreshes. @default {2} */
  readonly refreshS?: number;
}

/**
 * Renders the status page. Every dynamic value is escaped: instance names and error messages
 * come from outside this process.
 *
 * @param view what to show
 * @returns a complete HTML document
 * @example
 * ```ts
 * const html = renderStatusPage({ snapshot, router: router.stats(), statusCounts: {}, nowMs });
 * ```
 */
export function renderStatusPage(view: StatusView): string {
  const { snapshot, router } = view;
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
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${view.refreshS ?? 2}">
<title>Face recognition: status</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}
table{border-collapse:collapse;margin:0 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em}
.running{color:#070}.pending{color:#a60}.stopping{color:#a60}.stopped{color:#666}.error{color:#b00}
</style></head><body>
<h1>Face recognition service</h1>
<p>As of ${escapeHtml(new Date(view.nowMs).toISOString())}.
Response consumer ${router.running ? "running" : "<b class=error>stopped</b>"}${
    router.lastError ? `; last queue error: ${escapeHtml(router.lastError)}` : ""
  }.</p>
${issues}
${error}
<h2>Instances</h2>
<table><tr>${INSTANCE_STATES.map((s) => `<th>${s}</th>`).join("")}</tr><tr>${byState}</tr></table>
<table><tr><th>name</th><th>id</th><th>state</th></tr>${instanceRows}</table>
<h2>Queues</h2>
<table><tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th></tr>${queueRows}</table>
<h2>Requests</h2>
<table><tr><th>waiting (HTTP)</th><th>pending</th><th>answers kept</th><th>matched</th>
<th>unmatched</th><th>malformed</th></tr><tr><td>${router.waiting}</td><td>${router.pending}</td>
<td>${router.results}</td><td>${router.matched}</td><td>${router.unmatched}</td>
<td>${router.malformed}</td></tr></table>
<table><tr><th>status</th><th>answered</th></tr>${statusRows}</table>
<h2>Try it</h2>
<form method="post" action="/" enctype="multipart/form-data">
<input type="file" name="inputFile" accept="image/jpeg,image/png"> <button>Recognise</button>
</form>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
</body></html>
`;
}

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
