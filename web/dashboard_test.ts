import assert from "node:assert/strict";
import type { InstanceState } from "../cloud/fleet.ts";
import {
  labelFromImage,
  NAMES,
  openTestStack,
  runTestWorker,
  uploadRequest,
} from "../testing/web_stack.ts";
import { ManualClock } from "../cloud/clock.ts";
import {
  Dashboard,
  DASHBOARD_VIEWED_MS,
  type DashboardData,
  htmlSafeJson,
  RECENT_REQUESTS_MAX,
  type RecentRequest,
} from "./dashboard.ts";
import type { StackSnapshot } from "./metrics.ts";
import { DASHBOARD_STATE_REUSE_MS } from "./app.ts";
import { renderStatusPanels } from "./status_page.ts";

const request = (atMs: number, latencyMs: number, status = 200): RecentRequest => ({
  atMs,
  requestId: `r-${atMs}`,
  file: `f${atMs}.jpg`,
  status,
  label: "Paul",
  faces: 1,
  latencyMs,
  worker: "app-tier-instance-1",
});

const snapshot = (
  states: InstanceState[],
  counts = { visible: 0, inFlight: 0, delayed: 0 },
  extra: Partial<StackSnapshot["instances"][number]>[] = [],
): StackSnapshot => ({
  instances: states.map((state, i) => ({
    id: `i-${i}`,
    name: `app-tier-instance-${i + 1}`,
    state,
    ...extra[i],
  })),
  queues: [
    { queue: "q-req", counts },
    { queue: "q-dlq", counts: { visible: 2, inFlight: 0, delayed: 0 } },
  ],
});

Deno.test("Dashboard keeps only the window's points, at most pointsMax, and bounded lists", () => {
  const dashboard = new Dashboard({
    requestQueue: "q-req",
    deadLetterQueue: "q-dlq",
    windowMs: 10_000,
    sampleMs: 1_000,
  });
  assert.equal(dashboard.pointsMax, 11);
  for (let t = 0; t < 100; t++) {
    dashboard.recordRequest(request(t * 1_000, 10));
    dashboard.observe(snapshot(["running"]), t * 1_000);
  }
  dashboard.recordDecision({ atMs: 0, kind: "decision", summary: "x", reasons: [], inputs: "" });
  const data = dashboard.data(99_000);
  assert.equal(data.points.length, 11);
  assert.equal(data.points[0].atMs, 89_000, "nothing older than the window");
  assert.equal(data.requests.length, RECENT_REQUESTS_MAX);
  assert.equal(data.requests[0].atMs, 99_000, "newest first");
  // An hour later with no samples: the old points are outside the window.
  assert.equal(dashboard.data(99_000 + 3_600_000).points.length, 0);
  assert.throws(() => new Dashboard({ requestQueue: "q", sampleMs: 5 }), /sampleMs/);
});

Deno.test("Dashboard points: instances by state, queue depths, answers per second, p50/p95", () => {
  const dashboard = new Dashboard({ requestQueue: "q-req", deadLetterQueue: "q-dlq" });
  dashboard.observe(snapshot(["stopped", "stopped"]), 0);
  // 100 answers in 2 s, latencies 1..100 ms, 5 of them 503.
  for (let i = 1; i <= 100; i++) dashboard.recordRequest(request(i, i, i <= 5 ? 503 : 200));
  // 3 dead letters answered by the sweep in the period, 2 still in the dead-letter queue.
  for (let i = 0; i < 3; i++) dashboard.recordDeadLetter();
  dashboard.observe(
    snapshot(["running", "pending", "stopped"], { visible: 7, inFlight: 3, delayed: 1 }),
    2_000,
  );
  const [first, second] = dashboard.data(2_000).points;
  assert.equal(first.requestsPerS, 0);
  assert.equal(first.latencyP50Ms, null);
  assert.deepEqual(second.instances, {
    pending: 1,
    running: 1,
    stopping: 0,
    stopped: 1,
    terminated: 0,
  });
  assert.deepEqual(second.queue, { visible: 8, inFlight: 3, deadLettered: 5 });
  assert.equal(second.requestsPerS, 50);
  assert.equal(second.errorsPerS, 2.5);
  assert.equal(second.latencyP50Ms, 50);
  assert.equal(second.latencyP95Ms, 95);
  dashboard.observe(undefined, 4_000);
  const third = dashboard.data(4_000).points[2];
  assert.equal(third.instances, null, "an unreadable state is a gap, not zeros");
  assert.equal(third.queue, null);
  dashboard.observe(snapshot([]), 6_000);
  assert.equal(dashboard.data(6_000).points[3].queue?.deadLettered, 2, "a new period starts at 0");
});

Deno.test("Dashboard keeps a fair latency sample past LATENCIES_PER_POINT_MAX", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const dashboard = new Dashboard({ requestQueue: "q", random });
  dashboard.observe(undefined, 0);
  // 50,000 answers, latencies 1..50,000 ms in order: a sample of only the first 10,000 would
  // give a p95 under 10,000.
  for (let i = 1; i <= 50_000; i++) dashboard.recordRequest(request(i, i));
  dashboard.observe(undefined, 2_000);
  const point = dashboard.data(2_000).points[1];
  assert.equal(point.requestsPerS, 25_000);
  assert.ok(Math.abs(point.latencyP95Ms! - 47_500) < 1_500, `p95 ${point.latencyP95Ms}`);
  assert.ok(Math.abs(point.latencyP50Ms! - 25_000) < 1_500, `p50 ${point.latencyP50Ms}`);
});

Deno.test("Dashboard lists worker start-ups, readiness with start-up time, and failed exits", () => {
  const dashboard = new Dashboard({ requestQueue: "q-req" });
  dashboard.observe(snapshot(["stopped"]), 0);
  dashboard.observe(snapshot(["pending"], undefined, [{ lastStartedAtMs: 1_000 }]), 2_000);
  dashboard.observe(
    snapshot(["running"], undefined, [{ lastStartedAtMs: 1_000, readyAtMs: 3_400 }]),
    4_000,
  );
  dashboard.observe(
    snapshot(["running"], undefined, [{ lastStartedAtMs: 1_000, readyAtMs: 3_400 }]),
    6_000,
  );
  dashboard.observe(
    snapshot(["stopped"], undefined, [{
      lastStartedAtMs: 1_000,
      readyAtMs: 3_400,
      lastExit: { atMs: 7_000, kind: "crashed", reason: "exit code 1: model missing" },
    }]),
    8_000,
  );
  const events = dashboard.data(8_000).workerEvents;
  assert.deepEqual(
    events.map((e) => [e.atMs, e.instance, e.kind, e.detail, e.error]),
    [
      [7_000, "app-tier-instance-1", "crashed", "exit code 1: model missing", true],
      [3_400, "app-tier-instance-1", "ready", "start-up 2400 ms", false],
      [1_000, "app-tier-instance-1", "started", "", false],
    ],
  );
});

Deno.test("htmlSafeJson writes no markup characters and parses back to the same value", () => {
  const value = { name: "</script><img src=x onerror=alert(1)>&\u2028" };
  const text = htmlSafeJson(value);
  assert.doesNotMatch(text, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(text), value);
});

/** Every `<tag` in the rendered panels: only the renderer's own elements may appear. */
function tags(html: string): Set<string> {
  return new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1].toLowerCase()));
}

const HOSTILE = `<img src=x onerror=alert(1)>"'&`;

Deno.test("renderStatusPanels escapes hostile labels, file names, reasons and the gallery file", () => {
  const dashboard = new Dashboard({
    requestQueue: "q-req",
    about: {
      models: ["ssd_mobilenetv1"],
      detector: "auto",
      threshold: "0.6",
      gallery: { file: HOSTILE, people: 3, embeddings: 7, modelId: HOSTILE },
      backend: "local",
      instancesMax: 2,
    },
  });
  dashboard.recordRequest({ ...request(1, 10), file: HOSTILE, label: HOSTILE, worker: HOSTILE });
  dashboard.recordDecision({
    atMs: 1,
    kind: "decision",
    summary: HOSTILE,
    reasons: [HOSTILE],
    inputs: HOSTILE,
  });
  dashboard.observe(
    snapshot(["stopped"], undefined, [{
      name: HOSTILE,
      lastExit: { atMs: 1, kind: "not_ready", reason: HOSTILE },
    }]),
    2_000,
  );
  const data: DashboardData = dashboard.data(2_000);
  const html = renderStatusPanels({
    snapshot: snapshot(["stopped"], undefined, [{ name: HOSTILE }]),
    router: {
      running: true,
      pending: 0,
      waiting: 0,
      results: 0,
      matched: 0,
      unmatched: 0,
      malformed: 0,
      queueErrors: 0,
      lastError: HOSTILE,
    },
    issues: [{ source: "gallery", code: HOSTILE, message: HOSTILE, sinceMs: 0 }],
    statusCounts: {},
    nowMs: 2_000,
    dashboard: data,
  });
  assert.ok(!tags(html).has("img"), "a hostile string became an element");
  assert.ok(!html.includes(`"'&`), "quotes and ampersands are escaped");
  const shown = html.split("&#60;img src=x onerror=alert(1)&#62;&#34;&#39;&#38;").length - 1;
  // request file, label, worker; decision summary, reason, inputs; worker event instance,
  // detail; instance name; issue code (twice: attribute and text) and message; gallery file and
  // model; the queue error.
  assert.ok(shown >= 14, `the hostile text is shown escaped ${shown} times`);
});

Deno.test("GET /dashboard.json: the history, the rendered panels, escaped, and no raw markup", async () => {
  const dashboard = new Dashboard({ requestQueue: NAMES.requestQueue, sampleMs: 10 });
  const stack = await openTestStack({ dashboard });
  const stop = new AbortController();
  // A worker whose label is hostile markup (labels come from a gallery someone else wrote).
  const worker = runTestWorker(stack, (req, image) => {
    const answer = labelFromImage(req, image);
    return answer.ok
      ? { ...answer, label: HOSTILE, faces: [{ ...answer.faces[0], label: HOSTILE }] }
      : answer;
  }, stop.signal);
  try {
    const before = await (await stack.app.request("/dashboard.json")).json();
    // A file name with every character the service accepts that means something in HTML or JS.
    const res = await stack.app.request(uploadRequest("x'(y)'!.jpg", "Paul"));
    assert.equal(res.status, 200);
    await res.text();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const data = await stack.app.request("/dashboard.json");
    assert.equal(data.status, 200);
    assert.equal(data.headers.get("content-type"), "application/json");
    assert.match(data.headers.get("content-security-policy")!, /script-src 'self'/);
    const text = await data.text();
    assert.doesNotMatch(text, /[<>]/, "no raw markup in the JSON");
    const body = JSON.parse(text);
    assert.equal(body.requests.length, 1);
    assert.equal(body.requests[0].file, "x'(y)'!.jpg");
    assert.equal(body.requests[0].label, HOSTILE);
    assert.equal(body.requests[0].worker, "test-worker");
    assert.ok(body.points.length > before.points.length, "a new point was taken");
    assert.ok(!tags(body.html).has("img"));
    assert.match(body.html, /x&#39;\(y\)&#39;!\.jpg/);
    assert.match(body.html, /&#60;img src=x onerror=alert\(1\)&#62;/);
    const page = await stack.app.request("/");
    assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
    const html = await page.text();
    assert.ok(!html.includes("<img src=x"), "hostile markup on the page");
    assert.match(html, /<script src="\/dashboard.js" defer><\/script>/);
    assert.doesNotMatch(html, /http-equiv="refresh"/, "the page no longer reloads itself");
    const script = await stack.app.request("/dashboard.js");
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type")!, /^text\/javascript/);
    assert.match(await script.text(), /dashboard\.json|data-data-path/);
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});

Deno.test("with an API token, the page, its data and its script need it", async () => {
  const token = "t".repeat(32);
  const stack = await openTestStack({ web: { apiToken: token } });
  try {
    for (const path of ["/", "/dashboard.json", "/dashboard.js"]) {
      const open = await stack.app.request(path);
      assert.equal(open.status, 401, path);
      await open.body?.cancel();
      const authorized = await stack.app.request(path, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(authorized.status, 200, path);
      await authorized.body?.cancel();
    }
  } finally {
    await stack.close();
  }
});

Deno.test("the dashboard's viewers share one fleet and queue read per DASHBOARD_STATE_REUSE_MS", async () => {
  let reads = 0;
  const readState = () => {
    reads++;
    return Promise.resolve(snapshot(["running"]));
  };
  const stack = await openTestStack({ readState });
  try {
    const pages = await Promise.all(
      ["/", "/dashboard.json", "/dashboard.json", "/dashboard.json"].map(async (path) => {
        const res = await stack.app.request(path);
        await res.body?.cancel();
        return res.status;
      }),
    );
    assert.deepEqual(pages, [200, 200, 200, 200]);
    assert.equal(reads, 1);
    await new Promise((resolve) => setTimeout(resolve, DASHBOARD_STATE_REUSE_MS + 10));
    await (await stack.app.request("/dashboard.json")).body?.cancel();
    assert.equal(reads, 2, "a read older than DASHBOARD_STATE_REUSE_MS is not reused");
    // /metrics reads afresh: a scrape wants the state now.
    await (await stack.app.request("/metrics")).body?.cancel();
    assert.equal(reads, 3);
  } finally {
    await stack.close();
  }
});

Deno.test("Dashboard.run reads the state only while a page has polled within DASHBOARD_VIEWED_MS", async () => {
  const clock = new ManualClock(1_000_000);
  const dashboard = new Dashboard({ requestQueue: "q-req", sampleMs: 2_000 });
  let reads = 0;
  const readState = () => {
    reads++;
    return Promise.resolve(snapshot(["running"]));
  };
  const abort = new AbortController();
  const running = dashboard.run(readState, clock, abort.signal);
  const pass = async (ms: number) => {
    for (let t = 0; t < ms; t += 1_000) {
      clock.advanceMs(1_000);
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
  };
  await pass(10 * 60_000);
  assert.equal(reads, 0, "ten minutes with nobody looking: no reads");
  assert.equal(dashboard.data(clock.nowMs()).points.length, 0);
  dashboard.noteViewed(clock.nowMs());
  await pass(DASHBOARD_VIEWED_MS);
  const whileViewed = reads;
  // One point per sampleMs for the minute after the poll, then nothing.
  assert.ok(whileViewed >= 29 && whileViewed <= 31, `${whileViewed} reads in the viewed minute`);
  await pass(5 * 60_000);
  assert.equal(reads, whileViewed, "no reads once nobody has polled for a minute");
  abort.abort();
  await running;
});
