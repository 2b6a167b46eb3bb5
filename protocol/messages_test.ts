import assert from "node:assert/strict";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  ProtocolError,
  replyQueueOf,
} from "./messages.ts";
import { REQUEST_MESSAGE_BYTES_MAX } from "./limits.ts";

const request = {
  v: 1,
  id: "3f1c-aa",
  key: "test_000.jpg",
  stem: "test_000",
  acceptedAtMs: 5,
} as const;

Deno.test("encodeRequest and decodeRequest round-trip a request", () => {
  assert.deepEqual(decodeRequest(encodeRequest(request)), request);
});

Deno.test("encodeRequest refuses a message over the 1 KB request-queue limit, naming it", () => {
  const key = "k".repeat(REQUEST_MESSAGE_BYTES_MAX);
  assert.throws(() => encodeRequest({ ...request, key }), /REQUEST_MESSAGE_BYTES_MAX \(1024\)/);
});

Deno.test("decodeRequest refuses non-JSON, wrong versions, bad ids and missing keys", () => {
  for (
    const body of [
      "not json",
      "[1]",
      JSON.stringify({ ...request, v: 2 }),
      JSON.stringify({ ...request, id: "../x" }),
      JSON.stringify({ ...request, key: "" }),
      JSON.stringify({ ...request, acceptedAtMs: "soon" }),
    ]
  ) {
    assert.throws(() => decodeRequest(body), ProtocolError, body);
  }
});

Deno.test("decodeRequest accepts a queue name as replyTo and refuses anything else", () => {
  const base = { v: 1, id: "r1", key: "a.jpg", stem: "a", acceptedAtMs: 1 };
  const ok = decodeRequest(JSON.stringify({ ...base, replyTo: "fr-resp-queue-2" }));
  assert.equal(ok.replyTo, "fr-resp-queue-2");
  for (const replyTo of ["", "has space", "x".repeat(81), 7, "../q"]) {
    assert.throws(
      () => decodeRequest(JSON.stringify({ ...base, replyTo })),
      /bad replyTo/,
      String(replyTo),
    );
  }
});

Deno.test("replyQueueOf honours only the response queue and its -suffixed siblings", () => {
  const request = { v: 1 as const, id: "r1", key: "a.jpg", stem: "a", acceptedAtMs: 1 };
  assert.equal(replyQueueOf(request, "fr-resp-queue"), "fr-resp-queue");
  assert.equal(
    replyQueueOf({ ...request, replyTo: "fr-resp-queue-3" }, "fr-resp-queue"),
    "fr-resp-queue-3",
  );
  assert.equal(
    replyQueueOf({ ...request, replyTo: "fr-resp-queue" }, "fr-resp-queue"),
    "fr-resp-queue",
  );
  assert.equal(
    replyQueueOf({ ...request, replyTo: "fr-req-queue" }, "fr-resp-queue"),
    "fr-resp-queue",
  );
  assert.equal(
    replyQueueOf({ ...request, replyTo: "fr-resp-queueX" }, "fr-resp-queue"),
    "fr-resp-queue",
  );
});

Deno.test("decodeResponse accepts ok and failed answers and refuses half-formed ones", () => {
  const ok = {
    v: 1,
    id: "a",
    stem: "s",
    ok: true,
    label: "Paul",
    faces: [],
    timingsMs: {},
    worker: "w1",
  } as const;
  assert.deepEqual(decodeResponse(encodeResponse(ok)), ok);
  const failed = {
    v: 1,
    id: "a",
    stem: "s",
    ok: false,
    error: { code: "image_corrupt", message: "bad" },
    worker: "w1",
  } as const;
  assert.deepEqual(decodeResponse(encodeResponse(failed)), failed);
  assert.throws(() => decodeResponse(JSON.stringify({ ...ok, label: undefined })), ProtocolError);
  assert.throws(() => decodeResponse(JSON.stringify({ ...failed, error: {} })), ProtocolError);
  assert.throws(() => decodeResponse(JSON.stringify({ ...ok, ok: "yes" })), ProtocolError);
});
