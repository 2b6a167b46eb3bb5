import assert from "node:assert/strict";
import { renderStatusPage } from "./status_page.ts";

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
