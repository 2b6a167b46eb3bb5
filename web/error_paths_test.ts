/**
 * No HTTP body names a server path, whatever failed: the one error handler redacts them, and
 * the operator's log keeps them.
 */
import assert from "node:assert/strict";
import type { WebLogEvent } from "./app.ts";
import { HealthBoard } from "./health.ts";
import { openTestStack, runTestWorker, uploadRequest } from "../testing/web_stack.ts";

Deno.test("a store failure that names data-directory files answers 503 without them; the log keeps them", async () => {
  const logs: WebLogEvent[] = [];
  const health = new HealthBoard();
  // Every upload goes through a temp file in blobs/.data; a plain file in its place makes the
  // real store fail with the OS's message, which names both paths.
  const stack = await openTestStack({ blobInlineBytesMax: 0, health, log: (e) => logs.push(e) });
  try {
    await Deno.remove(`${stack.dataDir}/blobs/.data`, { recursive: true }).catch(() => {});
    await Deno.writeTextFile(`${stack.dataDir}/blobs/.data`, "not a directory");
    for (const accept of ["text/plain", "application/json"]) {
      const res = await stack.app.request(uploadRequest("a.jpg", "Paul", { accept }));
      const body = await res.text();
      // A typed store refusal (not a full disk): the service cannot take uploads now.
      assert.equal(res.status, 503);
      assert.ok(!body.includes(stack.root), `no data path in ${body}`);
      assert.doesNotMatch(body, /\/tmp\//);
      assert.match(body, /storage refused the upload/);
    }
    assert.ok(logs.some((e) => e.message.includes(stack.dataDir)), "the log has the path");

    // Health issues and the status page go through the same filter.
    health.report("storage", {
      code: "disk_full",
      message: `writing failed with ENOSPC: the disk is full (${stack.dataDir}/blobs/objects.db)`,
    }, 0);
    for (const path of ["/healthz", "/"]) {
      const body = await (await stack.app.request(path)).text();
      assert.match(body, /disk is full/);
      assert.ok(!body.includes(stack.root), `${path}: ${body}`);
    }
  } finally {
    await stack.close();
  }
});

Deno.test("a worker's failure naming its files reaches the client without them, now and later", async () => {
  const stack = await openTestStack();
  const stop = new AbortController();
  const modelPath = "/opt/face-recognition/.cache/models/face_recognition.onnx";
  const worker = runTestWorker(stack, (request) => ({
    v: 1,
    id: request.id,
    stem: request.stem,
    ok: false,
    error: { code: "model_failed", message: `could not load ${modelPath}: truncated` },
    worker: "test-worker",
  }), stop.signal);
  try {
    const res = await stack.app.request(uploadRequest("x.jpg", "x"));
    const body = await res.text();
    assert.equal(res.status, 502);
    assert.match(body, /could not load <path>: truncated/);
    const later = await (await stack.app.request(`/requests/${res.headers.get("x-request-id")}`))
      .text();
    assert.match(later, /model_failed/);
    assert.ok(!later.includes(modelPath), later);
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});
