/**
 * The EC2 stand-in of the AWS end-to-end test (testing/ec2_stand_in.ts): a boot starts the
 * instance's process once it is running; a stop sends it SIGTERM (SIGKILL after the grace) and
 * the instance is `stopped` only once the process exited; an instance's own credentials, from its
 * metadata service, stop that instance and no other.
 */
import assert from "node:assert/strict";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { ServiceError } from "../cloud/errors.ts";
import { type BootContext, startEc2StandIn } from "./ec2_stand_in.ts";
import { waitFor } from "./e2e.ts";

const KEY = { accessKeyId: "AK", secretAccessKey: "SK" };

/** A process that exits 200 ms after SIGTERM, or (stubborn) ignores it. */
function sleeper(stubborn: boolean): Deno.ChildProcess {
  const trap = stubborn ? "trap '' TERM" : "trap 'sleep 0.2; exit 0' TERM";
  return new Deno.Command("sh", {
    args: ["-c", `${trap}; while true; do sleep 0.05; done`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("the EC2 stand-in runs a process per boot, stops an instance only once its process exited, and lets an instance stop only itself", async () => {
  const boots: BootContext[] = [];
  let stubborn = false;
  const ec2 = await startEc2StandIn({
    instanceKey: KEY,
    shutdownGraceMs: 500,
    boot: (context) => {
      boots.push(context);
      return sleeper(stubborn);
    },
  });
  const fleet = new Ec2Fleet({
    endpoint: ec2.endpoint,
    credentials: KEY,
    launch: { imageId: "ami-0123456789abcdef0" },
    pollIntervalMs: 20,
    maxAttempts: 1,
  });
  try {
    // create launches, waits for running (a boot), stops: stopped only after the process exited.
    const [one, two] = await fleet.create(2);
    assert.deepEqual([one.state, two.state], ["stopped", "stopped"]);
    assert.equal(ec2.runs.length, 2);
    for (const run of ec2.runs) {
      assert.ok(run.status?.success, "exited by itself after SIGTERM");
      assert.ok(run.signalledAtMs !== undefined);
    }
    assert.equal(new Set(boots.map((b) => b.imdsUrl)).size, 2, "a metadata service per instance");

    // The instance's own role credentials, as the SDK reads them from its metadata service.
    await fleet.start([one.id]);
    await waitFor("a boot", async () => (await fleet.describe(), ec2.runs.length === 3), 5_000, 20);
    const imdsUrl = boots[2].imdsUrl;
    const token = await (await fetch(`${imdsUrl}/latest/api/token`, {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
    })).text();
    const read = async (path: string) =>
      await (await fetch(`${imdsUrl}${path}`, { headers: { "x-aws-ec2-metadata-token": token } }))
        .text();
    assert.equal(await read("/latest/meta-data/instance-id"), one.id);
    const role = await read("/latest/meta-data/iam/security-credentials/");
    const c = JSON.parse(await read(`/latest/meta-data/iam/security-credentials/${role}`));
    const itself = new Ec2Fleet({
      endpoint: ec2.endpoint,
      credentials: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.Token,
      },
      launch: { imageId: "ami-0123456789abcdef0" },
      maxAttempts: 1,
    });
    await assert.rejects(
      itself.stop([two.id]),
      (e) => e instanceof ServiceError && /UnauthorizedOperation/.test(e.message),
    );
    await assert.rejects(
      itself.describe(),
      (e) => e instanceof ServiceError && /UnauthorizedOperation/.test(e.message),
    );
    await itself.stop([one.id]);
    await itself.close();
    // Stopping until the process exits (200 ms after SIGTERM), then stopped.
    assert.equal((await fleet.describe({ ids: [one.id] }))[0].state, "stopping");
    await waitFor(
      "the stop",
      async () => (await fleet.describe({ ids: [one.id] }))[0].state === "stopped",
      5_000,
      20,
    );
    assert.ok(ec2.runs[2].status?.success);

    // A process that ignores SIGTERM is killed after the grace.
    stubborn = true;
    await fleet.start([two.id]);
    await waitFor("a boot", async () => (await fleet.describe(), ec2.runs.length === 4), 5_000, 20);
    await fleet.stop([two.id]);
    await fleet.settled();
    assert.equal(ec2.runs[3].status?.signal, "SIGKILL");
    assert.ok(Date.now() - ec2.runs[3].signalledAtMs! >= 500);
    assert.equal(ec2.peakRunning(), 2);
    const self = ec2.calls.filter((call) => call.principal?.kind === "instance");
    assert.deepEqual(self.map((call) => [call.action, call.error ?? "ok"]), [
      ["StopInstances", "UnauthorizedOperation"],
      ["DescribeInstances", "UnauthorizedOperation"],
      ["StopInstances", "ok"],
    ]);
  } finally {
    await fleet.close();
    await ec2.close();
  }
});
