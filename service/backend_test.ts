import assert from "node:assert/strict";
import { encodeRequest } from "../worker/protocol.ts";
import { ensureResources, openBackend } from "./backend.ts";
import { parseServiceConfig, type ServiceConfig, serviceNames } from "./config.ts";

Deno.test("ensureResources creates the deployment idempotently, with a 1 KB request queue that dead-letters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "backend_test_" });
  const config = parseServiceConfig("serve", ["--data", dir, "--receive-count-max", "1"], {
    env: () => undefined,
  }) as ServiceConfig;
  const names = serviceNames(config);
  const backend = await openBackend(config, { fleet: false });
  try {
    await ensureResources(backend, names, config);
    await ensureResources(backend, names, config);
    await assert.rejects(
      backend.queue.send(names.requestQueue, "x".repeat(1025)),
      /messageBytesMax = 1024/,
    );
    const body = encodeRequest({ v: 1, id: "r1", key: "a.jpg", stem: "a", acceptedAtMs: 0 });
    await backend.queue.send(names.requestQueue, body);
    await backend.queue.receive(names.requestQueue, { visibilityTimeoutMs: 0 });
    assert.deepEqual(
      await backend.queue.receive(names.requestQueue),
      [],
      "moved on the 2nd receive",
    );
    const [dead] = await backend.queue.receive(names.deadLetterQueue);
    assert.equal(dead.body, body);
    await backend.blobs.put(names.inBucket, "a.jpg", new Uint8Array([1]));
    assert.equal(backend.fleet, undefined);
    assert.throws(() => backend.openFleet(), TypeError);
  } finally {
    await backend.close();
    await Deno.remove(dir, { recursive: true });
  }
});
