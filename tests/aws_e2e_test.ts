/**
 * The AWS code path end to end on this machine: `serve --backend aws` as a real process (web tier
 * and controller through the SDK's S3, SQS and EC2 clients), s3rver and sqslite for S3 and SQS,
 * and a stand-in for EC2 (`testing/ec2_stand_in.ts`: EC2's query API over HTTP, a metadata
 * service per instance, IMDSv2 only) where every boot of an instance starts a real
 * `worker --backend aws` process with the flags the boot script gives it (`workerFlags`), and
 * stopping an instance ends its process. Workers get their credentials the way an app instance
 * does, from their instance's metadata service (no keys in their environment), so every EC2 call
 * says which instance made it. Beyond the boot script's flags the workers get `--keep-alive-ms 0`
 * against the controller's 3000, so an idle worker always stops its instance before the
 * controller would (with equal keep-alives either may, and the controller's stop is not what this
 * test is about).
 *
 * The course scenario: the pool of stopped instances is created first through RunInstances (what
 * `deno task aws up` leaves behind), then 100 concurrent uploads of the course photos against the
 * 10 enrolled people. Asserted: every answer right, the fleet reaches the maximum and never
 * exceeds it, every worker that served stops its own instance through IMDSv2 + StopInstances
 * (signed with its own instance's credentials), and nothing runs at the end.
 *
 * What a real account adds, which this test cannot check:
 * - eventual consistency beyond what is modelled: here only a fresh instance id is unknown for a
 *   few calls after RunInstances (`InvalidInstanceID.NotFound`, left out of DescribeInstances);
 *   on EC2 any change may show late, for seconds to minutes, and a state change is seen at the
 *   next look here;
 * - boot minutes: `pending` → `running` takes tens of seconds, then the OS boots and systemd starts
 *   the worker (installing Deno and the package at first boot); a stop takes tens of seconds;
 *   here a boot is a process start;
 * - the boot script itself (cloud-init, the systemd unit, the package download): a boot here runs
 *   the worker command the unit would run, with its flags, from this checkout;
 * - IAM: the web and app roles' policies (`deploy/iam/`) are not evaluated by AWS here. The
 *   stand-in enforces only the app role's rule that an instance may stop and tag only itself, by
 *   its session token; whether AWS's `ArnEquals ec2:SourceInstanceARN` condition does the same,
 *   and that the web role's conditions allow what the controller does, only an account shows;
 * - SigV4 signatures are not verified by the EC2 stand-in or sqslite (s3rver does verify S3's);
 * - SQS's visibility timeouts, long polls and counts (sqslite's gaps: DEVELOPERS.md).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { DEPLOYMENT_TAG } from "../cloud/resource_names.ts";
import { defaultWorkerCommand } from "../service/backend.ts";
import { parseServiceConfig, type ServiceConfig, workerFlags } from "../service/config.ts";
import { startEmulators } from "../testing/aws_emulators.ts";
import { courseData, E2E_READY, E2E_SKIP_NOTE, postImage, waitFor } from "../testing/e2e.ts";
import { type Ec2StandIn, startEc2StandIn } from "../testing/ec2_stand_in.ts";
import { readJsonLines, spawnService } from "../testing/service_process.ts";

const SERVE = new URL("../service/serve.ts", import.meta.url).pathname;
/** Instances at most: a few workers, as 2 cores allow (each loads the model; ~100 ms an image). */
const INSTANCES_MAX = 3;
const AMI = "ami-0123456789abcdef0";
/** How long `serve` gets to drain and exit after SIGTERM before SIGKILL. */
const SERVE_STOP_MS_MAX = 15_000;
const VERBOSE = Deno.env.get("FR_E2E_VERBOSE") === "1";

/** Log events not worth showing when the test fails. */
const ROUTINE = new Set(["answered"]);

/** One line a worker printed, with the instance it ran on. */
interface WorkerLine {
  readonly instanceId: string;
  readonly line: Record<string, unknown>;
}

Deno.test({
  name: "AWS code path end to end: serve --backend aws, S3/SQS emulators, an EC2 stand-in whose " +
    "instances run real workers; 100 concurrent course photos are answered right, the fleet " +
    "reaches its maximum, each worker stops its own instance, none runs at the end" +
    E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const emulators = await startEmulators();
    const cleanups: (() => Promise<unknown>)[] = [() => emulators.stop()];
    const id = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const userKey = emulators.credentials;
    const flags = [
      "--backend",
      "aws",
      "--id",
      id,
      ...emulators.flags,
      "--gallery",
      course.gallery,
      "--max",
      String(INSTANCES_MAX),
      "--ami",
      AMI,
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--drain-ms",
      "2000",
      // The controller stops an idle instance only after 3 s; its workers stop themselves first.
      "--keep-alive-ms",
      "3000",
    ];
    const workerLines: WorkerLine[] = [];
    /** Each worker's output, read to its end. */
    const outputs: Promise<void>[] = [];
    /** What to show when the test fails: the service's and the workers' unusual lines. */
    let serviceLines: () => string = () => "";
    try {
      const ec2: Ec2StandIn = await startEc2StandIn({
        instanceKey: userKey,
        shutdownGraceMs: 10_000,
        // New instance ids stay unknown for a few calls, as EC2's eventual consistency allows.
        propagationCalls: 3,
        // What the boot script's systemd unit runs, with the flags it gets (service/user_data.ts),
        // the metadata service at this instance's address, and no keys: the role's, from IMDS.
        boot: ({ instanceId, imdsUrl }) => {
          const [program, ...args] = defaultWorkerCommand();
          const child = new Deno.Command(program, {
            args: [
              ...args,
              ...workerFlags(config()),
              // Stop at once when idle, well before the controller's keep-alive (below) runs
              // out: the test is of the workers' own stops, not of the controller's safety net.
              "--keep-alive-ms",
              "0",
              "--imds-url",
              imdsUrl,
            ],
            clearEnv: true,
            env: {
              ...pick("PATH", "HOME", "DENO_DIR", "FR_MODEL_DIR", "TMPDIR"),
              NO_COLOR: "1",
              AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsUrl,
              AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
              AWS_CONFIG_FILE: "/nonexistent/config",
            },
            stdin: "null",
            stdout: "piped",
            stderr: VERBOSE ? "inherit" : "null",
          }).spawn();
          outputs.push(readJsonLines(
            child.stdout,
            (line) => workerLines.push({ instanceId, line }),
            VERBOSE ? (text) => console.log(text) : undefined,
          ));
          return child;
        },
      });
      cleanups.unshift(() => ec2.close());
      const serveFlags = [...flags, "--ec2-endpoint", ec2.endpoint];
      const config = () =>
        parseServiceConfig("serve", serveFlags, { env: () => undefined }) as ServiceConfig;

      // What `deno task aws up` leaves: the pool of stopped instances (their first boot's
      // workers are stopped before they take work, so the queues need not exist yet; `serve`
      // creates them, and s3rver, unlike S3, refuses to create an existing bucket again).
      const pool = new Ec2Fleet({
        endpoint: ec2.endpoint,
        credentials: userKey,
        launch: { imageId: AMI },
        tags: { [DEPLOYMENT_TAG]: id },
        instancesMax: INSTANCES_MAX,
        pollIntervalMs: 100,
        transitionWaitMsMax: 60_000,
      });
      const created = await pool.create(INSTANCES_MAX).finally(() => pool.close());
      assert.deepEqual(created.map((i) => i.state), Array(INSTANCES_MAX).fill("stopped"));
      const poolBoots = ec2.runs.length;
      assert.equal(poolBoots, INSTANCES_MAX, "each new instance booted once");
      // Stopping ended each first boot's process (SIGTERM), and only then was it stopped.
      for (const run of ec2.runs) {
        assert.ok(run.signalledAtMs !== undefined && run.status !== undefined, run.instanceId);
      }

      const serve = spawnService(serveFlags, {
        command: [Deno.execPath(), "run", "-A", "--quiet", SERVE],
        env: {
          AWS_ACCESS_KEY_ID: userKey.accessKeyId,
          AWS_SECRET_ACCESS_KEY: userKey.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: "true",
        },
      });
      serviceLines = () =>
        serve.lines.filter((l) => !ROUTINE.has(String(l.event))).slice(-40)
          .map((l) => JSON.stringify(l)).join("\n") + `\n${serve.stderr().slice(-4000)}`;
      cleanups.unshift(async () => {
        // SIGTERM drains (2 s here); SIGKILL if it hangs, so no process outlives the test.
        const kill = (signal: Deno.Signal) => {
          try {
            serve.child.kill(signal);
          } catch { /* exited */ }
        };
        kill("SIGTERM");
        const timer = setTimeout(() => kill("SIGKILL"), SERVE_STOP_MS_MAX);
        const status = await serve.child.status.finally(() => clearTimeout(timer));
        await serve.drained;
        if (VERBOSE || !status.success) console.error(serve.stderr());
      });
      const url = await Promise.race([
        serve.listening(60_000),
        serve.child.status.then((status) => {
          throw new Error(`serve exited (${status.code}) before listening: ${serve.stderr()}`);
        }),
      ]);
      const burstStartMs = Date.now();

      const answers = await Promise.all(
        course.files.map((file) => postImage(url, join(course.imagesDir, file), file)),
      );
      const wrong = answers.filter((a) => {
        const stem = a.file.replace(/\.jpg$/, "");
        return a.status !== 200 || a.body !== `${stem}:${course.labels.get(stem)}`;
      });
      assert.equal(answers.length, 100);
      assert.deepEqual(wrong.map((a) => `${a.file} ${a.status} ${a.body}`), []);

      // Nothing runs at the end: every instance stopped, every process exited.
      await waitFor(
        "every instance to stop",
        () => Promise.resolve([...ec2.states().values()].every((s) => s === "stopped")),
        60_000,
        100,
      );
      await Promise.all([...ec2.runs.map((r) => r.exited), ...outputs]);
      assert.equal(ec2.peakRunning(), INSTANCES_MAX, "the fleet reached its maximum");
      assert.ok(ec2.peakLive() <= INSTANCES_MAX, `at most ${INSTANCES_MAX} pending or running`);

      // Each burst boot's worker stopped its own instance: IMDSv2 told it its id, and its
      // StopInstances was signed with that instance's credentials, naming only that instance.
      const burstRuns = ec2.runs.slice(poolBoots);
      assert.ok(burstRuns.length >= INSTANCES_MAX, `${burstRuns.length} boots in the burst`);
      const selfStops = ec2.calls.filter((c) =>
        c.action === "StopInstances" && c.principal?.kind === "instance" && c.error === undefined
      );
      for (const run of burstRuns) {
        const lines = workerLines.filter((l) => l.instanceId === run.instanceId);
        const stopped = lines.find((l) =>
          l.line.event === "instance_stopped" && l.line.instanceId === run.instanceId
        );
        assert.ok(stopped, `the worker on ${run.instanceId} logged no instance_stopped`);
        const own = selfStops.filter((c) =>
          c.principal?.kind === "instance" && c.principal.instanceId === run.instanceId &&
          c.atMs >= run.startedAtMs
        );
        assert.ok(own.length > 0, `no StopInstances signed by ${run.instanceId} after its boot`);
        // It said it was ready the same way: a CreateTags on itself, with its own credentials.
        const tagged = ec2.calls.some((c) =>
          c.action === "CreateTags" && c.error === undefined && c.atMs >= run.startedAtMs &&
          c.principal?.kind === "instance" && c.principal.instanceId === run.instanceId
        );
        assert.ok(tagged, `the worker on ${run.instanceId} did not tag its instance ready`);
        assert.equal(run.status?.code, 0, `the worker on ${run.instanceId} exited cleanly`);
      }
      for (const call of selfStops) {
        assert.deepEqual(call.instanceIds, [(call.principal as { instanceId: string }).instanceId]);
      }
      // Nothing refused but the pool's launch meeting ids EC2 did not know yet (retried).
      const refused = ec2.calls.filter((c) =>
        c.error !== undefined &&
        !(c.error === "InvalidInstanceID.NotFound" && c.principal?.kind === "user" &&
          c.atMs < burstStartMs)
      );
      assert.deepEqual(refused.map((c) => `${c.action} ${c.error}`), []);
      const answered = workerLines.filter((l) => l.line.event === "answered").length;
      assert.equal(answered, 100, "each photo answered once");
      const controllerStops = ec2.calls.filter((c) =>
        c.action === "StopInstances" && c.principal?.kind === "user" && c.atMs >= burstStartMs
      );
      console.log(JSON.stringify({
        burstMs: Math.max(...answers.map((a) => a.doneAtMs)) - burstStartMs,
        boots: burstRuns.length,
        selfStops: selfStops.length,
        controllerStops: controllerStops.length,
        peakRunning: ec2.peakRunning(),
      }));
    } catch (error) {
      console.error("serve --backend aws said:\n" + serviceLines());
      console.error(
        "the workers said:\n" +
          workerLines.filter((l) => !ROUTINE.has(String(l.line.event))).slice(-40)
            .map((l) => `${l.instanceId} ${JSON.stringify(l.line)}`).join("\n"),
      );
      throw error;
    } finally {
      for (const cleanup of cleanups) await cleanup().catch((e) => console.error(e));
    }
  },
});

/** The named variables of this process's environment that are set. */
function pick(...names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
