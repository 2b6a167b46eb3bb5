/**
 * The acceptance scenario, as the course grader runs it, on the embedded stack with the
 * real model and real worker processes.
 */
import assert from "node:assert/strict";
import { readAll } from "../cloud/blob_store.ts";
import {
  type Answer,
  courseData,
  E2E_READY,
  E2E_SKIP_NOTE,
  postImage,
  sampleFleet,
  startTestStack,
  waitFor,
} from "../testing/e2e.ts";

const CONCURRENCY = 100;

Deno.test({
  name: "deno task start answers 100 concurrent course images correctly and scales 0 → max → 0" +
    E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const keepAliveMs = 0;
    const t = await startTestStack(["--gallery", course.gallery]);
    const { stack } = t;
    const instancesMax = stack.config.instancesMax;
    const fleet = stack.backend.fleet;
    const sampler = sampleFleet(() => fleet.describe(), 200);
    try {
      const emptyBefore = await stack.backend.queue.counts(stack.names.requestQueue);
      assert.deepEqual(emptyBefore, { visible: 0, inFlight: 0, delayed: 0 });
      const files = course.files.slice(0, CONCURRENCY);
      assert.equal(files.length, 100);
      const startMs = Date.now();
      const answers: Answer[] = await Promise.all(
        files.map((f) => postImage(stack.url, `${course.imagesDir}/${f}`, f)),
      );
      const lastAnswerMs = Math.max(...answers.map((a) => a.doneAtMs));
      const totalS = (lastAnswerMs - startMs) / 1000;

      for (const a of answers) {
        const stem = a.file.replace(/\.jpg$/, "");
        assert.equal(a.status, 200, `${a.file}: ${a.status} ${a.body}`);
        assert.equal(a.body, `${stem}:${course.labels.get(stem)}`);
      }
      await waitFor(
        "every instance to stop",
        async () => (await fleet.describe({ states: ["pending", "running"] })).length === 0,
        keepAliveMs + 10_000,
      );
      const zeroAtMs = Date.now();
      await sampler.stop();
      const peak = Math.max(...sampler.samples.map((s) => s.running));
      const peakLive = Math.max(...sampler.samples.map((s) => s.live));
      console.log(
        `100-burst: total ${totalS.toFixed(1)} s, average ${
          (totalS / 100).toFixed(3)
        } s/request, ` +
          `peak running ${peak}/${instancesMax}, 0 running ${
            zeroAtMs - lastAnswerMs
          } ms after the last answer`,
      );
      assert.equal(peak, instancesMax, "running instances reach the configured maximum");
      assert.ok(peakLive <= instancesMax, `never above the maximum (saw ${peakLive})`);
      assert.ok(
        zeroAtMs - lastAnswerMs <= keepAliveMs + 2_000,
        `0 running within keep-alive + 2 s of the last answer (took ${zeroAtMs - lastAnswerMs} ms)`,
      );

      const { queue, blobs } = stack.backend;
      for (const q of [stack.names.requestQueue, stack.names.responseQueue]) {
        assert.deepEqual(await queue.counts(q), { visible: 0, inFlight: 0, delayed: 0 }, q);
      }
      const uploads = await blobs.list(stack.names.inBucket);
      assert.deepEqual(uploads.items.map((i) => i.key).sort(), [...files].sort());
      const labels = await blobs.list(stack.names.outBucket);
      assert.equal(labels.items.length, 100);
      for (const item of labels.items) {
        const text = new TextDecoder().decode(
          await readAll((await blobs.get(stack.names.outBucket, item.key)).body),
        );
        assert.equal(text, course.labels.get(item.key), `out-bucket ${item.key}`);
      }
    } finally {
      await sampler.stop();
      await t.dispose();
    }
  },
});
