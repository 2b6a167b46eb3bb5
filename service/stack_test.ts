/**
 * What `startStack` binds and logs, and the API token over real HTTP. No model and no worker
 * process: nothing is posted, so nothing is started.
 */
import assert from "node:assert/strict";
import { diskSpace } from "../cloud/local/disk_space.ts";
import { DISK_FREE_BYTES_MIN_MAX, parseServiceConfig, type ServiceConfig } from "./config.ts";
import { type StackOptions, startStack } from "./stack.ts";

async function withStack(
  command: "start" | "serve",
  flags: string[],
  fn: (url: string, lines: Record<string, unknown>[], localUrl: string) => Promise<void>,
  options: Partial<StackOptions> = {},
) {
  const dataDir = await Deno.makeTempDir({ prefix: "fr-stack-test-" });
  const config = parseServiceConfig(command, [
    "--data",
    dataDir,
    "--port",
    "0",
    "--max",
    "1",
    "--drain-ms",
    "500",
    ...flags,
  ], { env: () => undefined }) as ServiceConfig;
  const lines: Record<string, unknown>[] = [];
  const stack = await startStack(config, {
    command,
    workerCommand: ["true"],
    log: (line) => lines.push({ ...line }),
    ...options,
  });
  try {
    await fn(stack.url, lines, stack.localUrl);
  } finally {
    await stack.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("start binds 127.0.0.1 and serve 0.0.0.0 by default, and the listening line says so", async () => {
  await withStack("start", [], async (url, lines) => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const listening = lines.find((l) => l.event === "listening")!;
    assert.equal(listening.url, url);
    assert.equal(listening.localUrl, undefined);
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
  await withStack("serve", [], async (url, lines, localUrl) => {
    assert.match(url, /^http:\/\/0\.0\.0\.0:\d+$/);
    const listening = lines.find((l) => l.event === "listening")!;
    assert.equal(listening.url, url, "the log shows the wildcard really bound");
    assert.equal(listening.localUrl, localUrl);
    assert.match(localUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${localUrl}/healthz`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

Deno.test("with --api-token, the stack answers 401 without it over HTTP, and /healthz stays open", async () => {
  const token = "stack-test-token-0123456789";
  await withStack(
    "serve",
    ["--hostname", "127.0.0.1", "--api-token", token],
    async (url, lines) => {
      assert.equal(lines.find((l) => l.event === "listening")!.apiToken, "required");
      assert.ok(!JSON.stringify(lines).includes(token), "the token is never logged");
      const closed = await fetch(`${url}/metrics`);
      assert.equal(closed.status, 401);
      assert.match(closed.headers.get("www-authenticate")!, /^Bearer /);
      await closed.body?.cancel();
      const open = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(open.status, 200);
      await open.body?.cancel();
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    },
  );
});

Deno.test("--disk-free-bytes-min above the free space makes /healthz report disk_full and uploads get 507", async () => {
  const probe = await Deno.makeTempDir({ prefix: "fr-stack-test-" });
  const { freeBytes } = diskSpace(probe);
  await Deno.remove(probe);
  const minBytes = freeBytes + 2 ** 30;
  assert.ok(minBytes <= DISK_FREE_BYTES_MIN_MAX, `${freeBytes} bytes free: too many for the test`);
  await withStack("start", ["--disk-free-bytes-min", String(minBytes)], async (url) => {
    let health: { issues?: { code?: string }[] } = {};
    for (let i = 0; i < 50 && !JSON.stringify(health).includes("disk_full"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      health = await (await fetch(`${url}/healthz`)).json();
    }
    assert.match(JSON.stringify(health), /disk_full/);
    const form = new FormData();
    form.append("inputFile", new File([new Uint8Array(10)], "a.jpg"));
    const upload = await fetch(url, { method: "POST", body: form });
    assert.equal(upload.status, 507);
    await upload.body?.cancel();
  });
});

/**
 * Counting fakes around the real embedded backend: on AWS, each `fleet.describe()` is a
 * DescribeInstances (a page of it) and each `queue.counts(q)` a GetQueueAttributes.
 */
function countingBackend() {
  const calls = { describe: 0, counts: [] as string[] };
  const wrapBackend: StackOptions["wrapBackend"] = (backend) => {
    const count = <T extends object>(target: T, name: string, record: (args: unknown[]) => void) =>
      new Proxy(target, {
        get(t, key) {
          const value = Reflect.get(t, key, t);
          if (typeof value !== "function") return value;
          return key === name
            ? (...args: unknown[]) => (record(args), value.apply(t, args))
            : value.bind(t);
        },
      });
    return {
      ...backend,
      fleet: count(backend.fleet, "describe", () => calls.describe++),
      queue: count(backend.queue, "counts", (args) => calls.counts.push(String(args[0]))),
    };
  };
  const reset = () => {
    calls.describe = 0;
    calls.counts = [];
  };
  return { calls, reset, wrapBackend };
}

const MEASURE_MS = 3_000;

Deno.test("the dashboard's charts cost no fleet or queue reads of their own where the controller runs: its ticks' reads feed them", async () => {
  const { calls, reset, wrapBackend } = countingBackend();
  await withStack("serve", ["--hostname", "127.0.0.1", "--tick-ms", "100"], async (url) => {
    reset();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const { describe, counts } = { ...calls, counts: [...calls.counts] };
    // Each controller tick reads the request queue and the fleet once; nothing else reads.
    assert.ok(describe >= MEASURE_MS / 100 / 3, `the controller ticked (${describe} describes)`);
    assert.equal(new Set(counts).size, 1, `one queue: ${[...new Set(counts)]}`);
    assert.match(counts[0], /-req-queue$/, "the request queue");
    assert.equal(describe, counts.length, "one describe per tick, as many as queue reads");
    // The charts have points all the same, with the fleet and the queue.
    const data = await (await fetch(`${url}/dashboard.json`)).json();
    const full = data.points.filter((p: { instances: unknown; queue: unknown }) =>
      p.instances !== null && p.queue !== null
    );
    assert.ok(full.length >= 2, `points from the controller's reads: ${data.points.length}`);
  }, { wrapBackend });
});

Deno.test("a web instance without the controller reads the fleet and queues for the dashboard only while a page has polled", async () => {
  const { calls, reset, wrapBackend } = countingBackend();
  await withStack("serve", ["--hostname", "127.0.0.1", "--web-instance", "2"], async (url) => {
    reset();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    assert.deepEqual(calls, { describe: 0, counts: [] }, "nobody looked: no reads");
    await (await fetch(`${url}/dashboard.json`)).body?.cancel();
    const polled = calls.describe;
    assert.equal(polled, 1, "the page's own read");
    // The page polled a moment ago: the sampler takes the next point itself (sampleMs = 2 s).
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(calls.describe > polled, "the sampler reads while a page looks");
  }, { wrapBackend });
});
