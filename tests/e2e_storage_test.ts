/**
 * Storage faults and restarts of the whole service, as a user meets them: `deno task start` as a
 * real process with real worker processes and the real model.
 *
 * - A full disk: the service runs in a private mount namespace whose data directory is a 20 MiB
 *   tmpfs (`unshare`, as `cloud/local/storage_faults_test.ts` does for the adapters), and uploads
 *   go on until the disk refuses. The disk is freed by deleting a ballast file from inside the
 *   namespace.
 * - A web tier killed with SIGKILL mid-burst and started again on the same data directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { courseData, E2E_READY, E2E_SKIP_NOTE, testStackFlags, waitFor } from "../testing/e2e.ts";
import {
  isAlive,
  mountNamespacePrefix,
  onTinyDisk,
  spawnService,
  workerPids,
} from "../testing/service_process.ts";

const namespace = await mountNamespacePrefix();
const noNamespace = typeof namespace === "string" ? ` (ignored: ${namespace})` : "";

const TMPFS_BYTES = 20 * 1024 * 1024;
/** Taken from the tmpfs at start and given back to "free space". */
const BALLAST_BYTES = 8 * 1024 * 1024;
/** A "photo" big enough to fill the disk in a few dozen uploads; workers refuse it at once. */
const FILLER_BYTES = 300 * 1024;
/** Uploads tried before the test gives up on the disk ever filling. */
const FILL_UPLOADS_MAX = 400;

interface Accepted {
  readonly id: string;
  /** The label the answer must carry, or undefined for a filler (answered 422). */
  readonly label: string | undefined;
}

async function postRequest(
  url: string,
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const form = new FormData();
  form.append("inputFile", new Blob([bytes], { type: "image/jpeg" }), name);
  return await fetch(`${url}/requests`, { method: "POST", body: form });
}

/** Polls `GET /requests/:id` until it is no longer pending; returns the last JSON body. */
async function settled(
  url: string,
  id: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${url}/requests/${id}?waitMs=2000`);
    const body = await response.json();
    assert.equal(response.status, 200, `GET /requests/${id}: ${JSON.stringify(body)}`);
    if (body.status !== "pending") return body;
    if (Date.now() > deadline) throw new Error(`${id} still pending after ${timeoutMs} ms`);
  }
}

function assertAnswered(body: Record<string, unknown>, expected: Accepted): void {
  if (expected.label === undefined) {
    assert.equal(body.status, "failed", JSON.stringify(body));
    assert.equal(body.httpStatus, 422, JSON.stringify(body));
  } else {
    assert.equal(body.status, "done", JSON.stringify(body));
    assert.equal(body.label, expected.label, JSON.stringify(body));
  }
}

Deno.test({
  name:
    "a full disk: uploads get 507 without a server path, reads and workers go on, and uploads " +
    "resume by themselves once space is freed; nothing accepted is lost" + E2E_SKIP_NOTE +
    noNamespace,
  ignore: !E2E_READY || noNamespace !== "",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const dataDir = await Deno.makeTempDir({ prefix: "fr-e2e-full-" });
    const control = await Deno.makeTempDir({ prefix: "fr-e2e-full-control-" });
    const freeTrigger = join(control, "free");
    const service = spawnService(
      [
        ...testStackFlags(dataDir, course.gallery),
        "--max",
        "2",
        // Workers stay up, so "still alive" means they survived, not that they were restarted.
        "--keep-alive-ms",
        "600000",
        "--worker-log",
        "inherit",
      ],
      {
        command: onTinyDisk(
          namespace as string[],
          dataDir,
          TMPFS_BYTES,
          BALLAST_BYTES,
          freeTrigger,
        ),
      },
    );
    try {
      const url = await service.listening();
      const images = course.files.slice(0, 10);
      const imageBytes = await Promise.all(
        images.map((f) => Deno.readFile(`${course.imagesDir}/${f}`)),
      );
      const labelOf = (i: number) => course.labels.get(images[i].replace(/\.jpg$/, ""));
      const filler = new Uint8Array(FILLER_BYTES);
      crypto.getRandomValues(filler.subarray(0, 65_536));

      // Both workers up and answering before the disk fills.
      const warm = await Promise.all([0, 1].map(async (i) => {
        const response = await postRequest(url, `warm${i}_${images[i]}`, imageBytes[i]);
        assert.equal(response.status, 202);
        return { id: (await response.json()).id as string, label: labelOf(i) };
      }));
      for (const w of warm) assertAnswered(await settled(url, w.id, 60_000), w);
      await waitFor(
        "two worker processes",
        () => Promise.resolve(workerPids(service.child.pid).length === 2),
        30_000,
      );
      const workers = workerPids(service.child.pid);

      // Upload (a course photo, then a big filler, and so on) until the disk refuses.
      const accepted: Accepted[] = [...warm];
      let refusal: Response | undefined;
      for (let n = 0; n < FILL_UPLOADS_MAX && refusal === undefined; n++) {
        const photo = n % 2 === 0;
        const i = (n / 2) % images.length;
        const response = photo
          ? await postRequest(url, `fill${n}_${images[i]}`, imageBytes[i])
          : await postRequest(url, `filler${n}.jpg`, filler);
        if (response.status === 202) {
          accepted.push({ id: (await response.json()).id, label: photo ? labelOf(i) : undefined });
        } else refusal = response;
      }
      assert.ok(refusal, `the disk never filled in ${FILL_UPLOADS_MAX} uploads`);
      const refusalText = await refusal.text();
      assert.equal(refusal.status, 507, refusalText);
      assert.equal(JSON.parse(refusalText).error.code, "insufficient_storage");
      assert.match(JSON.parse(refusalText).error.message, /storage is full/);
      assert.ok(!refusalText.includes(dataDir), `the body names the data dir: ${refusalText}`);
      assert.doesNotMatch(refusalText, /\/(tmp|work|home|root|var|data)\//, "a server path");
      assert.ok(refusal.headers.get("retry-after"), "507 says when to retry");
      assert.ok(accepted.length > warm.length + 2, "some uploads fitted before the disk filled");

      // Degraded, not down: health, the status page and stored results still answer.
      const health = await (await fetch(`${url}/healthz`)).json();
      assert.equal(health.status, "degraded");
      assert.deepEqual(
        health.issues.map((i: Record<string, unknown>) => [i.source, i.code, i.refuseUploads]),
        [["storage", "disk_full", 507]],
      );
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /data-issue="disk_full"/);
      assertAnswered(await settled(url, warm[0].id, 10_000), warm[0]);
      const again = await postRequest(url, "again.jpg", imageBytes[0]);
      assert.equal(again.status, 507, "still full: still refused");
      await again.body?.cancel();
      assert.ok(isAlive(service.child.pid), "the web tier is alive");

      // Free space: uploads are taken again, without a restart.
      await Deno.writeTextFile(freeTrigger, "");
      let resumed: Response | undefined;
      await waitFor(
        "uploads to be accepted again",
        async () => {
          const response = await postRequest(url, `after_${images[3]}`, imageBytes[3]);
          if (response.status === 202) resumed = response;
          else await response.body?.cancel();
          return resumed !== undefined;
        },
        30_000,
        250,
      );
      accepted.push({ id: (await resumed!.json()).id, label: labelOf(3) });
      assert.equal((await (await fetch(`${url}/healthz`)).json()).status, "ok");

      // Every request accepted before and after is answered, by the same worker processes.
      for (const a of accepted) assertAnswered(await settled(url, a.id, 120_000), a);
      assert.deepEqual(workers.filter(isAlive), workers, "a worker process died");
      assert.deepEqual(workerPids(service.child.pid), workers, "workers were replaced");
      const crashes = service.lines.filter((l) => l.event === "failed" || l.event === "crashed");
      assert.deepEqual(crashes, []);
      assert.doesNotMatch(service.stderr(), /Uncaught|error:/i);
    } finally {
      await Deno.writeTextFile(freeTrigger, "").catch(() => {});
      try {
        service.child.kill("SIGINT");
      } catch { /* already gone */ }
      const status = await service.child.status;
      await service.drained;
      assert.equal(status.code, 0, `the service exited with ${status.code}:\n${service.stderr()}`);
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(control, { recursive: true });
    }
  },
});

Deno.test({
  name: "a web tier killed with SIGKILL mid-burst and restarted on the same data dir: every " +
    "accepted request is pending or done, then done, and none is answered twice" + E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const dataDir = await Deno.makeTempDir({ prefix: "fr-e2e-restart-" });
    const flags = [
      ...testStackFlags(dataDir, course.gallery),
      "--max",
      "2",
      "--worker-log",
      "inherit",
    ];
    const first = spawnService(flags);
    let second: ReturnType<typeof spawnService> | undefined;
    try {
      const url = await first.listening();
      const files = course.files.slice(0, 60);
      const bytes = await Promise.all(files.map((f) => Deno.readFile(`${course.imagesDir}/${f}`)));
      const accepted: Accepted[] = [];
      let killed = false;
      /** Posts files[from..to) over 6 connections; SIGKILLs the web tier at `killAt` accepted. */
      const burst = async (from: number, to: number, killAt: number) => {
        let next = from;
        await Promise.all(Array.from({ length: 6 }, async () => {
          while (next < to) {
            const i = next++;
            const stem = `r${i}_${files[i].replace(/\.jpg$/, "")}`;
            try {
              const response = await postRequest(url, `${stem}.jpg`, bytes[i]);
              if (response.status !== 202) {
                await response.body?.cancel();
                continue;
              }
              const { id } = await response.json();
              accepted.push({ id, label: course.labels.get(files[i].replace(/\.jpg$/, "")) });
            } catch {
              continue; // the web tier is gone: not accepted
            }
            if (accepted.length >= killAt && !killed) {
              killed = true;
              first.child.kill("SIGKILL");
            }
          }
        }));
      };
      // Some requests are answered (and their answers consumed) by the first web tier …
      await burst(0, 20, Infinity);
      await waitFor(
        "a few answers",
        () => Promise.resolve(first.lines.filter((l) => l.event === "answered").length >= 5),
        60_000,
      );
      // … then a new burst, killed half-way.
      await burst(20, 60, 40);
      assert.ok(killed, "the web tier was killed mid-burst");
      await first.child.status;
      assert.ok(accepted.length >= 40);

      second = spawnService(flags);
      const url2 = await second.listening();
      // Right after the restart: every accepted id is known, pending or done.
      const early = await Promise.all(accepted.map(async (a) => {
        const response = await fetch(`${url2}/requests/${a.id}`);
        const body = await response.json();
        assert.equal(response.status, 200, `${a.id} after the restart: ${JSON.stringify(body)}`);
        assert.ok(["pending", "done"].includes(body.status), JSON.stringify(body));
        return body.status as string;
      }));
      assert.equal(early.length, accepted.length);
      // … and eventually done with the right label.
      for (const a of accepted) assertAnswered(await settled(url2, a.id, 120_000), a);

      // No request was recognised twice: one "answered" per accepted id, across the workers of
      // both runs. The first run's workers outlive its web tier, log through its pipe, and exit
      // once idle, which closes it; the second run's flush theirs when it stops.
      await first.drained;
      second.child.kill("SIGINT");
      assert.equal((await second.child.status).code, 0);
      await second.drained;
      const answers = [...first.lines, ...second.lines].filter((l) => l.event === "answered");
      for (const a of accepted) {
        const mine = answers.filter((l) => l.id === a.id);
        assert.equal(mine.length, 1, `answers for ${a.id}: ${JSON.stringify(mine)}`);
      }
      assert.doesNotMatch(second.stderr(), /Uncaught|error:/i);
    } finally {
      for (const s of [first, second]) {
        if (!s) continue;
        try {
          s.child.kill("SIGINT");
        } catch { /* already exited */ }
        await s.child.status;
      }
      // The first run's orphaned workers exit once idle; its pipe closes with them.
      await first.drained;
      await second?.drained;
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
