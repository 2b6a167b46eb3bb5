/**
 * EC2 itself cannot run here: these tests drive the real Ec2Fleet and the real SDK client, with
 * aws-sdk-client-mock answering in the EC2 API reference's response shapes
 * (testing/fake_ec2.ts).
 */
import assert from "node:assert/strict";
import { fleetContract } from "../contract/fleet_contract.ts";
import { ServiceError } from "../errors.ts";
import { Ec2Fleet } from "./ec2_fleet.ts";
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { FAKE_PAGE_INSTANCES, installFakeEc2 } from "../../testing/fake_ec2.ts";

const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

Deno.test("Ec2Fleet keeps the fleet contract against a mocked EC2 API", async (t) => {
  await fleetContract(t, {
    name: "Ec2Fleet(aws-sdk-client-mock)",
    instancesMax: 6,
    open: () => {
      const fake = installFakeEc2();
      const fleet = new Ec2Fleet({
        launch: { imageId: "ami-0123456789abcdef0" },
        credentials: CREDENTIALS,
        instancesMax: 6,
        pollIntervalMs: 0,
      });
      return Promise.resolve({ fleet, cleanup: () => Promise.resolve(fake.restore()) });
    },
  });
});

Deno.test("Ec2Fleet.create launches, names, waits for running, then stops", async () => {
  const fake = installFakeEc2();
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0", userData: "#!/bin/sh\necho hi" },
    credentials: CREDENTIALS,
    pollIntervalMs: 0,
  });
  try {
    const created = await fleet.create(FAKE_PAGE_INSTANCES * 2 + 1);
    assert.deepEqual(created.map((i) => i.state), Array(5).fill("stopped"));
    assert.deepEqual(
      created.map((i) => i.name),
      [1, 2, 3, 4, 5].map((n) => `app-tier-instance-${n}`),
    );
    // A stop time comes from StateTransitionReason ("User initiated (... GMT)"), to the second.
    assert.ok(created.every((i) => i.stateChangedAtMs !== null && i.stateChangedAtMs % 1000 === 0));
    const order = fake.calls.filter((c) => c !== "DescribeInstances");
    assert.deepEqual(order, ["RunInstances", ...Array(5).fill("CreateTags"), "StopInstances"]);
    // Five instances over pages of two: describe must have followed NextToken.
    assert.equal((await fleet.describe()).length, 5);
  } finally {
    await fleet.close();
    fake.restore();
  }
});

Deno.test("Ec2Fleet.settled waits out slow stops: afterwards every instance it stopped is stopped", async () => {
  // Real EC2 takes tens of seconds to stop; here a stop stays `stopping` for five looks.
  const fake = installFakeEc2({ transientLooks: 5 });
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: CREDENTIALS,
    pollIntervalMs: 0,
  });
  try {
    const [a, b, untouched] = await fleet.create(3);
    await fleet.start([a.id, b.id]);
    for (let k = 0; k < 6; k++) await fleet.describe(); // running now
    await fleet.stop([a.id, b.id]);
    await fleet.settled();
    const after = await fleet.describe();
    assert.deepEqual(after.map((i) => [i.id, i.state]), [
      [a.id, "stopped"],
      [b.id, "stopped"],
      [untouched.id, "stopped"],
    ]);
  } finally {
    await fleet.close();
    fake.restore();
  }
});

Deno.test("Ec2Fleet.settled gives up after transitionWaitMsMax with a Timeout naming the instances", async () => {
  const fake = installFakeEc2();
  const creator = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: CREDENTIALS,
    pollIntervalMs: 0,
  });
  // Each look at the clock is one second later: the wait runs out after a few polls.
  let nowMs = 0;
  const clock = { nowMs: () => (nowMs += 1_000), sleepMs: () => Promise.resolve() };
  const fleet = new Ec2Fleet({
    launch: { imageId: "ami-0123456789abcdef0" },
    credentials: CREDENTIALS,
    pollIntervalMs: 1_000,
    transitionWaitMsMax: 3_000,
    clock,
  });
  try {
    const [stuck] = await creator.create(1);
    fake.setTransientLooks(Number.MAX_SAFE_INTEGER); // it never leaves `pending`
    await fleet.start([stuck.id]);
    const error = await fleet.settled().then(() => undefined, (e) => e);
    assert.ok(error instanceof ServiceError, `got ${error}`);
    assert.equal(error.serviceCode, "Timeout");
    assert.match(error.message, new RegExp(`${stuck.id}.*transitionWaitMsMax = 3000`));
  } finally {
    await creator.close();
    await fleet.close();
    fake.restore();
  }
});

Deno.test("Ec2Fleet with a launch template sends only the template, and keeps to its deployment's tag", async () => {
  // What the web role's IAM policy (deploy/iam/web-role-policy.json) requires of RunInstances:
  // the template's own image, network and profile (none given here) and the deployment tag on the
  // instance and its volumes at launch. Whether EC2 really evaluates it so needs an account.
  const fake = installFakeEc2();
  const fleet = (id: string) =>
    new Ec2Fleet({
      launch: { launchTemplateName: `${id}-app-template` },
      tags: { "fr:deployment": id },
      credentials: CREDENTIALS,
      pollIntervalMs: 0,
    });
  const a = fleet("a");
  const b = fleet("b");
  try {
    await a.create(2);
    const input = fake.stub.commandCalls(RunInstancesCommand)[0].args[0].input;
    assert.deepEqual(input.LaunchTemplate, { LaunchTemplateName: "a-app-template" });
    for (
      const key of ["ImageId", "InstanceType", "IamInstanceProfile", "UserData", "SecurityGroupIds"]
    ) {
      assert.equal((input as unknown as Record<string, unknown>)[key], undefined, key);
    }
    assert.deepEqual(input.TagSpecifications, [
      {
        ResourceType: "instance",
        Tags: [{ Key: "fr:fleet", Value: "app-tier" }, { Key: "fr:deployment", Value: "a" }],
      },
      { ResourceType: "volume", Tags: [{ Key: "fr:deployment", Value: "a" }] },
    ]);
    assert.equal((await a.describe()).length, 2);
    assert.equal((await b.describe()).length, 0, "another deployment sees none of them");
    await b.create(1);
    assert.deepEqual((await b.describe()).map((i) => i.name), ["app-tier-instance-1"]);
  } finally {
    await a.close();
    await b.close();
    fake.restore();
  }
  assert.throws(
    () => new Ec2Fleet({ launch: { launchTemplateName: "t", imageId: "ami-0123456789abcdef0" } }),
    /holds imageId/,
  );
});
