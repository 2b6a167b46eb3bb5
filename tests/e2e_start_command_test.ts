/**
 * `deno task start` as a user runs it: a process, a curl-style round trip, Ctrl-C, no orphans.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { FACE_API_SAMPLES_DIR } from "../testing/face_api_reference.ts";
import {
  courseData,
  E2E_READY,
  E2E_SKIP_NOTE,
  postImage,
  testStackFlags,
  waitFor,
} from "../testing/e2e.ts";
import { spawnService, START } from "../testing/service_process.ts";

Deno.test("deno task start fails fast on a bad setting, naming it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", START, "--max", "0"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /^start: --max: must be an integer in \[1, 32\]/,
  );
});

Deno.test({
  name: "deno task start answers a round trip and Ctrl-C stops it with every worker" +
    E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const dataDir = await Deno.makeTempDir({ prefix: "fr-e2e-start-" });
    const service = spawnService(testStackFlags(dataDir, course.gallery));
    const { child, lines } = service;
    const fleet = await LocalFleet.open(join(dataDir, "cloud.db"), { command: ["true"] });
    try {
      const url = await service.listening();
      const answer = await postImage(url, `${course.imagesDir}/test_03.jpg`, "test_03.jpg");
      assert.equal(answer.status, 200);
      assert.equal(answer.body, `test_03:${course.labels.get("test_03")}`);

      // Ctrl-C while a worker is busy with a long request.
      const pending = postImage(url, `${FACE_API_SAMPLES_DIR}sample2.jpg`, "sample2.jpg").catch((
        e,
      ) => e);
      let pid: number | null = null;
      await waitFor("a worker process", async () => {
        const [running] = await fleet.describe({ states: ["running"] });
        pid = running ? await fleet.processId(running.id) : null;
        return pid !== null;
      }, 30_000);
      child.kill("SIGINT");
      const status = await child.status;
      await service.drained;
      await pending;
      assert.equal(status.code, 0);
      assert.ok(lines.some((l) => l.event === "stopped"), "it said it stopped");
      assert.throws(() => Deno.kill(pid!, "SIGCONT"), "the worker process is gone");
      const live = await fleet.describe({ states: ["pending", "running", "stopping"] });
      assert.deepEqual(live, [], "no instance left running");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await fleet.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
