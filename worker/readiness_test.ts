import assert from "node:assert/strict";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { installFakeEc2 } from "../testing/fake_ec2.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { notReadyReason, openReadiness } from "./readiness.ts";

/** A minimal IMDSv2 look-alike naming one instance. */
function serveImds(instanceId: string) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/latest/api/token" && req.method === "PUT") return new Response("token");
    if (path === "/latest/meta-data/instance-id") return new Response(instanceId);
    return new Response("not found", { status: 404 });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("openReadiness on EC2 (mocked EC2 API): a worker that cannot get ready tags its instance with the reason and stops it", async () => {
  // EC2 itself cannot run here: the real Ec2Fleet and SDK client against aws-sdk-client-mock.
  const fake = installFakeEc2();
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    pollIntervalMs: 0,
  });
  try {
    const [me, other] = await fleet.create(2);
    await fleet.start([me.id, other.id]);
    // The stand-in moves a transient state on after it has been seen once.
    await fleet.describe();
    await fleet.describe();
    const imds = serveImds(me.id);
    try {
      const reporter = openReadiness({
        fleet,
        metadata: { baseUrl: imds.url },
        nowMs: () => Date.now(),
      });
      await reporter.notReady(
        notReadyReason(new Deno.errors.NotFound("no gallery at /srv/app/data/faces.gallery")),
      );
      const [failed] = await fleet.describe({ ids: [me.id] });
      assert.ok(failed.state === "stopping" || failed.state === "stopped", failed.state);
      assert.equal(failed.lastExit?.kind, "not_ready");
      assert.equal(failed.lastExit?.reason, "NotFound: no gallery at …/data/faces.gallery");
      assert.equal((await fleet.describe({ ids: [other.id] }))[0].state, "running");

      // Fixed and started again: the ready word replaces the failure.
      await fleet.describe();
      await fleet.start([me.id]);
      await reporter.ready();
      const [ready] = await fleet.describe({ ids: [me.id] });
      assert.equal(ready.lastExit, null);
      assert.ok(ready.readyAtMs! >= ready.lastStartedAtMs!);
    } finally {
      await imds.server.shutdown();
    }
  } finally {
    await fleet.close();
    fake.restore();
  }
});

Deno.test("LocalFleet.reporter (a local worker's readiness) writes into its instance row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "readiness_test_" });
  const fleet = await LocalFleet.open(`${dir}/cloud.db`, {
    command: ["sleep", "60"],
    output: "null",
    stopGraceMs: 1_000,
  });
  try {
    const [w] = await fleet.create(1);
    await fleet.start([w.id]);
    const reporter = LocalFleet.reporter(`${dir}/cloud.db`, w.id);
    assert.equal((await fleet.describe())[0].readyAtMs, null);
    await reporter.ready();
    await reporter.close();
    const [ready] = await fleet.describe();
    assert.ok(ready.readyAtMs! >= ready.lastStartedAtMs!);
    await fleet.terminate([w.id]);
    await fleet.settled();
  } finally {
    await fleet.close();
    await Deno.remove(dir, { recursive: true });
  }
});
