/**
 * `deno task aws status` against s3rver and sqslite (S3 and SQS) and the stand-ins for EC2 and
 * IAM (testing/fake_aws_account.ts): they cannot run here. What only a real account adds: IAM's
 * answers (status with the operator's credentials), eventual consistency right after `up`.
 */
import assert from "node:assert/strict";
import { startEmulators } from "../testing/aws_emulators.ts";
import { CreateLaunchTemplateCommand, EC2Client } from "@aws-sdk/client-ec2";
import { FAKE_AMI, installFakeAccount } from "../testing/fake_aws_account.ts";
import { Ec2Fleet } from "../cloud/aws/ec2_fleet.ts";
import { type AwsOutput, runAws } from "./aws.ts";
import { ensureResources, openBackend } from "./backend.ts";
import { parseServiceConfig, type ServiceConfig, serviceNames } from "./config.ts";

Deno.test({
  name:
    "aws status finds the buckets, queues and app instances that exist, and names what is missing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const emulators = await startEmulators();
    const fake = installFakeAccount();
    const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((k) => [k, Deno.env.get(k)]);
    Deno.env.set("AWS_ACCESS_KEY_ID", emulators.credentials.accessKeyId);
    Deno.env.set("AWS_SECRET_ACCESS_KEY", emulators.credentials.secretAccessKey);
    const id = `st${Date.now().toString(36)}`;
    const endpoints = emulators.flags;
    const lines: string[] = [];
    const errors: string[] = [];
    const out: AwsOutput = { line: (t) => lines.push(t), error: (t) => errors.push(t) };
    try {
      // What `serve` creates, and two of three pool instances of this deployment, plus one of
      // another deployment that status must not count.
      const config = parseServiceConfig("serve", ["--backend", "aws", "--id", id, ...endpoints], {
        env: () => undefined,
      }) as ServiceConfig;
      const backend = await openBackend(config, { fleet: false });
      const names = serviceNames(config);
      await ensureResources(backend, names, config);
      await backend.queue.send(names.requestQueue, "{}");
      await backend.close();
      // The pools launch from their deployments' templates, as `aws up` makes them.
      const ec2 = new EC2Client({ region: "us-east-1" });
      for (const deployment of [id, `${id}-other`]) {
        await ec2.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: `${deployment}-app-template`,
            LaunchTemplateData: { ImageId: FAKE_AMI, InstanceType: "t2.micro" },
            TagSpecifications: [{
              ResourceType: "launch-template",
              Tags: [{ Key: "fr:deployment", Value: deployment }],
            }],
          }),
        );
      }
      ec2.destroy();
      const fleet = (deployment: string) =>
        new Ec2Fleet({
          launch: { launchTemplateName: `${deployment}-app-template` },
          tags: { "fr:deployment": deployment },
          pollIntervalMs: 0,
        });
      const ours = fleet(id);
      await ours.create(2);
      await ours.close();
      const theirs = fleet(`${id}-other`);
      await theirs.create(1);
      await theirs.close();

      const code = await runAws(["status", "--id", id, "--max", "3", ...endpoints], out);
      assert.equal(code, 1, `missing resources make status exit 1: ${errors}`);
      const text = lines.join("\n");
      const row = (name: string) =>
        text.split("\n").find((l) => l.split(/\s+/).includes(name)) ?? `(no row for ${name})`;
      for (const bucket of [names.inBucket, names.outBucket, names.requestsBucket]) {
        assert.match(row(bucket), /^ {2}present .* empty$/, bucket);
      }
      assert.match(row(`${id}-artifacts-bucket`), /^ {2}missing /);
      assert.match(row(names.requestQueue), /present .* 1 visible/);
      assert.match(row(names.deadLetterQueue), /present/);
      assert.match(row("app-tier-instance-1"), /present .* i-[0-9a-f]+ stopped$/);
      assert.match(row("app-tier-instance-2"), /present .* stopped$/);
      assert.match(row("app-tier-instance-3"), /^ {2}missing /);
      // What serve does not create: looked up as down finds it, none there yet.
      for (const name of [`${id}-web-sg`, `${id}-app-role`, "web-instance", `${id}-web-eip`]) {
        assert.match(row(name), /^ {2}missing /, name);
      }
      assert.match(row(`${id}-app-template`), /^ {2}present .* lt-[0-9a-f]+$/);
      assert.match(text, /\d+ present, \d+ missing, 0 not checked$/);
      const launches = fake.ec2.calls.filter((c) => c === "RunInstances").length;
      assert.equal(launches, 2, "status launched nothing (2: the test's own creates)");

      lines.length = 0;
      assert.equal(await runAws(["status", "--id", `${id}-none`, "--json", ...endpoints], out), 1);
      const report = JSON.parse(lines.join("\n"));
      assert.ok(
        report.resources.filter((r: { kind: string }) => r.kind === "sqs-queue")
          .every((r: { state: string }) => r.state === "missing"),
      );
    } finally {
      fake.restore();
      await emulators.stop();
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    }
  },
});
