import assert from "node:assert/strict";
import { join } from "node:path";
import { readAll } from "../cloud/blob_store.ts";
import { ManualClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { decodeResponse, encodeRequest, type RecognitionResponse } from "../protocol/mod.ts";
import { ImageError } from "../model/image/errors.ts";
import {
  type Recognize,
  resolveWorkerOptions,
  runWorker,
  type WorkerOptions,
  type WorkerRoutes,
} from "./worker_loop.ts";

const routes: WorkerRoutes = {
  requestQueue: "t-req-queue",
  responseQueue: "t-resp-queue",
  inBucket: "t-in-bucket",
  outBucket: "t-out-bucket",
  deadLetterQueue: "t-req-dlq",
};

interface Stack {
  dir: string;
  queue: SqliteMessageQueue;
  blobs: LocalBlobStore;
  close(): Promise<void>;
}

async function openStack(receiveCountMax = 3): Promise<Stack> {
  const dir = await Deno.makeTempDir({ prefix: "worker_loop_test_" });
  const queue = await SqliteMessageQueue.open(join(dir, "cloud.db"));
  const blobs = await LocalBlobStore.open(join(dir, "blobs"), { syncData: false });
  await queue.ensureQueue(routes.deadLetterQueue!);
  await queue.ensureQueue(routes.requestQueue, {
    messageBytesMax: 1024,
    deadLetter: { queue: routes.deadLetterQueue!, receiveCountMax },
  });
  await queue.ensureQueue(routes.responseQueue);
  await blobs.ensureBucket(routes.inBucket);
  await blobs.ensureBucket(routes.outBucket);
  return {
    dir,
    queue,
    blobs,
    async close() {
      await queue.close();
      await blobs.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function submit(stack: Stack, id: string, key: string, bytes?: Uint8Array): Promise<void> {
  if (bytes) await stack.blobs.put(routes.inBucket, key, bytes);
  const stem = key.replace(/\.[^.]*$/, "");
  await stack.queue.send(
    routes.requestQueue,
    encodeRequest({ v: 1, id, key, stem, acceptedAtMs: Date.now() }),
  );
}

async function responses(stack: Stack): Promise<RecognitionResponse[]> {
  const out: RecognitionResponse[] = [];
  for (;;) {
    const got = await stack.queue.receive(routes.responseQueue, { messagesMax: 10 });
    if (got.length === 0) return out;
    for (const m of got) {
      out.push(decodeResponse(m.body));
      await stack.queue.delete(routes.responseQueue, m.receipt);
    }
  }
}

async function label(stack: Stack, stem: string): Promise<string> {
  const object = await stack.blobs.get(routes.outBucket, stem);
  return new TextDecoder().decode(await readAll(object.body));
}

/** A recogniser whose answer depends on the bytes, so a wrong image would give a wrong label. */
const byFirstByte: Recognize = (bytes) =>
  Promise.resolve({
    label: bytes[0] === 1 ? "Paul" : "Emily",
    faces: [{
      box: { x: 0, y: 0, width: 10, height: 10 },
      score: 0.9,
      label: bytes[0] === 1 ? "Paul" : "Emily",
      distance: 0.3,
    }],
    timingsMs: { detectMs: 1 },
  });

const options: WorkerOptions = { routes, workerName: "test-worker" };

Deno.test("runWorker answers each request, stores the label under the stem and ends when idle", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "a1", "test_000.jpg", new Uint8Array([1, 2, 3]));
    await submit(stack, "a2", "test_001.jpg", new Uint8Array([2, 2, 3]));
    const report = await runWorker({ ...stack, recognize: byFirstByte }, options);
    assert.deepEqual(report, { reason: "idle", answered: 2, refused: 0, released: 0 });
    assert.equal(await label(stack, "test_000"), "Paul");
    assert.equal(await label(stack, "test_001"), "Emily");
    const answers = await responses(stack);
    assert.deepEqual(
      answers.map((r) => [r.id, r.stem, r.ok && r.label, r.worker]).sort(),
      [["a1", "test_000", "Paul", "test-worker"], ["a2", "test_001", "Emily", "test-worker"]],
    );
    const first = answers[0];
    assert.ok(first.ok && typeof first.timingsMs.recognizeMs === "number");
    assert.ok(first.ok && first.timingsMs.detectMs === 1, "the model's own timings are kept");
    assert.deepEqual(await stack.queue.counts(routes.requestQueue), {
      visible: 0,
      inFlight: 0,
      delayed: 0,
    });
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker answers on the request's replyTo when it is a sibling of the response queue, else on the response queue", async () => {
  const stack = await openStack();
  try {
    const sibling = `${routes.responseQueue}-2`;
    await stack.queue.ensureQueue(sibling);
    await stack.queue.ensureQueue("someone-elses-queue");
    await stack.blobs.put(routes.inBucket, "a.jpg", new Uint8Array([1]));
    await stack.blobs.put(routes.inBucket, "b.jpg", new Uint8Array([2]));
    const send = (id: string, key: string, replyTo: string) =>
      stack.queue.send(
        routes.requestQueue,
        encodeRequest({ v: 1, id, key, stem: key[0], acceptedAtMs: Date.now(), replyTo }),
      );
    await send("r1", "a.jpg", sibling);
    await send("r2", "b.jpg", "someone-elses-queue");
    await runWorker({ ...stack, recognize: byFirstByte }, options);
    const [onSibling] = await stack.queue.receive(sibling, { messagesMax: 10 });
    assert.equal(decodeResponse(onSibling.body).id, "r1");
    assert.deepEqual((await responses(stack)).map((r) => r.id), ["r2"]);
    assert.deepEqual(await stack.queue.receive("someone-elses-queue"), []);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker logs each answer's serviceMs: get + recognise + put, on the worker's clock", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "s1", "test_000.jpg", new Uint8Array([1]));
    await submit(stack, "s2", "test_001.jpg", new Uint8Array([2]));
    const clock = new ManualClock(5_000);
    const takesMs = [250, 40];
    const lines: Record<string, unknown>[] = [];
    const report = await runWorker({
      ...stack,
      clock,
      recognize: (bytes) => {
        clock.advanceMs(takesMs.shift()!);
        return byFirstByte(bytes);
      },
    }, { ...options, log: (line) => lines.push({ ...line }) });
    assert.equal(report.answered, 2);
    const answered = lines.filter((l) => l.event === "answered");
    assert.deepEqual(answered.map((l) => [l.id, l.serviceMs]), [["s1", 250], ["s2", 40]]);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker answers an undecodable image with image_<code> and stores no label", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "b1", "bad.jpg", new Uint8Array([0xff, 0xd8]));
    const recognize: Recognize = () =>
      Promise.reject(
        new ImageError("truncated", "The JPEG stops early; upload the whole file.", {
          format: "jpeg",
        }),
      );
    const report = await runWorker({ ...stack, recognize }, options);
    assert.equal(report.refused, 1);
    const [answer] = await responses(stack);
    assert.equal(answer.ok, false);
    assert.ok(!answer.ok && answer.error.code === "image_truncated");
    assert.ok(!answer.ok && /stops early/.test(answer.error.message));
    await assert.rejects(stack.blobs.head(routes.outBucket, "bad"), { code: "not_found" });
    assert.equal((await stack.queue.counts(routes.requestQueue)).inFlight, 0);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker refuses a request whose upload is missing or over imageBytesMax", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "c1", "gone.jpg");
    await submit(stack, "c2", "huge.jpg", new Uint8Array(2048));
    const report = await runWorker({ ...stack, recognize: byFirstByte }, {
      ...options,
      imageBytesMax: 1024,
    });
    assert.equal(report.refused, 2);
    const codes = (await responses(stack)).map((r) => !r.ok && r.error.code).sort();
    assert.deepEqual(codes, ["image_missing", "image_too_large"]);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker releases a request that fails unexpectedly until the queue dead-letters it", async () => {
  const stack = await openStack(2);
  try {
    await submit(stack, "d1", "poison.jpg", new Uint8Array([1]));
    let calls = 0;
    const recognize: Recognize = () => {
      calls++;
      return Promise.reject(new Error("session crashed"));
    };
    const report = await runWorker({ ...stack, recognize }, options);
    assert.equal(calls, 2, "tried receiveCountMax times, then the queue moved it");
    assert.equal(report.released, 2);
    assert.equal(report.reason, "idle");
    assert.deepEqual(await responses(stack), [], "the worker never answers an unexpected failure");
    const [dead] = await stack.queue.receive(routes.deadLetterQueue!);
    assert.match(dead.body, /"id":"d1"/);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker sets a request that is not a protocol message aside in the dead-letter queue", async () => {
  const stack = await openStack();
  try {
    await stack.queue.send(routes.requestQueue, "{not json");
    const report = await runWorker({ ...stack, recognize: byFirstByte }, options);
    assert.equal(report.refused, 1);
    const [dead] = await stack.queue.receive(routes.deadLetterQueue!);
    assert.equal(dead.body, "{not json");
    assert.equal((await stack.queue.counts(routes.requestQueue)).inFlight, 0);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker redoes a redelivered request idempotently: one label, same answer", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "e1", "test_005.jpg", new Uint8Array([1]));
    // A worker that received the request and died: its delivery runs out, the request returns.
    const [lost] = await stack.queue.receive(routes.requestQueue, { visibilityTimeoutMs: 0 });
    assert.equal(lost.receiveCount, 1);
    const report = await runWorker({ ...stack, recognize: byFirstByte }, options);
    assert.equal(report.answered, 1);
    await stack.queue.delete(routes.requestQueue, lost.receipt); // stale: deletes nothing, throws nothing
    const answers = await responses(stack);
    assert.equal(answers.length, 1);
    assert.ok(answers[0].ok && answers[0].label === "Paul");
    const page = await stack.blobs.list(routes.outBucket);
    assert.deepEqual(page.items.map((i) => i.key), ["test_005"]);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker keeps a slow request hidden from other workers with its heartbeat", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "f1", "slow.jpg", new Uint8Array([1]));
    const slow: Recognize = async (bytes) => {
      await new Promise((r) => setTimeout(r, 1_600));
      return byFirstByte(bytes);
    };
    const working = runWorker({ ...stack, recognize: slow }, {
      ...options,
      visibilityTimeoutMs: 1_000,
    });
    await new Promise((r) => setTimeout(r, 1_200));
    const counts = await stack.queue.counts(routes.requestQueue);
    assert.deepEqual(counts, { visible: 0, inFlight: 1, delayed: 0 }, "still held past 1 s");
    assert.equal((await working).answered, 1);
    assert.equal((await responses(stack)).length, 1);
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker waits keepAliveMs for a request before ending", async () => {
  const stack = await openStack();
  try {
    const working = runWorker({ ...stack, recognize: byFirstByte }, {
      ...options,
      keepAliveMs: 1_500,
    });
    await new Promise((r) => setTimeout(r, 300));
    await submit(stack, "g1", "late.jpg", new Uint8Array([2]));
    const report = await working;
    assert.deepEqual(report, { reason: "idle", answered: 1, refused: 0, released: 0 });
  } finally {
    await stack.close();
  }
});

Deno.test("runWorker hands a request back at once when aborted mid-recognition", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "h1", "abort.jpg", new Uint8Array([1]));
    const abort = new AbortController();
    let started!: () => void;
    const startedP = new Promise<void>((r) => started = r);
    const hang: Recognize = () => {
      started();
      return new Promise(() => {});
    };
    const working = runWorker({ ...stack, recognize: hang }, { ...options, signal: abort.signal });
    await startedP;
    abort.abort();
    const report = await working;
    assert.deepEqual(report, { reason: "aborted", answered: 0, refused: 0, released: 1 });
    assert.equal((await stack.queue.counts(routes.requestQueue)).visible, 1);
  } finally {
    await stack.close();
  }
});

Deno.test("resolveWorkerOptions rejects bad settings, naming them", () => {
  assert.throws(() => resolveWorkerOptions({ ...options, keepAliveMs: -1 }), /keepAliveMs/);
  assert.throws(
    () => resolveWorkerOptions({ ...options, visibilityTimeoutMs: 10 }),
    /visibilityTimeoutMs must be a number in \[1000/,
  );
  assert.throws(() => resolveWorkerOptions({ ...options, workerName: "" }), /workerName/);
  assert.equal(resolveWorkerOptions(options).keepAliveMs, 0);
});

Deno.test("runWorker finishes and answers the request in hand when stopReceiving aborts, and takes no more", async () => {
  const stack = await openStack();
  try {
    await submit(stack, "s1", "first.jpg", new Uint8Array([1]));
    await submit(stack, "s2", "second.jpg", new Uint8Array([2]));
    const stopReceiving = new AbortController();
    const gate = Promise.withResolvers<void>();
    const started = Promise.withResolvers<void>();
    const slow: Recognize = async (bytes) => {
      started.resolve();
      await gate.promise;
      return byFirstByte(bytes);
    };
    const working = runWorker({ ...stack, recognize: slow }, {
      ...options,
      stopReceiving: stopReceiving.signal,
    });
    await started.promise;
    stopReceiving.abort();
    gate.resolve();
    const report = await working;
    assert.deepEqual(report, { reason: "aborted", answered: 1, refused: 0, released: 0 });
    assert.deepEqual((await responses(stack)).map((r) => r.id), ["s1"]);
    assert.equal((await stack.queue.counts(routes.requestQueue)).visible, 1, "s2 left queued");
  } finally {
    await stack.close();
  }
});
