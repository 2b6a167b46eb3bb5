/**
 * `deno task aws` as a user runs it. `plan` calls nothing, so it runs fully here; `up` and `down`
 * are tested against the emulators and stand-ins in aws_updown_test.ts.
 */
import assert from "node:assert/strict";
import { type AwsOutput, runAws } from "./aws.ts";
import { IAM_DOCUMENT_NAMES } from "./aws_iam.ts";
import { instanceName } from "../cloud/fleet.ts";

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: AwsOutput = { line: (t) => out.push(t), error: (t) => err.push(t) };
  const code = await runAws(args, output);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("aws plan --id 1234567890 lists every resource, the 1 KB limit, every IAM document and the cost", async () => {
  const { code, out, err } = await run("plan", "--id", "1234567890");
  assert.equal(code, 0, err);
  for (
    const name of [
      "1234567890-in-bucket",
      "1234567890-out-bucket",
      "1234567890-requests-bucket",
      "1234567890-artifacts-bucket",
      "1234567890-req-queue",
      "1234567890-req-dlq",
      "1234567890-resp-queue",
      "1234567890-web-sg",
      "1234567890-app-sg",
      "1234567890-web-role",
      "1234567890-app-role",
      "1234567890-web-profile",
      "1234567890-app-profile",
      "1234567890-app-template",
      "1234567890-web-eip",
      "web-instance",
      ...Array.from({ length: 15 }, (_, i) => instanceName(i + 1)),
    ]
  ) assert.match(out, new RegExp(`^  ${name} `, "m"), name);
  assert.match(out, /1234567890-req-queue .*\n.*MaximumMessageSize=1024;/);
  assert.match(out, /fr:deployment=1234567890/);
  assert.match(out, /bucket names are global/);
  for (const name of IAM_DOCUMENT_NAMES) assert.match(out, new RegExp(`^--- ${name}$`, "m"));
  // Every printed document parses as JSON.
  const documents = out.split(/^--- [a-z-]+$/m).slice(1).map((part) =>
    part.split("\n\nMonthly")[0]
  );
  assert.equal(documents.length, IAM_DOCUMENT_NAMES.length);
  for (const text of documents) assert.equal(JSON.parse(text).Version, "2012-10-17");
  assert.match(out, /idle: \$\d+\.\d\d a month/);
  assert.match(out, /workload burst:100 every 1h \(730 runs a month\)/);
  assert.match(out, /total: \$\d+\.\d\d–\$\d+\.\d\d a month/);
});

Deno.test("aws plan --json is one object with the resources, the documents and the cost", async () => {
  const { code, out } = await run(
    "plan",
    "--id",
    "demo",
    "--max",
    "2",
    "--json",
    "--workload",
    "burst:10",
    "--every",
    "2h",
  );
  assert.equal(code, 0);
  const plan = JSON.parse(out);
  assert.equal(plan.id, "demo");
  assert.ok(plan.resources.some((r: { name: string }) => r.name === "app-tier-instance-2"));
  assert.ok(!plan.resources.some((r: { name: string }) => r.name === "app-tier-instance-3"));
  assert.deepEqual(Object.keys(plan.iam).sort(), [...IAM_DOCUMENT_NAMES].sort());
  assert.equal(plan.cost.workload.runsPerMonth, 365);
  assert.equal(plan.cost.workload.perRun.requests, 10);
  assert.ok(plan.cost.monthlyUsd.low > plan.cost.idle.usd);
});

Deno.test("aws refuses a missing --id, a bad setting, an unknown subcommand, another subcommand's flag", async () => {
  const noId = await run("plan");
  assert.equal(noId.code, 2);
  assert.match(noId.err, /--id: required/);
  const bad = await run("plan", "--id", "demo", "--ingress-cidr", "10.0.0.0/33");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--ingress-cidr: must be an IPv4 CIDR/);
  const other = await run("plan", "--id", "demo", "--port", "8001");
  assert.match(other.err, /--port: only/);
  assert.equal((await run("deploy")).code, 2);
  const up = await run("up", "--id", "demo", "--workload", "burst:10");
  assert.equal(up.code, 2);
  assert.match(up.err, /--workload/);
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.out, /--web-instance-type T/);
});

Deno.test("deno task aws plan runs from deno.json", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "aws", "plan", "--id", "1234567890", "--json"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  const plan = JSON.parse(new TextDecoder().decode(result.stdout));
  assert.equal(
    plan.resources.find((r: { name: string }) => r.name === "1234567890-req-queue").settings
      .MaximumMessageSize,
    1024,
  );
});
