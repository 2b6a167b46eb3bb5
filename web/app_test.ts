import assert from "node:assert/strict";
import { ManualClock } from "../cloud/clock.ts";
import { decodeRequest, type RecognitionResponse } from "../protocol/mod.ts";
import {
  labelFromImage,
  listFiles,
  NAMES,
  openTestStack,
  rawRequest,
  runTestWorker,
  type TestStack,
  uploadRequest,
} from "../testing/web_stack.ts";
import { HealthBoard } from "./health.ts";
import { serveWeb } from "./serve.ts";

/** Runs `body` with a stack and a stand-in worker answering through the real queues. */
async function withWorker(
  body: (stack: TestStack) => Promise<void>,
  answer: Parameters<typeof runTestWorker>[1] = labelFromImage,
  options: Parameters<typeof openTestStack>[0] = {},
) {
  const stack = await openTestStack(options);
  const stop = new AbortController();
  const worker = runTestWorker(stack, answer, stop.signal);
  try {
    await body(stack);
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
}

async function waitUntil(check: () => Promise<boolean> | boolean, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting until ${what}`);
}

Deno.test("POST / stores the upload under its name, queues it, and answers text/plain <stem>:<label>", async () => {
  await withWorker(async (stack) => {
    const res = await stack.app.request(uploadRequest("test_000.jpg", "Paul"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain/);
    assert.equal(await res.text(), "test_000:Paul");
    const stored = await stack.blobs.get(NAMES.inBucket, "test_000.jpg");
    assert.equal(await new Response(stored.body).text(), "Paul");
    // The worker deletes the request after sending the answer, so this may lag the answer.
    await waitUntil(async () => {
      const counts = await stack.queue.counts(NAMES.requestQueue);
      return counts.visible + counts.inFlight + counts.delayed === 0;
    }, "the request queue is empty");
  });
});

Deno.test("POST / routes 100 concurrent answers to the right requests", async () => {
  await withWorker(async (stack) => {
    const names = Array.from({ length: 100 }, (_, i) => `test_${String(i).padStart(2, "0")}`);
    // Each image's bytes spell a different label, so a mix-up of answers cannot pass.
    const label = (i: number) => `P${"abcdefghij"[i % 10]}${"abcdefghij"[Math.floor(i / 10)]}`;
    const answers = await Promise.all(names.map(async (stem, i) => {
      const res = await stack.app.request(uploadRequest(`${stem}.jpg`, label(i)));
      return `${res.status} ${await res.text()}`;
    }));
    answers.forEach((a, i) => assert.equal(a, `200 ${names[i]}:${label(i)}`));
    assert.equal((await stack.blobs.list(NAMES.inBucket)).items.length, 100);
    assert.equal((await stack.blobs.list(NAMES.outBucket)).items.length, 100);
  });
});

Deno.test("POST / with Accept: application/json returns every face with box, label, distance and timings", async () => {
  await withWorker(async (stack) => {
    const res = await stack.app.request(
      uploadRequest("group.png", "Emily", { accept: "application/json" }),
    );
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "done");
    assert.equal(body.answer, "group:Emily");
    assert.equal(body.key, "group.png");
    assert.deepEqual(body.faces, [{
      box: { x: 1, y: 2, width: 30, height: 40 },
      score: 0.9,
      label: "Emily",
      distance: 0.3,
    }]);
    assert.deepEqual(body.timingsMs.worker, { recognize: 1 });
    for (const k of ["upload", "enqueue", "wait", "total"]) {
      assert.equal(typeof body.timingsMs.web[k], "number", k);
    }
    assert.equal(res.headers.get("x-request-id"), body.id);
  });
});

function failure(code: string, message: string) {
  return (request: { id: string; stem: string }): RecognitionResponse => ({
    v: 1,
    id: request.id,
    stem: request.stem,
    ok: false,
    error: { code, message },
    worker: "test-worker",
  });
}

Deno.test("POST / answers 422 with the reason for a worker's image error, 502 with the id for other failures", async () => {
  await withWorker(async (stack) => {
    const res = await stack.app.request(uploadRequest("bad.jpg", "junk"));
    assert.equal(res.status, 422);
    assert.match(await res.text(), /image_undecodable: not a JPEG or PNG/);
  }, failure("image_undecodable", "not a JPEG or PNG"));
  await withWorker(async (stack) => {
    const res = await stack.app.request(
      uploadRequest("x.jpg", "x", { accept: "application/json" }),
    );
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.equal(body.error.code, "worker_failed");
    assert.match(body.error.message, /model_failed/);
    assert.equal(body.id, res.headers.get("x-request-id"));
    const later = await stack.app.request(`/requests/${body.id}`);
    assert.equal((await later.json()).httpStatus, 502);
  }, failure("model_failed", "session crashed"));
});

Deno.test("POST / answers 504 with the request id when no answer comes in time; GET /requests/:id has it later", async () => {
  const clock = new ManualClock(Date.now());
  let held: { id: string; stem: string } | undefined;
  await withWorker(
    async (stack) => {
      const pending = stack.app.request(uploadRequest("slow.jpg", "Bob"));
      await waitUntil(() => held !== undefined && stack.router.stats().waiting === 1, "waiting");
      clock.advanceMs(2_000);
      const res = await pending;
      assert.equal(res.status, 504);
      const id = res.headers.get("x-request-id")!;
      const text = await res.text();
      assert.match(text, /requestTimeoutMs = 2000/);
      assert.ok(text.includes(`GET /requests/${id}`));
      const before = await (await stack.app.request(`/requests/${id}`)).json();
      assert.deepEqual(before, {
        id,
        status: "pending",
        stem: "slow",
        acceptedAtMs: clock.nowMs() - 2_000,
      });
      // The worker finally answers.
      await stack.queue.send(
        NAMES.responseQueue,
        JSON.stringify({
          ...labelFromImage(
            { ...held!, v: 1, key: "", acceptedAtMs: 0 },
            new TextEncoder().encode("Bob"),
          ),
        }),
      );
      await waitUntil(async () => (await stack.router.status(id))?.state === "done", "answered");
      const after = await (await stack.app.request(`/requests/${id}`)).json();
      assert.equal(after.status, "done");
      assert.equal(after.answer, "slow:Bob");
    },
    (request) => {
      held = request; // takes the request and never answers
      return undefined;
    },
    { clock, web: { requestTimeoutMs: 2_000 } },
  );
});

Deno.test("POST / stops waiting when the client disconnects (over real HTTP): slot freed, 499 counted, result kept", async () => {
  let held: { id: string; stem: string } | undefined;
  await withWorker(async (stack) => {
    const stop = new AbortController();
    const server = serveWeb(stack.app, { port: 0, hostname: "127.0.0.1", signal: stop.signal });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const client = new AbortController();
      const request = uploadRequest("gone.jpg", "Eve");
      const pending = fetch(`${base}/`, {
        method: "POST",
        body: await request.arrayBuffer(),
        headers: { "content-type": request.headers.get("content-type")! },
        signal: client.signal,
      }).catch((error) => error);
      await waitUntil(() => held !== undefined && stack.router.stats().waiting === 1, "waiting");
      client.abort();
      assert.equal((await pending).name, "AbortError");
      // Far sooner than requestTimeoutMs (60 s here): the wait ended with the connection.
      await waitUntil(() => stack.router.stats().waiting === 0, "the wait to end");
      const health = await (await fetch(`${base}/healthz`)).json();
      assert.equal(health.waiting, 0);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /status="499"[^\n]* 1\n/);
      // The worker answers later; the result is there for whoever asks.
      await stack.queue.send(
        NAMES.responseQueue,
        JSON.stringify(labelFromImage(
          { ...held!, v: 1, key: "", acceptedAtMs: 0 },
          new TextEncoder().encode("Eve"),
        )),
      );
      const later = await (await fetch(`${base}/requests/${held!.id}?waitMs=5000`)).json();
      assert.equal(later.answer, "gone:Eve");
    } finally {
      stop.abort();
      await server.finished;
    }
  }, (request) => {
    held = request; // takes the request and never answers
    return undefined;
  }, { web: { requestTimeoutMs: 60_000 } });
});

Deno.test("POST /requests answers 202 {id} at once; GET /requests/:id goes from pending to done", async () => {
  const stack = await openTestStack();
  const stop = new AbortController();
  try {
    const res = await stack.app.request(
      uploadRequest("async_1.jpg", "Salma", { path: "/requests" }),
    );
    assert.equal(res.status, 202);
    const { id, status } = await res.json();
    assert.equal(status, "pending");
    assert.equal(res.headers.get("location"), `/requests/${id}`);
    assert.equal((await (await stack.app.request(`/requests/${id}`)).json()).status, "pending");
    const worker = runTestWorker(stack, labelFromImage, stop.signal);
    const done = await (await stack.app.request(`/requests/${id}?waitMs=5000`)).json();
    assert.equal(done.status, "done");
    assert.equal(done.answer, "async_1:Salma");
    stop.abort();
    await worker;
  } finally {
    stop.abort();
    await stack.close();
  }
});

Deno.test("POST /requests names replyTo in the request message when the web process has its own response queue", async () => {
  const stack = await openTestStack({ web: { replyTo: `${NAMES.responseQueue}-2` } });
  try {
    const res = await stack.app.request(uploadRequest("a.jpg", "Ann", { path: "/requests" }));
    assert.equal(res.status, 202);
    const [message] = await stack.queue.receive(NAMES.requestQueue);
    assert.equal(decodeRequest(message.body).replyTo, `${NAMES.responseQueue}-2`);
  } finally {
    await stack.close();
  }
});

Deno.test("GET /requests/:id answers 404 for unknown or malformed ids and 400 for a bad waitMs", async () => {
  const stack = await openTestStack();
  try {
    for (
      const path of ["/requests/nope", "/requests/..%2F..%2Fetc", `/requests/${"a".repeat(65)}`]
    ) {
      const res = await stack.app.request(path);
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).error.code, "not_found");
    }
    const res = await stack.app.request("/requests/abc?waitMs=-1");
    assert.equal(res.status, 400);
    await res.body?.cancel();
  } finally {
    await stack.close();
  }
});

Deno.test("POST / refuses an upload over uploadBytesMax with 413 and leaves no object or temp file", async () => {
  // Uploads go through temp files (inline 0), so "no temp file left" is tested, not vacuous.
  const stack = await openTestStack({ web: { uploadBytesMax: 10_000 }, blobInlineBytesMax: 0 });
  try {
    // Declared length over the limit: refused before reading.
    const declared = await stack.app.request(uploadRequest("big.jpg", "x".repeat(200_000)));
    assert.equal(declared.status, 413);
    await declared.body?.cancel();
    // No length declared (chunked): refused while streaming.
    const form = uploadRequest("big.jpg", "y".repeat(200_000));
    const streamed = await stack.app.request(
      rawRequest(form.body!, form.headers.get("content-type")!),
    );
    assert.equal(streamed.status, 413);
    assert.match(await streamed.text(), /uploadBytesMax = 10000/);
    // Within the body allowance but over the file limit: refused inside the blob store's put.
    const filePart = uploadRequest("mid.jpg", "z".repeat(20_000));
    const mid = await stack.app.request(
      rawRequest(filePart.body!, filePart.headers.get("content-type")!),
    );
    assert.equal(mid.status, 413);
    assert.match(await mid.text(), /the file is over uploadBytesMax = 10000/);
    assert.deepEqual((await stack.blobs.list(NAMES.inBucket)).items, []);
    assert.deepEqual(await listFiles(`${stack.dataDir}/blobs/.tmp`), []);
    assert.equal((await stack.queue.counts(NAMES.requestQueue)).visible, 0);
    assert.equal(stack.router.stats().pending, 0);
  } finally {
    await stack.close();
  }
});

Deno.test("POST / answers 408 to an upload that stalls, in the headers or in the file, and stores nothing", async () => {
  const clock = new ManualClock(Date.now());
  const stack = await openTestStack({
    clock,
    web: { uploadTimeoutMs: 30_000 },
    blobInlineBytesMax: 0, // through temp files, so "no temp file left" means something
  });
  try {
    const head = '--b\r\nContent-Disposition: form-data; name="inputFile"; filename="slow.jpg"\r\n';
    for (const sent of [head.slice(0, 20), `${head}\r\n${"x".repeat(5_000)}`]) {
      // The client sends this much and then nothing, keeping the connection open.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(sent));
        },
      });
      const answer = stack.app.request(rawRequest(body, "multipart/form-data; boundary=b"));
      await new Promise((r) => setTimeout(r, 50)); // let the app read what was sent
      clock.advanceMs(30_000);
      const res = await answer;
      assert.equal(res.status, 408, sent.slice(0, 30));
      assert.match(await res.text(), /uploadTimeoutMs = 30000/);
    }
    assert.deepEqual((await stack.blobs.list(NAMES.inBucket)).items, []);
    assert.deepEqual(await listFiles(`${stack.dataDir}/blobs/.tmp`), []);
    assert.equal(stack.router.stats().pending, 0);
  } finally {
    await stack.close();
  }
});

Deno.test("POST / maps missing field, bad multipart, bad names and wrong content types to 400/415 with a reason", async () => {
  const stack = await openTestStack();
  try {
    const cases: [Request, number, RegExp][] = [
      [uploadRequest("a.jpg", "x", { field: "image" }), 400, /no field "inputFile"/],
      [uploadRequest("../../x.jpg", "x"), 400, /base name only/],
      [uploadRequest("a b.jpg", "x"), 400, /only letters/],
      [rawRequest("{}", "application/json"), 415, /not multipart\/form-data/],
      [rawRequest("x", undefined), 415, /not multipart/],
      [rawRequest("--b\r\n", "multipart/form-data"), 400, /without a boundary/],
      [rawRequest("garbage", "multipart/form-data; boundary=b"), 400, /no opening boundary/],
    ];
    for (const [request, status, reason] of cases) {
      const res = await stack.app.request(request);
      assert.equal(res.status, status, String(reason));
      assert.match(await res.text(), reason);
    }
    assert.deepEqual((await stack.blobs.list(NAMES.inBucket)).items, []);
  } finally {
    await stack.close();
  }
});

Deno.test("POST /requests names only a body without the file field missing_field; other broken bodies are bad_multipart", async () => {
  const stack = await openTestStack();
  const b = "bnd";
  const type = `multipart/form-data; boundary=${b}`;
  const field = (name: string) =>
    `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\nx\r\n`;
  try {
    const cases: [Request, string, RegExp][] = [
      [
        uploadRequest("a.jpg", "x", { field: "image", path: "/requests" }),
        "missing_field",
        /no field/,
      ],
      // Past partsMax (16) the field is "not found": still a malformed body, not a missing field.
      [
        rawRequest(
          Array.from({ length: 17 }, (_, k) => field(`f${k}`)).join("") + `--${b}--\r\n`,
          type,
          "/requests",
        ),
        "bad_multipart",
        /not found in the first partsMax = 16 parts/,
      ],
      [
        rawRequest(`${field("inputFile")}--${b}--\r\n`, type, "/requests"),
        "bad_multipart",
        /not a file/,
      ],
      [rawRequest("garbage", type, "/requests"), "bad_multipart", /no opening boundary/],
    ];
    for (const [request, code, message] of cases) {
      const res = await stack.app.request(request);
      assert.equal(res.status, 400, code);
      const body = await res.json();
      assert.equal(body.error.code, code, body.error.message);
      assert.match(body.error.message, message);
    }
  } finally {
    await stack.close();
  }
});

Deno.test("POST / answers 503 with Retry-After once waitingRequestsMax requests are waiting", async () => {
  const clock = new ManualClock(Date.now());
  await withWorker(
    async (stack) => {
      const first = stack.app.request(uploadRequest("a.jpg", "x"));
      await waitUntil(() => stack.router.stats().waiting === 1, "first request waits");
      const second = await stack.app.request(uploadRequest("b.jpg", "x"));
      assert.equal(second.status, 503);
      assert.equal(second.headers.get("retry-after"), "1");
      assert.match(await second.text(), /waitingRequestsMax = 1/);
      clock.advanceMs(60_000);
      assert.equal((await first).status, 504);
    },
    () => undefined,
    { clock, web: { waitingRequestsMax: 1 } },
  );
});

Deno.test("POST /requests answers 503 once pendingRequestsMax requests await workers", async () => {
  const stack = await openTestStack({ router: { pendingRequestsMax: 2 } });
  try {
    for (const name of ["a.jpg", "b.jpg"]) {
      const res = await stack.app.request(uploadRequest(name, "x", { path: "/requests" }));
      assert.equal(res.status, 202);
      await res.body?.cancel();
    }
    const res = await stack.app.request(uploadRequest("c.jpg", "x", { path: "/requests" }));
    assert.equal(res.status, 503);
    assert.match(await res.text(), /pendingRequestsMax/);
    assert.deepEqual((await stack.blobs.list(NAMES.inBucket)).items.map((i) => i.key), [
      "a.jpg",
      "b.jpg",
    ]);
  } finally {
    await stack.close();
  }
});

Deno.test("GET /healthz is 200 while the response consumer runs and 503 once it stops", async () => {
  const stack = await openTestStack();
  try {
    const up = await stack.app.request("/healthz");
    assert.equal(up.status, 200);
    assert.equal((await up.json()).status, "ok");
    await stack.router.stop();
    const down = await stack.app.request("/healthz");
    assert.equal(down.status, 503);
    assert.equal((await down.json()).responseConsumer, "stopped");
  } finally {
    await stack.close();
  }
});

Deno.test("GET /metrics exposes instances per state, queue counts, latency histogram and counts by status", async () => {
  const readState = () =>
    Promise.resolve({
      instances: [{ id: "i-0000000a", name: "app-tier-instance-1", state: "running" as const }],
      queues: [{ queue: NAMES.requestQueue, counts: { visible: 7, inFlight: 1, delayed: 0 } }],
    });
  await withWorker(
    async (stack) => {
      assert.equal((await stack.app.request(uploadRequest("m.jpg", "Paul"))).status, 200);
      const bad = await stack.app.request(rawRequest("{}", "application/json"));
      await bad.body?.cancel();
      const res = await stack.app.request("/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, /^text\/plain; version=0.0.4/);
      const text = await res.text();
      for (
        const pattern of [
          /^fr_instances\{state="running"\} 1$/m,
          /^fr_instances\{state="stopped"\} 0$/m,
          /^fr_queue_messages\{queue="t-req-queue",kind="visible"\} 7$/m,
          /^fr_http_requests_total\{route="POST \/",status="200"\} 1$/m,
          /^fr_http_requests_total\{route="POST \/",status="415"\} 1$/m,
          /^fr_request_duration_seconds_count\{route="POST \/"\} 2$/m,
          /^fr_response_messages_total\{outcome="matched"\} 1$/m,
          /^fr_web_requests\{kind="waiting"\} 0$/m,
        ]
      ) {
        assert.match(text, pattern);
      }
    },
    labelFromImage,
    { readState },
  );
});

Deno.test("GET / shows the status page; unknown routes answer 404 with a hint", async () => {
  const stack = await openTestStack();
  try {
    const page = await stack.app.request("/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    assert.match(await page.text(), /t-req-queue/);
    const missing = await stack.app.request("/nope");
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /POST \/ with multipart field inputFile/);
  } finally {
    await stack.close();
  }
});

Deno.test("createApp refuses a bad limit at creation, naming the setting", async () => {
  const stack = await openTestStack();
  try {
    for (
      const [name, value] of [
        ["uploadBytesMax", 0],
        ["requestTimeoutMs", -5],
        ["waitingRequestsMax", 1.5],
        ["fileNameCharsMax", 500],
      ] as const
    ) {
      await assert.rejects(
        () => openTestStack({ web: { [name]: value } }),
        new RegExp(name),
      );
    }
  } finally {
    await stack.close();
  }
});

Deno.test("POST / waiting for an answer gets the refusal's status and reason as soon as the health board refuses, and the result stays retrievable", async () => {
  const health = new HealthBoard();
  const stack = await openTestStack({ health });
  try {
    const startMs = Date.now();
    const waiting = stack.app.request(uploadRequest("test_000.jpg", "Paul"));
    await waitUntil(
      async () => (await stack.queue.counts(NAMES.requestQueue)).visible === 1,
      "the request is queued",
    );
    health.report("controller", {
      code: "workers_not_ready",
      message: "workers cannot become ready: model not built",
      refuseUploads: 503,
    }, Date.now());
    const res = await waiting;
    assert.ok(Date.now() - startMs < 5_000, "answered within seconds, not at the timeout");
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("Retry-After"), "5");
    const id = res.headers.get("X-Request-Id")!;
    const body = await res.text();
    assert.match(body, /workers cannot become ready: model not built/);
    assert.match(body, new RegExp(`GET /requests/${id}`));
    // A worker answers it later: the client can still fetch the result.
    health.clear("controller");
    const stop = new AbortController();
    const worker = runTestWorker(stack, labelFromImage, stop.signal);
    try {
      const late = await stack.app.request(`/requests/${id}?waitMs=5000`);
      assert.equal((await late.json()).label, "Paul");
    } finally {
      stop.abort();
      await worker;
    }
  } finally {
    await stack.close();
  }
});
