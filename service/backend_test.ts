import assert from "node:assert/strict";
import { readAll } from "../cloud/blob_store.ts";
import { startEmulators } from "../testing/aws_emulators.ts";
import { Recognizer } from "../model/recognizer.ts";
import { courseData, E2E_READY } from "../testing/e2e.ts";
import { decodeResponse, encodeRequest } from "../protocol/mod.ts";
import { runWorker } from "../worker/worker_loop.ts";
import { ensureResources, openBackend } from "./backend.ts";
import { parseServiceConfig, type ServiceConfig, serviceNames } from "./config.ts";

Deno.test("ensureResources creates the deployment idempotently, with a 1 KB request queue that dead-letters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "backend_test_" });
  const config = parseServiceConfig("serve", ["--data", dir, "--receive-count-max", "1"], {
    env: () => undefined,
  }) as ServiceConfig;
  const names = serviceNames(config);
  const backend = await openBackend(config, { fleet: false });
  try {
    await ensureResources(backend, names, config);
    await ensureResources(backend, names, config);
    await assert.rejects(
      backend.queue.send(names.requestQueue, "x".repeat(1025)),
      /messageBytesMax = 1024/,
    );
    const body = encodeRequest({ v: 1, id: "r1", key: "a.jpg", stem: "a", acceptedAtMs: 0 });
    await backend.queue.send(names.requestQueue, body);
    await backend.queue.receive(names.requestQueue, { visibilityTimeoutMs: 0 });
    assert.deepEqual(
      await backend.queue.receive(names.requestQueue),
      [],
      "moved on the 2nd receive",
    );
    const [dead] = await backend.queue.receive(names.deadLetterQueue);
    assert.equal(dead.body, body);
    await backend.blobs.put(names.inBucket, "a.jpg", new Uint8Array([1]));
    assert.equal(backend.fleet, undefined);
    assert.throws(() => backend.openFleet(), TypeError);
  } finally {
    await backend.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the worker serves a course image over the AWS adapters (S3 and SQS emulators), same code",
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const emulators = await startEmulators();
    const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((k) => [k, Deno.env.get(k)]);
    Deno.env.set("AWS_ACCESS_KEY_ID", emulators.credentials.accessKeyId);
    Deno.env.set("AWS_SECRET_ACCESS_KEY", emulators.credentials.secretAccessKey);
    const config = parseServiceConfig("worker", [
      "--backend",
      "aws",
      "--id",
      "emu",
      ...emulators.flags,
    ], { env: () => undefined }) as ServiceConfig;
    const backend = await openBackend(config, { fleet: false });
    const recognizer = await Recognizer.load({ galleryPath: (await courseData()).gallery });
    try {
      const names = serviceNames(config);
      await ensureResources(backend, names, config);
      const course = await courseData();
      await backend.blobs.put(
        names.inBucket,
        "test_07.jpg",
        await Deno.readFile(`${course.imagesDir}/test_07.jpg`),
      );
      await backend.queue.send(
        names.requestQueue,
        encodeRequest({ v: 1, id: "aws1", key: "test_07.jpg", stem: "test_07", acceptedAtMs: 0 }),
      );
      const report = await runWorker({
        ...backend,
        recognize: (bytes) => recognizer.recognize(bytes),
      }, { routes: names, workerName: "emu-worker" });
      assert.equal(report.answered, 1);
      const [message] = await backend.queue.receive(names.responseQueue);
      const answer = decodeResponse(message.body);
      assert.ok(answer.ok);
      assert.equal(answer.label, course.labels.get("test_07"));
      const label = await readAll((await backend.blobs.get(names.outBucket, "test_07")).body);
      assert.equal(new TextDecoder().decode(label), course.labels.get("test_07"));
    } finally {
      await recognizer.close();
      await backend.close();
      await emulators.stop();
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    }
  },
});

Deno.test("openBackend with aws refuses to launch instances without --ami, naming it", async () => {
  const config = parseServiceConfig("serve", ["--backend", "aws", "--id", "demo"], {
    env: () => undefined,
  }) as ServiceConfig;
  await assert.rejects(openBackend(config, { fleet: true }), /^ConfigError: --ami: required/);
});
