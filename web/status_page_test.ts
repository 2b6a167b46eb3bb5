import assert from "node:assert/strict";
import { renderStatusPage, renderStatusPanels } from "./status_page.ts";

const router = {
  running: true,
  pending: 3,
  waiting: 2,
  results: 7,
  matched: 7,
  unmatched: 0,
  malformed: 0,
  queueErrors: 0,
  lastError: undefined,
};

Deno.test("renderStatusPage shows instance counts per state, queues and request counters", () => {
  const html = renderStatusPage({
    snapshot: {
      instances: [
        { id: "i-00000001", name: "app-tier-instance-1", state: "running" },
        { id: "i-00000002", name: "app-tier-instance-2", state: "stopped" },
      ],
      queues: [{ queue: "demo-req-queue", counts: { visible: 5, inFlight: 1, delayed: 0 } }],
    },
    router,
    statusCounts: { "200": 10, "504": 1 },
    nowMs: 0,
  });
  assert.match(html, /^<!doctype html>/);
  assert.match(
    html,
    /<td>app-tier-instance-1<\/td><td><code>i-00000001<\/code><\/td><td class="running">running/,
  );
  assert.match(html, /<tr><td>demo-req-queue<\/td><td>5<\/td><td>1<\/td><td>0<\/td><\/tr>/);
  assert.match(html, /<tr><td>504<\/td><td>1<\/td><\/tr>/);
  assert.match(html, /1970-01-01T00:00:00.000Z/);
  assert.match(html, /name="inputFile"/);
});

Deno.test("renderStatusPage escapes names and errors that come from outside the process", () => {
  const html = renderStatusPage({
    snapshot: undefined,
    stateError: "<script>alert(1)</script>",
    router: { ...router, running: false, lastError: 'queue "x" & <y>' },
    statusCounts: {},
    nowMs: 0,
  });
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("&#60;script&#62;alert(1)&#60;/script&#62;"));
  assert.ok(html.includes("queue &#34;x&#34; &#38; &#60;y&#62;"));
  assert.match(html, /Response consumer <b class=error>stopped<\/b>/);
});

Deno.test("the dashboard's charts: each value at its height, a gap where the state was unreadable", () => {
  const point = (atMs: number, running: number | null) => ({
    atMs,
    instances: running === null
      ? null
      : { pending: 0, running, stopping: 0, stopped: 2 - running, terminated: 0 },
    queue: null,
    requestsPerS: 0,
    errorsPerS: 0,
    latencyP50Ms: null,
    latencyP95Ms: null,
  });
  const html = renderStatusPanels({
    snapshot: undefined,
    router,
    statusCounts: {},
    nowMs: 120_000,
    dashboard: {
      nowMs: 120_000,
      windowMs: 600_000,
      sampleMs: 2_000,
      // Two minutes of history: the x axis spans them, not the whole 10-minute window.
      points: [point(0, 0), point(60_000, 2), point(90_000, null), point(120_000, 1)],
      requests: [],
      decisions: [],
      workerEvents: [],
      about: null,
    },
  });
  const chart = html.match(/<figure class="chart" id="chart-instances"[^]*?<\/figure>/)![0];
  assert.match(chart, /data-points="4"/);
  assert.match(chart, /running <b>1<\/b>/, "the legend shows the latest value");
  assert.match(chart, />−2 min</);
  // The top of the y axis is 2 (y = 0), zero is y = 120; x runs 0..480 over the two minutes.
  assert.match(chart, /<polyline class="s1" points="0\.0,120\.0 240\.0,0\.0"\/>/);
  assert.match(chart, /<circle class="s1" cx="480\.0" cy="60\.0" r="2"\/>/, "after the gap");
  assert.match(html, /<h2>The last 10 minutes<\/h2>/);
});
