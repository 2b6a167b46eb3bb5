/**
 * The EC2 query-protocol stand-in (testing/ec2_server.ts) answers the real Ec2Fleet through the
 * real SDK client over HTTP as the mocked client does: the fleet contract passes against it, and
 * errors arrive as EC2's codes. EC2 itself cannot run here.
 */
import assert from "node:assert/strict";
import { fleetContract } from "../cloud/contract/fleet_contract.ts";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { InvalidStateError, NotFoundError, ServiceError } from "../cloud/errors.ts";
import { startEc2Server } from "./ec2_server.ts";

const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

function open(options: { instancesMax?: number; sessionToken?: string } = {}) {
  const transitions: string[] = [];
  const server = startEc2Server({
    model: { onState: (id, from, to) => void transitions.push(`${id} ${from}->${to}`) },
    principalOf: (accessKeyId, token) =>
      token === undefined
        ? { kind: "user", accessKeyId }
        : token === "instance-1"
        ? { kind: "instance", instanceId: "i-00000000000000001" }
        : undefined,
    authorize: (principal, action, ids) =>
      principal.kind === "user" ||
      (["StopInstances", "CreateTags"].includes(action) &&
        ids.every((id) => id === principal.instanceId)),
  });
  const fleet = (sessionToken?: string) =>
    new Ec2Fleet({
      launch: { imageId: "ami-0123456789abcdef0", userData: "#!/bin/sh\necho <hi> & 'bye'" },
      endpoint: server.endpoint,
      credentials: { ...CREDENTIALS, ...(sessionToken ? { sessionToken } : {}) },
      maxAttempts: 1,
      instancesMax: options.instancesMax ?? 6,
      pollIntervalMs: 0,
      tags: { "fr:deployment": "t1" },
    });
  return { transitions, server, fleet };
}

Deno.test("Ec2Fleet keeps the fleet contract against the EC2 query-protocol server", async (t) => {
  await fleetContract(t, {
    name: "Ec2Fleet(HTTP stand-in)",
    instancesMax: 6,
    open: () => {
      const { server, fleet } = open();
      const f = fleet();
      return Promise.resolve({
        fleet: f,
        cleanup: async () => {
          await f.close();
          await server.close();
        },
      });
    },
  });
});

Deno.test("the EC2 stand-in pages, filters by tag, answers EC2's error codes and records who called", async () => {
  const { server, fleet, transitions } = open();
  const web = fleet();
  const instance = fleet("instance-1");
  const stranger = fleet("forged");
  try {
    const created = await web.create(5);
    assert.deepEqual(
      created.map((i) => i.name),
      [1, 2, 3, 4, 5].map((n) => `app-tier-instance-${n}`),
    );
    // Pages of 2: three DescribeInstances per look.
    assert.equal((await web.describe()).length, 5);
    const run = server.calls.find((c) => c.action === "RunInstances");
    assert.ok(run && run.error === undefined);
    // Another deployment's tag sees nothing.
    const other = new Ec2Fleet({
      launch: { imageId: "ami-0123456789abcdef0" },
      endpoint: server.endpoint,
      credentials: CREDENTIALS,
      tags: { "fr:deployment": "t2" },
    });
    assert.deepEqual(await other.describe(), []);
    await other.close();
    await assert.rejects(web.stop(["i-0000000000000abcd"]), NotFoundError);
    // Stopped: a second stop is fine on EC2, a terminate then start is not.
    await web.terminate([created[4].id]);
    await assert.rejects(web.start([created[4].id]), InvalidStateError);
    // An instance's role: its own instance only, and an unknown token is refused.
    await web.start([created[0].id]);
    // A look sees it pending (all of the listing's pages see the same moment); the next, running.
    await web.describe();
    await web.describe();
    await instance.markWorker(created[0].id, { ready: true, atMs: Date.now() });
    await instance.stop([created[0].id]);
    await assert.rejects(
      instance.stop([created[1].id]),
      (e) => e instanceof ServiceError && /UnauthorizedOperation/.test(e.message),
    );
    await assert.rejects(
      stranger.describe(),
      (e) => e instanceof ServiceError && /AuthFailure/.test(e.message),
    );
    const byInstance = server.calls.filter((c) => c.principal?.kind === "instance");
    assert.deepEqual(byInstance.map((c) => [c.action, c.instanceIds, c.error]), [
      ["CreateTags", [created[0].id], undefined],
      ["StopInstances", [created[0].id], undefined],
      ["StopInstances", [created[1].id], "UnauthorizedOperation"],
    ]);
    assert.equal(transitions.at(-1), `${created[0].id} running->stopping`);
    const [mine] = await web.describe({ ids: [created[0].id] });
    assert.ok(mine.readyAtMs !== null, "the worker's tag came back through DescribeInstances");
  } finally {
    await Promise.all([web.close(), instance.close(), stranger.close()]);
    await server.close();
  }
});

Deno.test("Ec2Fleet.create copes with EC2's eventual consistency: new ids unknown for a while after RunInstances", async () => {
  const server = startEc2Server({ propagationCalls: 3 });
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    endpoint: server.endpoint,
    credentials: CREDENTIALS,
    maxAttempts: 1,
    pollIntervalMs: 0,
  });
  try {
    const created = await fleet.create(2);
    assert.deepEqual(created.map((i) => [i.name, i.state]), [
      ["app-tier-instance-1", "stopped"],
      ["app-tier-instance-2", "stopped"],
    ]);
    const notFound = server.calls.filter((c) => c.error === "InvalidInstanceID.NotFound");
    assert.ok(notFound.length > 0, "the stand-in did answer NotFound for the new ids");
  } finally {
    await fleet.close();
    await server.close();
  }
});
