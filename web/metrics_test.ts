import assert from "node:assert/strict";
import {
  Counter,
  Histogram,
  MetricsRegistry,
  SERIES_PER_METRIC_MAX,
  WebMetrics,
} from "./metrics.ts";

Deno.test("WebMetrics renders one fr_instances series per fleet state, zeros included", () => {
  const metrics = new WebMetrics();
  metrics.setSnapshot({
    instances: [
      { id: "i-00000001", name: "app-tier-instance-1", state: "running" },
      { id: "i-00000002", name: "app-tier-instance-2", state: "running" },
      { id: "i-00000003", name: "app-tier-instance-3", state: "stopped" },
    ],
    queues: [{ queue: "demo-req-queue", counts: { visible: 4, inFlight: 2, delayed: 0 } }],
  });
  const text = metrics.registry.render();
  for (
    const line of [
      "# TYPE fr_instances gauge",
      'fr_instances{state="pending"} 0',
      'fr_instances{state="running"} 2',
      'fr_instances{state="stopping"} 0',
      'fr_instances{state="stopped"} 1',
      'fr_instances{state="terminated"} 0',
      'fr_queue_messages{queue="demo-req-queue",kind="visible"} 4',
      'fr_queue_messages{queue="demo-req-queue",kind="in_flight"} 2',
      'fr_queue_messages{queue="demo-req-queue",kind="delayed"} 0',
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing ${line} in\n${text}`);
  }
  // A later snapshot replaces the earlier one rather than adding to it.
  metrics.setSnapshot({ instances: [], queues: [] });
  const after = metrics.registry.render();
  assert.ok(after.includes('fr_instances{state="running"} 0'));
  assert.ok(!after.includes("demo-req-queue"));
});

Deno.test("WebMetrics counts requests by route and status and fills a cumulative latency histogram", () => {
  const metrics = new WebMetrics();
  metrics.observeRequest("POST /", 200, 3);
  metrics.observeRequest("POST /", 200, 700);
  metrics.observeRequest("POST /", 504, 61_000);
  const text = metrics.registry.render();
  assert.match(text, /^fr_http_requests_total\{route="POST \/",status="200"\} 2$/m);
  assert.match(text, /^fr_http_requests_total\{route="POST \/",status="504"\} 1$/m);
  assert.match(text, /^fr_request_duration_seconds_bucket\{route="POST \/",le="0.005"\} 1$/m);
  assert.match(text, /^fr_request_duration_seconds_bucket\{route="POST \/",le="1"\} 2$/m);
  assert.match(text, /^fr_request_duration_seconds_bucket\{route="POST \/",le="60"\} 2$/m);
  assert.match(text, /^fr_request_duration_seconds_bucket\{route="POST \/",le="\+Inf"\} 3$/m);
  assert.match(text, /^fr_request_duration_seconds_sum\{route="POST \/"\} 61.703$/m);
  assert.match(text, /^fr_request_duration_seconds_count\{route="POST \/"\} 3$/m);
  assert.match(text, /^# TYPE fr_request_duration_seconds histogram$/m);
});

Deno.test("Counter escapes label values and refuses going down; a metric holds at most SERIES_PER_METRIC_MAX series", () => {
  const registry = new MetricsRegistry();
  const counter = registry.register(new Counter("t_total", "help\nline", ["k"]));
  counter.inc({ k: 'a"b\\c\nd' });
  assert.ok(registry.render().includes('t_total{k="a\\"b\\\\c\\nd"} 1'));
  assert.ok(registry.render().includes("# HELP t_total help\\nline"));
  assert.throws(() => counter.inc({ k: "x" }, -1), RangeError);
  counter.setTotal({ k: "y" }, 5);
  assert.throws(() => counter.setTotal({ k: "y" }, 4), /only go up/);
  assert.throws(() => counter.inc({ wrong: "x" }), /takes labels k/);
  for (let i = 0; i < SERIES_PER_METRIC_MAX + 10; i++) counter.inc({ k: `v${i}` });
  assert.equal(counter.dropped, 12);
  assert.throws(() => registry.register(new Counter("t_total", "again")), /twice/);
  assert.throws(() => new Histogram("h", "h", [], [1, 1]), /increasing/);
});
