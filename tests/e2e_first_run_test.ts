/**
 * A fresh clone as a new user meets it: no models built, no gallery. `enroll` and `start` build
 * the models on first use (the same build, under one lock) and the service says what is missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { courseData, E2E_READY, E2E_SKIP_NOTE, postImage } from "../testing/e2e.ts";
import { spawnService } from "../testing/service_process.ts";
import { MODEL_IDS } from "../model/model_store.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "on an empty model dir, enroll builds the models with progress lines and enrolls" +
    E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  async fn() {
    const course = await courseData();
    const dir = await Deno.makeTempDir({ prefix: "fr-first-run-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-ffi",
          join(ROOT, "model/cli/enroll.ts"),
          "--gallery",
          join(dir, "g.gallery"),
          "--csv",
          join(course.dir, "labels_10.csv"),
          "--images",
          course.imagesDir,
        ],
        env: { FR_MODEL_DIR: join(dir, "models"), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.match(stderr, /models: first use, building/);
      // One progress line per model, each built.
      for (const id of MODEL_IDS) {
        assert.match(stderr, new RegExp(`models: \\[\\d+/${MODEL_IDS.length}\\] ${id}: built`));
      }
      await Deno.stat(join(dir, "g.gallery"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task start on an empty model dir and no gallery builds the models, answers a photo " +
    "and says on /healthz and the status page that every face is Unknown" + E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const dir = await Deno.makeTempDir({ prefix: "fr-first-run-" });
    const service = spawnService(
      ["--data", join(dir, "data"), "--port", "0"],
      { env: { FR_MODEL_DIR: join(dir, "models"), NO_COLOR: "1" } },
    );
    const lines = service.lines;
    try {
      const url = await service.listening();
      const builds = lines.filter((l) => l.event === "model_build").map((l) => l.message);
      assert.match(String(builds[0]), /first use, building/);
      assert.equal(builds.length, 1 + MODEL_IDS.length, "one line to say so, then one per model");
      assert.ok(lines.some((l) => l.event === "no_gallery"), "the log says there is no gallery");
      const answer = await postImage(url, `${course.imagesDir}/test_03.jpg`, "test_03.jpg");
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "test_03:Unknown");
      const health = await (await fetch(`${url}/healthz`)).json();
      assert.equal(health.status, "degraded");
      assert.deepEqual(health.issues.map((i: { code: string }) => i.code), ["no_gallery"]);
      const page = await (await fetch(`${url}/`)).text();
      assert.match(page, /every face is labelled Unknown/);
    } finally {
      service.child.kill("SIGINT");
      await service.child.status;
      await service.drained;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
