/**
 * The app's side of a graceful shutdown: `draining` refuses new uploads and takes `/healthz` out
 * of rotation while waiting clients go on; `shutdown` (the drain is over) answers what still waits
 * 503 with its request id, and cuts off uploads still arriving.
 */
import assert from "node:assert/strict";
import type { RecognitionRequest } from "../protocol/mod.ts";
import {
  labelFromImage,
  openTestStack,
  rawRequest,
  runTestWorker,
  uploadRequest,
} from "../testing/web_stack.ts";

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("draining refuses new uploads with 503 while waiting clients still get their answers; the drain's end answers the rest 503 with their ids", async () => {
  const draining = new AbortController();
  const shutdown = new AbortController();
  const stack = await openTestStack({ draining: draining.signal, shutdown: shutdown.signal });
  const stop = new AbortController();
  // The stand-in worker answers only what the test releases.
  const held: RecognitionRequest[] = [];
  const release = new Set<string>();
  const worker = runTestWorker(
    stack,
    async (request, image) => {
      held.push(request);
      while (!release.has(request.stem) && !stop.signal.aborted) {
        await new Promise((r) => setTimeout(r, 10));
      }
      return stop.signal.aborted ? undefined : labelFromImage(request, image);
    },
    stop.signal,
    4,
  );
  try {
    const first = stack.app.request(uploadRequest("first.jpg", "Paul"));
    const second = stack.app.request(uploadRequest("second.jpg", "Emily"));
    await until("both waiting", () => held.length === 2);

    draining.abort();
    const refused = await stack.app.request(uploadRequest("late.jpg", "Bob"));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    assert.match(await refused.text(), /shutting down/);
    const health = await stack.app.request("/healthz");
    assert.equal(health.status, 503);
    assert.equal((await health.json()).status, "draining");

    release.add("first");
    const answered = await first;
    assert.equal(answered.status, 200);
    assert.equal(await answered.text(), "first:Paul");

    shutdown.abort();
    const cut = await second;
    assert.equal(cut.status, 503);
    const id = cut.headers.get("x-request-id")!;
    assert.ok(id);
    assert.match(await cut.text(), new RegExp(`GET /requests/${id}`));
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});

Deno.test("the drain's end cuts off an upload still arriving with 503, and stores nothing", async () => {
  const shutdown = new AbortController();
  const stack = await openTestStack({ shutdown: shutdown.signal });
  try {
    const b = "drainb";
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(
          `--${b}\r\nContent-Disposition: form-data; name="inputFile"; filename="a.jpg"\r\n\r\nPa`,
        ));
        // … and the rest never comes.
      },
    });
    const pending = stack.app.request(rawRequest(body, `multipart/form-data; boundary=${b}`));
    await new Promise((r) => setTimeout(r, 50));
    shutdown.abort();
    const res = await pending;
    assert.equal(res.status, 503);
    assert.match(await res.text(), /shutting down/);
    assert.deepEqual((await stack.blobs.list("t-in-bucket")).items, []);
  } finally {
    await stack.close();
  }
});
