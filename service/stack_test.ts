/**
 * What `startStack` binds and logs, and the API token over real HTTP. No model and no worker
 * process: nothing is posted, so nothing is started.
 */
import assert from "node:assert/strict";
import { diskSpace } from "../cloud/local/disk_space.ts";
import { DISK_FREE_BYTES_MIN_MAX, parseServiceConfig, type ServiceConfig } from "./config.ts";
import { startStack } from "./stack.ts";

async function withStack(
  command: "start" | "serve",
  flags: string[],
  fn: (url: string, lines: Record<string, unknown>[], localUrl: string) => Promise<void>,
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
