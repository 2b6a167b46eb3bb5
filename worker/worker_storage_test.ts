/**
 * The worker loop on a real full disk: a child process in a private mount namespace on a 2 MiB
 * tmpfs (`unshare`, as `cloud/local/storage_faults_test.ts` does), whose recognition step fills
 * the disk so the label, the answer and the delete meet ENOSPC; the disk is freed 1.5 s later.
 * Ignored, with the reason in its name, where no namespace can be made.
 */
import assert from "node:assert/strict";
import { mountNamespacePrefix } from "../testing/mount_namespace.ts";

const SCENARIO = new URL("./testdata/full_disk_worker.ts", import.meta.url).pathname;
const TMPFS_KIB = 2048;

const prefix = await mountNamespacePrefix();
const unavailable = typeof prefix === "string" ? ` (ignored: ${prefix})` : "";

Deno.test({
  name: "runWorker on a disk that fills mid-request keeps the request, retries the writes, and " +
    "answers it once space is freed, on its first delivery" + unavailable,
  ignore: unavailable !== "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "worker-full-" });
    try {
      const out = await new Deno.Command("unshare", {
        args: [
          ...prefix as string[],
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs -o size="$1" tmpfs "$2" && exec "$3" run -A --quiet "$4" "$2"',
          "sh",
          `${TMPFS_KIB}k`,
          dir,
          Deno.execPath(),
          SCENARIO,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, `the worker crashed:\n${new TextDecoder().decode(out.stderr)}`);
      const seen = JSON.parse(stdout);
      const events = seen.events as Record<string, unknown>[];
      const refused = events.find((e) => e.event === "storage_refused");
      assert.ok(refused, `no write was refused: ${JSON.stringify(events)}`);
      assert.equal(refused.reason, "disk_full");
      assert.ok(events.some((e) => e.event === "storage_recovered"), JSON.stringify(events));
      assert.deepEqual(seen.report, { reason: "idle", answered: 1, refused: 0, released: 0 });
      const answered = events.find((e) => e.event === "answered");
      assert.equal(answered?.receiveCount, 1, "answered on its first delivery");
      assert.deepEqual(
        seen.responses.map((r: { id: string; label: string }) => [r.id, r.label]),
        [["req-1", "Paul"]],
      );
      assert.equal(seen.label, "Paul");
      assert.deepEqual(seen.requestCounts, { visible: 0, inFlight: 0, delayed: 0 });
      assert.deepEqual(seen.deadLetterCounts, { visible: 0, inFlight: 0, delayed: 0 });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
