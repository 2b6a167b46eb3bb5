/**
 * The plan of a deployment, computed without AWS. What only a real account can check: that `up`
 * creates exactly these (its SDK calls are tested separately), and that a taken bucket name
 * really comes back as BucketAlreadyExists.
 */
import assert from "node:assert/strict";
import { instanceName } from "../cloud/fleet.ts";
import { REQUEST_MESSAGE_BYTES_MAX } from "../protocol/mod.ts";
import { parseAwsConfig, type ServiceConfig, serviceNames } from "./config.ts";
import { awsPlan, bucketCollisionMessage, WEB_INSTANCE_NAME } from "./aws_plan.ts";
import { DEPLOYMENT_TAG } from "./aws_iam.ts";

const config = (...args: string[]) =>
  parseAwsConfig(["--id", "1234567890", ...args], { env: () => undefined }) as ServiceConfig;

Deno.test("awsPlan names every resource as the specification does, from the modules that own them", async () => {
  const plan = await awsPlan(config());
  const names = serviceNames({ id: "1234567890" });
  const byName = new Map(plan.resources.map((r) => [r.name, r]));
  for (const bucket of [names.inBucket, names.outBucket, names.requestsBucket]) {
    const r = byName.get(bucket);
    assert.equal(r?.kind, "s3-bucket", bucket);
    assert.equal(r.settings.BlockPublicPolicy, true);
    assert.match(String(r.settings.ServerSideEncryption), /AES256/);
  }
  assert.equal(names.inBucket, "1234567890-in-bucket");
  const request = byName.get("1234567890-req-queue");
  assert.equal(request?.settings.MaximumMessageSize, REQUEST_MESSAGE_BYTES_MAX);
  assert.equal(request?.settings.MaximumMessageSize, 1024);
  assert.match(String(request?.settings.RedrivePolicy), /1234567890-req-dlq, maxReceiveCount 3$/);
  assert.equal(byName.get("1234567890-req-dlq")?.kind, "sqs-queue");
  assert.equal(byName.get("1234567890-resp-queue")?.kind, "sqs-queue");
  assert.equal(byName.get(WEB_INSTANCE_NAME)?.settings.State, "running");
  assert.equal(byName.get("1234567890-web-eip")?.settings.AssociatedWith, "web-instance");
  const pool = plan.resources.filter((r) => r.name.startsWith("app-tier-instance-"));
  assert.deepEqual(
    pool.map((r) => r.name),
    Array.from({ length: 15 }, (_, i) => instanceName(i + 1)),
  );
  assert.ok(pool.every((r) => r.settings.State === "stopped"));
  assert.equal(byName.get("1234567890-web-sg")?.settings.Inbound, "tcp 8000 from 0.0.0.0/0");
  assert.equal(byName.get("1234567890-app-sg")?.settings.Inbound, "none");
  for (const name of ["1234567890-web-role", "1234567890-app-role"]) {
    assert.equal(byName.get(name)?.kind, "iam-role");
  }
  assert.equal(byName.get("1234567890-app-profile")?.settings.Role, "1234567890-app-role");
  assert.equal(byName.get("1234567890-app-template")?.kind, "launch-template");
  assert.match(
    String(byName.get("1234567890-app-template")?.settings.TagSpecifications),
    /fr:deployment=1234567890/,
  );
  assert.deepEqual(plan.tags, { [DEPLOYMENT_TAG]: "1234567890" });
  assert.equal(
    new Set(plan.resources.map((r) => r.name)).size,
    plan.resources.length,
    "names are unique",
  );
});

Deno.test("awsPlan follows the settings: pool size, instance types, CIDR, receive count", async () => {
  const plan = await awsPlan(config(
    "--max",
    "3",
    "--instance-type",
    "t3.micro",
    "--web-instance-type",
    "t3.small",
    "--ingress-cidr",
    "203.0.113.0/24",
    "--receive-count-max",
    "5",
    "--region",
    "eu-west-1",
  ));
  const byName = new Map(plan.resources.map((r) => [r.name, r]));
  assert.deepEqual(
    plan.resources.filter((r) => r.name.startsWith("app-tier-")).map((r) => r.name),
    ["app-tier-instance-1", "app-tier-instance-2", "app-tier-instance-3"],
  );
  assert.equal(byName.get("1234567890-app-template")?.settings.InstanceType, "t3.micro");
  assert.equal(byName.get("web-instance")?.settings.InstanceType, "t3.small");
  assert.equal(byName.get("1234567890-web-sg")?.settings.Inbound, "tcp 8000 from 203.0.113.0/24");
  assert.match(
    String(byName.get("1234567890-req-queue")?.settings.RedrivePolicy),
    /maxReceiveCount 5$/,
  );
  assert.equal(byName.get("1234567890-in-bucket")?.settings.LocationConstraint, "eu-west-1");
  assert.match(
    JSON.stringify(plan.iam["app-role-policy"]),
    /arn:aws:sqs:eu-west-1:\$\{Account\}:1234567890-req-queue/,
  );
});

Deno.test("bucketCollisionMessage turns S3's BucketAlreadyExists into a message naming --id", () => {
  const taken = Object.assign(new Error("The requested bucket name is not available"), {
    name: "BucketAlreadyExists",
  });
  const message = bucketCollisionMessage(taken, "demo-in-bucket", "demo");
  assert.match(message ?? "", /demo-in-bucket is taken by another AWS account/);
  assert.match(message ?? "", /--id demo\b.*another --id/);
  // Our own bucket (BucketAlreadyOwnedByYou) and other errors are not a collision.
  assert.equal(
    bucketCollisionMessage({ name: "BucketAlreadyOwnedByYou" }, "demo-in-bucket", "demo"),
    undefined,
  );
  assert.equal(bucketCollisionMessage(new Error("boom"), "demo-in-bucket", "demo"), undefined);
});
