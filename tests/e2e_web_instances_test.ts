/**
 * Two web processes on one deployment: `start` (web instance 1: web, controller, workers) and
 * `serve --web-instance 2` (web only) on the same data directory. Each consumes its own response
 * queue and names it in its request messages, so every answer reaches the process whose client
 * waits, at once, and neither sees the other's answers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseServiceConfig, type ServiceConfig } from "../service/config.ts";
import { startStack } from "../service/stack.ts";
import {
  courseData,
  E2E_READY,
  E2E_SKIP_NOTE,
  postImage,
  startTestStack,
  testStackFlags,
} from "../testing/e2e.ts";

Deno.test({
  name:
    "a second web process (serve --web-instance 2) gets its own answers at once from the shared " +
    "workers, and neither process sees the other's" + E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const first = await startTestStack(["--gallery", course.gallery, "--max", "2"]);
    const secondLines: Record<string, unknown>[] = [];
    const config = parseServiceConfig("serve", [
      ...testStackFlags(first.dataDir, course.gallery),
      "--web-instance",
      "2",
    ], { env: () => undefined }) as ServiceConfig;
    const second = await startStack(config, {
      command: "serve",
      log: (line) => secondLines.push({ ...line }),
    });
    try {
      const listening = secondLines.find((l) => l.event === "listening")!;
      assert.equal(listening.responseQueue, `${second.names.responseQueue}-2`);
      assert.equal(listening.controller, false);
      const stems = course.files.slice(0, 8);
      const answers = await Promise.all(
        stems.map((file, i) =>
          postImage(i % 2 === 0 ? first.stack.url : second.url, join(course.imagesDir, file), file)
        ),
      );
      for (const [i, answer] of answers.entries()) {
        const stem = stems[i].replace(/\.jpg$/, "");
        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.body, `${stem}:${course.labels.get(stem)}`);
        // Far below requestTimeoutMs (60 s): a misrouted answer is only found at the timeout.
        assert.ok(answer.latencyMs < 30_000, `${stem} took ${answer.latencyMs} ms`);
      }
      const unmatched = [...first.lines, ...secondLines].filter((l) =>
        l.event === "response_unmatched"
      );
      assert.deepEqual(unmatched, [], "an answer reached a process that did not ask for it");
      const queue = first.stack.backend.queue;
      for (
        const name of [first.stack.names.responseQueue, `${first.stack.names.responseQueue}-2`]
      ) {
        assert.deepEqual(await queue.counts(name), { visible: 0, inFlight: 0, delayed: 0 }, name);
      }
      // Only instance 1 runs a controller: every decision line is the first process's.
      assert.ok(first.lines.some((l) => l.event === "decision"));
      assert.ok(!secondLines.some((l) => l.event === "decision"));
    } finally {
      await second.close();
      await first.dispose();
    }
  },
});
