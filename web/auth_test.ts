import assert from "node:assert/strict";
import { bearerAuth, validateApiToken } from "./auth.ts";
import {
  labelFromImage,
  openTestStack,
  runTestWorker,
  uploadRequest,
} from "../testing/web_stack.ts";

const TOKEN = "s3cret-token-0123456789";

function withAuth(request: Request, authorization: string | undefined): Request {
  const headers = new Headers(request.headers);
  if (authorization !== undefined) headers.set("authorization", authorization);
  return new Request(request, { headers });
}

Deno.test("with apiToken, every route but /healthz needs the bearer token: 401 with WWW-Authenticate otherwise", async () => {
  const stack = await openTestStack({ web: { apiToken: TOKEN } });
  const stop = new AbortController();
  const worker = runTestWorker(stack, labelFromImage, stop.signal);
  try {
    const missing = await stack.app.request(uploadRequest("test_01.jpg", "Paul"));
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="face-recognition"');
    assert.match(await missing.text(), /Authorization: Bearer <token>/);

    for (
      const wrong of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, "Bearer a", "Basic eDp5"]
    ) {
      const res = await stack.app.request(withAuth(uploadRequest("t.jpg", "Paul"), wrong));
      assert.equal(res.status, 401, wrong);
      await res.body?.cancel();
    }
    const wrong = await stack.app.request(withAuth(uploadRequest("t.jpg", "x"), "Bearer nope"));
    assert.match(wrong.headers.get("www-authenticate")!, /error="invalid_token"/);
    await wrong.body?.cancel();

    const ok = await stack.app.request(
      withAuth(uploadRequest("test_01.jpg", "Paul"), `bearer ${TOKEN}`),
    );
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "test_01:Paul");
    const id = ok.headers.get("x-request-id")!;

    for (const path of [`/requests/${id}`, "/metrics", "/"]) {
      const closed = await stack.app.request(path);
      assert.equal(closed.status, 401, path);
      await closed.body?.cancel();
      const open = await stack.app.request(
        withAuth(new Request(`http://x${path}`), `Bearer ${TOKEN}`),
      );
      assert.equal(open.status, 200, path);
      await open.body?.cancel();
    }
    const health = await stack.app.request("/healthz");
    assert.equal(health.status, 200, "load balancers probe without a token");
    await health.body?.cancel();
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});

Deno.test("without apiToken the service stays open (the default)", async () => {
  const stack = await openTestStack();
  try {
    const res = await stack.app.request("/metrics");
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await stack.close();
  }
});

Deno.test("bearerAuth refuses a short or malformed token at creation, without echoing it", () => {
  assert.throws(() => bearerAuth({ token: "short" }), /16\.\.4096 characters, got 5/);
  assert.throws(
    () => validateApiToken("has spaces in it, sadly"),
    (e: Error) => e instanceof RangeError && !e.message.includes("sadly"),
  );
  validateApiToken(TOKEN);
});
