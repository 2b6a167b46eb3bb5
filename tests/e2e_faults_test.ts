/**
 * Faults on the embedded stack with real worker processes and the real model: a worker killed
 * mid-request, a request that kills every worker that takes it, a controller restarted mid-burst.
 */
import assert from "node:assert/strict";
import { FACE_API_SAMPLES_DIR } from "../testing/face_api_reference.ts";
import {
  type Answer,
  courseData,
  E2E_READY,
  E2E_SKIP_NOTE,
  postImage,
  sampleFleet,
  startTestStack,
  type TestStack,
  waitFor,
} from "../testing/e2e.ts";

/**
 * A 1920×1400 photo: decoding it and running the SSD detector takes long enough (about 0.3 s
 * native, over 1 s on WASM) to kill the worker mid-request; the kill tests use the WASM build
 * for the wider window.
 */
const BIG_PHOTO = `${FACE_API_SAMPLES_DIR}sample1.jpg`;

const e2e = { ignore: !E2E_READY, sanitizeOps: false, sanitizeResources: false };

/**
 * Kills (SIGKILL) the worker holding the next request as soon as it takes it; returns its pid.
 * After an earlier kill, first waits for the dead worker's delivery to run out (the request turns
 * visible), so the in-flight request it then sees is a new worker's delivery.
 */
async function killWorkerMidRequest(t: TestStack, again = false): Promise<number> {
  const { stack } = t;
  const localFleet = stack.backend.localFleet!;
  if (again) {
    await waitFor(
      "the dead worker's delivery to run out",
      async () => (await stack.backend.queue.counts(stack.names.requestQueue)).visible === 1,
      30_000,
    );
  }
  await waitFor(
    "a worker to take the request",
    async () => (await stack.backend.queue.counts(stack.names.requestQueue)).inFlight === 1,
    60_000,
    10,
  );
  const [busy] = await localFleet.describe({ states: ["running"] });
  const pid = await localFleet.processId(busy.id);
  assert.ok(pid !== null, "the running instance has a process");
  Deno.kill(pid, "SIGKILL");
  return pid;
}

function startsIn(lines: readonly Record<string, unknown>[]): number {
  return lines
    .filter((l) => l.event === "decision")
    .reduce((n, l) => n + (l.applied as { started: string[] }).started.length, 0);
}

Deno.test({
  name: "a worker killed with SIGKILL mid-request: the request is still answered, one label lands" +
    E2E_SKIP_NOTE,
  ...e2e,
  async fn() {
    const course = await courseData();
    const t = await startTestStack([
      "--gallery",
      course.gallery,
      "--max",
      "1",
      "--visibility-timeout-ms",
      "2000",
      "--model-backend",
      "web",
    ]);
    try {
      const answering = postImage(t.stack.url, BIG_PHOTO, "sample1.jpg");
      const pid = await killWorkerMidRequest(t);
      const answer = await answering;
      assert.equal(answer.status, 200, answer.body);
      assert.match(answer.body, /^sample1:[A-Za-z]+$/);
      assert.ok(startsIn(t.lines) >= 2, "the controller started a worker again after the kill");
      const labels = await t.stack.backend.blobs.list(t.stack.names.outBucket);
      assert.deepEqual(labels.items.map((i) => i.key), ["sample1"]);
      assert.throws(() => Deno.kill(pid, "SIGCONT"), "the killed worker is gone");
      // The worker deletes the request after it sends the answer, so the client can hear back a
      // moment before the delete lands; the queue must then drain, not keep the request.
      const queue = t.stack.backend.queue;
      await waitFor("the answered request to leave the queue", async () => {
        const counts = await queue.counts(t.stack.names.requestQueue);
        return counts.visible + counts.inFlight + counts.delayed === 0;
      }, 5_000);
    } finally {
      await t.dispose();
    }
  },
});

Deno.test({
  name:
    "a request that kills every worker goes to the dead-letter queue and its client gets an error" +
    E2E_SKIP_NOTE,
  ...e2e,
  async fn() {
    const course = await courseData();
    const t = await startTestStack([
      "--gallery",
      course.gallery,
      "--max",
      "1",
      "--visibility-timeout-ms",
      "1000",
      "--receive-count-max",
      "2",
      "--model-backend",
      "web",
    ]);
    try {
      const answering = postImage(t.stack.url, BIG_PHOTO, "poison.jpg");
      await killWorkerMidRequest(t);
      await killWorkerMidRequest(t, true);
      const answer = await answering;
      assert.equal(answer.status, 502, answer.body);
      assert.match(answer.body, /dead_letter/);
      assert.ok(t.lines.some((l) => l.event === "dead_letter"), "the sweep logged it");
      const { queue } = t.stack.backend;
      for (const q of [t.stack.names.requestQueue, t.stack.names.deadLetterQueue]) {
        assert.deepEqual(await queue.counts(q), { visible: 0, inFlight: 0, delayed: 0 }, q);
      }
      await assert.rejects(t.stack.backend.blobs.head(t.stack.names.outBucket, "poison"));
      // The dashboard counts it on its queue chart, and lists the client's 502.
      await waitFor("the dashboard's dead-letter count", async () => {
        const data = await (await fetch(`${t.stack.url}/dashboard.json`)).json();
        return data.points.some((p: { queue: { deadLettered: number } | null }) =>
          (p.queue?.deadLettered ?? 0) >= 1
        );
      }, 10_000);
      const data = await (await fetch(`${t.stack.url}/dashboard.json`)).json();
      assert.deepEqual([data.requests[0].status, data.requests[0].label], [502, "dead_letter"]);
    } finally {
      await t.dispose();
    }
  },
});

Deno.test({
  name:
    "a controller restarted mid-burst adopts the fleet, never passes the maximum, and reaches 0" +
    E2E_SKIP_NOTE,
  ...e2e,
  async fn() {
    const course = await courseData();
    const t = await startTestStack(["--gallery", course.gallery, "--max", "2"]);
    const { stack } = t;
    const fleet = stack.backend.fleet;
    const sampler = sampleFleet(() => fleet.describe(), 200);
    try {
      const files = course.files.slice(0, 30);
      const answering: Promise<Answer[]> = Promise.all(
        files.map((f) => postImage(stack.url, `${course.imagesDir}/${f}`, f)),
      );
      await waitFor(
        "a worker to be running",
        async () => (await fleet.describe({ states: ["running"] })).length > 0,
        30_000,
      );
      await stack.restartController();
      const answers = await answering;
      for (const a of answers) {
        const stem = a.file.replace(/\.jpg$/, "");
        assert.equal(a.status, 200, `${a.file}: ${a.body}`);
        assert.equal(a.body, `${stem}:${course.labels.get(stem)}`);
      }
      await waitFor(
        "every instance to stop",
        async () => (await fleet.describe({ states: ["pending", "running"] })).length === 0,
        10_000,
      );
      await sampler.stop();
      const restartAt = t.lines.findIndex((l) => l.event === "controller_restarted");
      assert.ok(restartAt > 0);
      const firstAfter = t.lines.slice(restartAt).find((l) => l.event === "decision") as
        | { inputs: { running: number; pending: number } }
        | undefined;
      assert.ok(firstAfter, "the new controller decided");
      assert.ok(
        firstAfter.inputs.running + firstAfter.inputs.pending >= 1,
        "the new controller saw the running fleet",
      );
      assert.ok(Math.max(...sampler.samples.map((s) => s.live)) <= 2, "never above the maximum");
      assert.equal((await fleet.describe()).length, 2, "adopted the pool: created nothing new");
    } finally {
      await sampler.stop();
      await t.dispose();
    }
  },
});

Deno.test({
  name:
    "an image the real model cannot decode is answered 422 with its reason, and the stack goes on" +
    E2E_SKIP_NOTE,
  ...e2e,
  async fn() {
    const course = await courseData();
    const t = await startTestStack(["--gallery", course.gallery, "--max", "1"]);
    try {
      const dir = await Deno.makeTempDir({ prefix: "fr-e2e-bad-" });
      const good = await Deno.readFile(`${course.imagesDir}/test_01.jpg`);
      await Deno.writeFile(`${dir}/cut.jpg`, good.slice(0, Math.floor(good.length / 2)));
      await Deno.writeFile(`${dir}/text.jpg`, new TextEncoder().encode("not an image at all"));
      const [cut, text] = await Promise.all([
        postImage(t.stack.url, `${dir}/cut.jpg`, "cut.jpg"),
        postImage(t.stack.url, `${dir}/text.jpg`, "text.jpg"),
      ]);
      await Deno.remove(dir, { recursive: true });
      for (const answer of [cut, text]) {
        assert.equal(answer.status, 422, answer.body);
        assert.match(answer.body, /image_[a-z_]+/);
      }
      const after = await postImage(t.stack.url, `${course.imagesDir}/test_01.jpg`, "test_01.jpg");
      assert.equal(after.body, `test_01:${course.labels.get("test_01")}`);
      const labels = await t.stack.backend.blobs.list(t.stack.names.outBucket);
      assert.deepEqual(labels.items.map((i) => i.key), ["test_01"], "no label for refused images");
    } finally {
      await t.dispose();
    }
  },
});
