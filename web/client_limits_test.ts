import assert from "node:assert/strict";
import * as fc from "fast-check";
import { Hono } from "hono";
import { ManualClock } from "../cloud/clock.ts";
import { uploadPace, type UploadPaceLimits, uploadSlots, watchUpload } from "./client_limits.ts";
import { WebError } from "./errors.ts";
import { openTestStack } from "../testing/web_stack.ts";

const LIMITS: UploadPaceLimits = {
  uploadTimeoutMs: 60_000,
  uploadIdleMsMax: 10_000,
  uploadBytesPerSecondMin: 1_024,
  uploadRateGraceMs: 10_000,
};

Deno.test("uploadPace refuses a 1-byte-a-second trickle once the grace period is over", () => {
  const at = (seconds: number) =>
    uploadPace({
      startMs: 0,
      nowMs: seconds * 1000,
      bytes: seconds,
      lastBytesMs: seconds * 1000,
    }, LIMITS);
  assert.equal(at(9).ok, true);
  const verdict = at(11);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.limitName, "uploadBytesPerSecondMin");
});

Deno.test("uploadPace refuses a gap over uploadIdleMsMax and an upload over uploadTimeoutMs", () => {
  const idle = uploadPace({ startMs: 0, nowMs: 12_000, bytes: 1e6, lastBytesMs: 2_000 }, LIMITS);
  assert.equal(!idle.ok && idle.limitName, "uploadIdleMsMax");
  const slow = uploadPace({ startMs: 0, nowMs: 60_000, bytes: 1e8, lastBytesMs: 59_999 }, LIMITS);
  assert.equal(!slow.ok && slow.limitName, "uploadTimeoutMs");
});

Deno.test("uploadPace: an upload at or above the minimum rate with no long gap passes, and the next check is in the future", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1_024, max: 10_000_000 }),
      fc.integer({ min: 0, max: 59_000 }),
      (bytesPerSecond, elapsedMs) => {
        const bytes = Math.ceil((bytesPerSecond * elapsedMs) / 1000);
        const verdict = uploadPace(
          { startMs: 5, nowMs: 5 + elapsedMs, bytes, lastBytesMs: 5 + elapsedMs },
          LIMITS,
        );
        return verdict.ok && verdict.recheckAtMs > 5 + elapsedMs;
      },
    ),
  );
});

Deno.test("watchUpload aborts with 408 when bytes stop, and not while they keep coming", async () => {
  const clock = new ManualClock(1_000);
  const watch = watchUpload(clock, LIMITS);
  for (let s = 0; s < 20; s++) {
    await Promise.resolve();
    clock.advanceMs(1_000);
    watch.onBytes(4_096);
    await Promise.resolve();
  }
  assert.equal(watch.signal.aborted, false, "4 KiB/s for 20 s is fine");
  clock.advanceMs(10_000);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(watch.signal.aborted, true);
  const reason = watch.signal.reason as WebError;
  assert.equal(reason.status, 408);
  assert.match(reason.message, /uploadIdleMsMax = 10000/);
  watch.done();
});

Deno.test("watchUpload aborts with stop's reason (the end of a shutdown's drain)", () => {
  const stop = new AbortController();
  const watch = watchUpload(new ManualClock(), LIMITS, stop.signal);
  const reason = new WebError(503, "unavailable", "shutting down");
  stop.abort(reason);
  assert.equal(watch.signal.reason, reason);
  watch.done();
});

Deno.test("uploadSlots caps uploads per client with 429 and in all with 503, and frees on release", async () => {
  const slots = uploadSlots({
    uploadsMax: 3,
    uploadsPerClientMax: 2,
    clientKey: (c) => c.req.header("x-client") ?? "?",
  });
  const gates: PromiseWithResolvers<void>[] = [];
  const app = new Hono();
  app.onError((e, c) => c.text(e.message, (e as WebError).status));
  app.post("/", slots.middleware, async (c) => {
    const gate = Promise.withResolvers<void>();
    gates.push(gate);
    await gate.promise;
    c.get("uploadSlot").release();
    return c.text("ok");
  });
  const post = (client: string) =>
    app.request("/", { method: "POST", headers: { "x-client": client } });
  const a1 = post("a");
  const a2 = post("a");
  await new Promise((r) => setTimeout(r, 0));
  const a3 = await post("a");
  assert.equal(a3.status, 429);
  assert.match(await a3.text(), /uploadsPerClientMax = 2/);
  const b1 = post("b");
  await new Promise((r) => setTimeout(r, 0));
  const c1 = await post("c");
  assert.equal(c1.status, 503);
  assert.match(await c1.text(), /uploadsMax = 3/);
  assert.deepEqual(slots.counts(), { uploads: 3, clients: 2 });
  gates.forEach((g) => g.resolve());
  assert.deepEqual((await Promise.all([a1, a2, b1])).map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(slots.counts(), { uploads: 0, clients: 0 });
  assert.throws(() => uploadSlots({ uploadsPerClientMax: 0 }), /uploadsPerClientMax/);
});

Deno.test("createApp refuses a bad upload limit, naming it", async () => {
  for (
    const [web, name] of [
      [{ uploadRateGraceMs: 0 }, "uploadRateGraceMs"],
      [{ uploadIdleMsMax: 0 }, "uploadIdleMsMax"],
      [{ uploadBytesPerSecondMin: 0.5 }, "uploadBytesPerSecondMin"],
      [{ uploadsMax: 0 }, "uploadsMax"],
      [{ uploadsPerClientMax: -1 }, "uploadsPerClientMax"],
      [{ apiToken: "short" }, "API token"],
    ] as const
  ) {
    await assert.rejects(() => openTestStack({ web }), new RegExp(name));
  }
});
