/**
 * `deno task aws up` and `down` as a user runs them (`runAws`), against s3rver and sqslite for
 * S3 and SQS, and stand-ins for what cannot run here (testing/fake_aws_account.ts): EC2, IAM,
 * SSM, and the three bucket settings s3rver does not implement.
 *
 * Sent to an emulator: HeadBucket, CreateBucket, HeadObject, PutObject (lib-storage), ListObjectsV2,
 * DeleteObjects, DeleteBucket; GetQueueUrl, GetQueueAttributes, CreateQueue, TagQueue, ListQueues,
 * DeleteQueue. Answered by a stand-in, so checked only against the API reference's shapes and
 * error codes: PutPublicAccessBlock, PutBucketEncryption, PutBucketTagging; every EC2 call
 * (DescribeVpcs, Create/Describe/DeleteSecurityGroup(s), Authorize/RevokeSecurityGroupIngress,
 * Create/Describe/Modify/DeleteLaunchTemplate(s), Create/DescribeLaunchTemplateVersion(s),
 * Run/Start/Stop/Terminate/DescribeInstances, CreateTags, Allocate/Describe/Associate/
 * Disassociate/ReleaseAddress(es)); every IAM call (Create/Get/DeleteRole, Put/DeleteRolePolicy,
 * ListRolePolicies, Create/Get/DeleteInstanceProfile, ListInstanceProfileTags,
 * Add/RemoveRoleTo/FromInstanceProfile); SSM GetParameter. Only a real account checks:
 * that IAM accepts the documents' condition keys, that S3 really answers a taken bucket name with
 * 403/BucketAlreadyExists, IAM's propagation delay beyond the modelled one, how long instances
 * take to boot, stop and terminate, and that the boot script installs and runs the package.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GetQueueAttributesCommand, ListQueueTagsCommand } from "@aws-sdk/client-sqs";
import { HeadBucketCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { EC2Client, RunInstancesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import { type Emulators, startEmulators } from "../testing/aws_emulators.ts";
import {
  type BucketSettings,
  FAKE_ACCOUNT,
  FAKE_AMI,
  installFakeAccount,
  standInBucketSettings,
} from "../testing/fake_aws_account.ts";
import { type AwsDeps, type AwsOutput, runAws } from "./aws.ts";
import { awsClients, closeClients } from "./aws_deploy.ts";
import { findDeployment } from "./aws_down.ts";
import { awsPlan } from "./aws_plan.ts";
import { parseAwsConfig, type ServiceConfig } from "./config.ts";
import { packageCommand, type PackageManifest } from "./package.ts";
import { SERVE_UNIT, WORKER_UNIT } from "./user_data.ts";

/** Calls that create or change something; a second `up` sends none of them. */
const CREATING = [
  "TerminateInstances",
  "StopInstances",
  "RevokeSecurityGroupIngress",
  "ModifyLaunchTemplate",
  "CreateRole",
  "CreateInstanceProfile",
  "AddRoleToInstanceProfile",
  "CreateSecurityGroup",
  "AuthorizeSecurityGroupIngress",
  "CreateLaunchTemplate",
  "CreateLaunchTemplateVersion",
  "AllocateAddress",
  "AssociateAddress",
  "RunInstances",
  "StartInstances",
];

interface World {
  emulators: Emulators;
  fake: ReturnType<typeof installFakeAccount>;
  settings: Map<string, BucketSettings>;
  packageDir: string;
  sha256: string;
  /** Runs `deno task aws ...` with the emulators' endpoints appended. */
  aws(
    args: string[],
    deps?: Partial<AwsDeps> & {
      taken?: string[];
      onLine?: (line: string) => void;
      /** The pool's workers never come up (a broken boot script). */
      workersHang?: boolean;
    },
  ): Promise<{ code: number; out: string; err: string }>;
  config(id: string, ...args: string[]): ServiceConfig;
  close(): Promise<void>;
}

/** A package-shaped artifact: the manifest `up` reads and a tarball to upload. */
async function packageFixture(): Promise<{ dir: string; sha256: string }> {
  const root = await Deno.makeTempDir({ prefix: "fr-aws-up-" });
  const dir = join(root, "package");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "worker.js"), "console.log('a worker');\n");
  await Deno.writeTextFile(join(dir, "faces.gallery"), "gallery\n");
  const manifest: PackageManifest = {
    formatVersion: 1,
    deno: "2.9.6",
    commit: "0123abc",
    npm: {},
    programs: {
      worker: { file: "worker.js", command: packageCommand("worker", ["no-legacy-abort"]) },
      serve: { file: "serve.js", command: packageCommand("serve", ["no-legacy-abort"]) },
    },
    files: [{ path: "faces.gallery", bytes: 8, sha256: "0".repeat(64) }],
  };
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  const tar = await new Deno.Command("tar", {
    args: ["-czf", `${dir}.tar.gz`, "-C", root, "package"],
  })
    .output();
  assert.ok(tar.success);
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}.tar.gz`));
  const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  return { dir, sha256 };
}

async function world(options: { profilePropagationLooks?: number } = {}): Promise<World> {
  const emulators = await startEmulators();
  const fake = installFakeAccount(options);
  const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((k) => [k, Deno.env.get(k)]);
  Deno.env.set("AWS_ACCESS_KEY_ID", emulators.credentials.accessKeyId);
  Deno.env.set("AWS_SECRET_ACCESS_KEY", emulators.credentials.secretAccessKey);
  const settings = new Map<string, BucketSettings>();
  const { dir, sha256 } = await packageFixture();
  const endpoints = emulators.flags;
  const config = (id: string, ...args: string[]) =>
    parseAwsConfig(["--id", id, ...args, ...endpoints], { env: () => undefined }) as ServiceConfig;
  return {
    emulators,
    fake,
    settings,
    packageDir: dir,
    sha256,
    config,
    async aws(args, deps = {}) {
      const out: string[] = [];
      const err: string[] = [];
      const output: AwsOutput = {
        line: (t) => {
          out.push(t);
          deps.onLine?.(t);
        },
        error: (t) => err.push(t),
      };
      const withPackage = args[0] === "up" ? ["--package", dir] : [];
      const code = await runAws([...args, ...withPackage, ...endpoints], output, {
        clients: (c) => {
          const clients = awsClients(c);
          standInBucketSettings(clients.s3, deps.taken ?? [], settings);
          return clients;
        },
        // Time passing while up waits is when the pool's workers finish their first boot.
        deploy: {
          pollIntervalMs: 0,
          clock: {
            nowMs: () => Date.now(),
            sleepMs: async () => void (deps.workersHang ? 0 : await fake.bootWorkers()),
          },
          ...deps.deploy,
        },
        interactive: deps.interactive ?? (() => false),
        ask: deps.ask,
      });
      return { code, out: out.join("\n"), err: err.join("\n") };
    },
    async close() {
      fake.restore();
      await emulators.stop();
      await Deno.remove(join(dir, ".."), { recursive: true });
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    },
  };
}

/** `up: created  s3-bucket  name ...` lines as [outcome, kind, name]. */
function reports(out: string): [string, string, string][] {
  return out.split("\n").flatMap((line) => {
    const m = /^up: (\w+)\s+(\S+)\s+(\S+)/.exec(line) ?? /^down: (\w+)\s+(\S+)\s+(\S+)/.exec(line);
    return m && m[1] !== "deployment" && m[1] !== "done" ? [[m[1], m[2], m[3]]] : [];
  });
}

/** What exists of a deployment, as `down` finds it: `kind name` lines, sorted. */
async function inventory(w: World, id: string): Promise<string[]> {
  const clients = awsClients(w.config(id));
  try {
    return (await findDeployment({ id }, clients)).map((r) => `${r.kind} ${r.name}`).sort();
  } finally {
    closeClients(clients);
  }
}

const unique = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

test("aws up creates exactly the plan's resources, configured and tagged; a second run creates nothing", async () => {
  // IAM's propagation delay modelled: EC2 refuses each new profile twice before it knows it.
  const w = await world({ profilePropagationLooks: 2 });
  try {
    const id = unique("up");
    const first = await w.aws(["up", "--id", id, "--max", "2", "--ingress-cidr", "203.0.113.0/24"]);
    assert.equal(first.code, 0, `${first.err}\n${first.out}`);
    const done = reports(first.out);

    // The plan's list equals what up created: every planned resource, nothing else but the
    // package object and the AMI lookup.
    const plan = await awsPlan(w.config(id, "--max", "2"));
    const planned = plan.resources.map((r) => `${r.kind} ${r.name}`).sort();
    const made = done.filter(([, kind]) => kind !== "s3-object" && kind !== "ssm-parameter");
    assert.deepEqual(made.map(([, kind, name]) => `${kind} ${name}`).sort(), planned);
    assert.ok(made.every(([outcome]) => outcome === "created"), first.out);
    assert.deepEqual(
      done.filter(([, kind]) => kind === "s3-object").map(([o, , n]) => `${o} ${n}`),
      [`created ${id}-artifacts-bucket/releases/${w.sha256}.tar.gz`],
    );
    assert.deepEqual(await inventory(w, id), planned);
    assert.match(first.out, /answers at http:\/\/203\.0\.113\.\d+:8000\//);

    // S3: real buckets in s3rver, with the settings s3rver cannot keep recorded beside.
    const clients = awsClients(w.config(id));
    try {
      for (const suffix of ["in", "out", "requests", "artifacts"]) {
        const bucket = `${id}-${suffix}-bucket`;
        await clients.s3.send(new HeadBucketCommand({ Bucket: bucket }));
        const s = w.settings.get(bucket);
        assert.deepEqual(Object.values(s?.publicAccessBlock ?? {}), [true, true, true, true]);
        assert.match(JSON.stringify(s?.encryption), /"SSEAlgorithm":"AES256"/);
        assert.deepEqual(s?.tags, [{ Key: "fr:deployment", Value: id }]);
      }
      const object = await clients.s3.send(
        new HeadObjectCommand({
          Bucket: `${id}-artifacts-bucket`,
          Key: `releases/${w.sha256}.tar.gz`,
        }),
      );
      assert.equal(object.ContentLength, (await Deno.stat(`${w.packageDir}.tar.gz`)).size);
      // SQS: sqslite's queues with the request queue's 1 KB limit and redrive, tagged.
      const url = `${w.emulators.sqsEndpoint}/queues/${id}-req-queue`;
      const attributes = (await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }),
      )).Attributes ?? {};
      assert.equal(attributes.MaximumMessageSize, "1024");
      assert.match(
        attributes.RedrivePolicy ?? "",
        new RegExp(`${id}-req-dlq.*"maxReceiveCount":3`),
      );
      const tags = await clients.sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
      assert.deepEqual(tags.Tags, { "fr:deployment": id });
    } finally {
      closeClients(clients);
    }

    // IAM: the deploy/iam documents, filled for the account, as IAM takes them.
    const state = w.fake.state();
    for (const role of ["web", "app"]) {
      const r = state.roles.get(`${id}-${role}-role`);
      assert.deepEqual(r?.tags, [{ Key: "fr:deployment", Value: id }]);
      const policy = JSON.parse(r!.policies.get("fr-deployment")!);
      assert.equal(policy._comment, undefined);
      assert.ok(JSON.stringify(policy).includes(`:${FAKE_ACCOUNT}:${id}-req-queue`));
      assert.deepEqual(state.profiles.get(`${id}-${role}-profile`)?.roles, [`${id}-${role}-role`]);
    }
    // EC2: groups, template, web instance with its address, the stopped pool.
    const web = state.groups.find((g) => g.GroupName === `${id}-web-sg`);
    assert.deepEqual(
      web?.IpPermissions.map((p) => `${p.FromPort} ${p.IpRanges[0].CidrIp}`),
      ["8000 203.0.113.0/24"],
    );
    assert.deepEqual(state.groups.find((g) => g.GroupName === `${id}-app-sg`)?.IpPermissions, []);
    const template = state.templates.find((t) => t.LaunchTemplateName === `${id}-app-template`);
    const data = template?.versions[0] as Record<string, never>;
    assert.equal(data.ImageId, FAKE_AMI);
    assert.deepEqual(data.MetadataOptions, {
      HttpTokens: "required",
      HttpPutResponseHopLimit: 1,
      HttpEndpoint: "enabled",
    });
    const workerBoot = atob(data.UserData);
    assert.ok(workerBoot.includes(`s3://${id}-artifacts-bucket/releases/${w.sha256}.tar.gz`));
    assert.ok(workerBoot.includes(`${w.sha256}  package.tar.gz`));
    assert.ok(workerBoot.includes(`systemctl enable --now ${WORKER_UNIT}`));
    // cloud-init runs it at every boot, so a stop during the first one is repaired by a start.
    assert.match(workerBoot, /^Content-Type: text\/x-shellscript-per-boot;/m);
    assert.match(
      workerBoot,
      /'worker\.js' .*'--backend' 'aws' '--id' '[^']+'.*'--gallery' 'faces\.gallery'/,
    );
    const webRun = w.fake.ec2.stub.commandCalls(RunInstancesCommand)
      .map((c) => c.args[0].input)
      .find((i) => i.LaunchTemplate === undefined);
    const webBoot = atob(webRun?.UserData ?? "");
    assert.ok(webBoot.includes(`systemctl enable --now ${SERVE_UNIT}`));
    assert.match(
      webBoot,
      new RegExp(`'serve\\.js' .*'--max' '2'.*'--launch-template' '${id}-app-template'`),
    );
    const instances = w.fake.ec2.instances().filter((i) =>
      i.Tags.some((t) => t.Key === "fr:deployment" && t.Value === id)
    );
    const byName = new Map(instances.map((i) => [i.Tags.find((t) => t.Key === "Name")?.Value, i]));
    assert.equal(byName.get("web-instance")?.State.Name, "running");
    assert.equal(byName.get("app-tier-instance-1")?.State.Name, "stopped");
    assert.match(first.out, /app-tier-instance-1 +i-[0-9a-f]+ stopped; ready \d{4}-/);
    assert.equal(byName.get("app-tier-instance-2")?.State.Name, "stopped");
    assert.equal(instances.length, 3);
    const eip = state.addresses.find((a) => a.Tags.some((t) => t.Value === id));
    assert.equal(eip?.InstanceId, byName.get("web-instance")?.InstanceId);

    // status sees all of it.
    const status = await w.aws(["status", "--id", id, "--max", "2"]);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, new RegExp(`${planned.length} present, 0 missing, 0 not checked$`));

    // The second run: everything exists, and not one creating call is sent.
    const callsBefore = w.fake.calls.length;
    const ec2Before = w.fake.ec2.calls.length;
    const second = await w.aws([
      "up",
      "--id",
      id,
      "--max",
      "2",
      "--ingress-cidr",
      "203.0.113.0/24",
    ]);
    assert.equal(second.code, 0, second.err);
    const again = reports(second.out).filter(([, kind]) => kind !== "ssm-parameter");
    assert.ok(again.every(([outcome]) => outcome === "exists"), second.out);
    assert.equal(again.length, done.length - 1);
    const sent = [...w.fake.calls.slice(callsBefore), ...w.fake.ec2.calls.slice(ec2Before)];
    assert.deepEqual(sent.filter((c) => CREATING.includes(c)), [], sent.join(" "));
    assert.deepEqual(await inventory(w, id), planned);

    // A new package: uploaded beside the old one, a new default template version naming it; the
    // web instance, stopped by hand meanwhile, is started again.
    await Deno.writeTextFile(join(w.packageDir, "worker.js"), "console.log('a new worker');\n");
    const tar = await new Deno.Command("tar", {
      args: ["-czf", `${w.packageDir}.tar.gz`, "-C", join(w.packageDir, ".."), "package"],
    }).output();
    assert.ok(tar.success);
    const ec2 = new EC2Client({ region: "us-east-1" });
    try {
      await ec2.send(
        new StopInstancesCommand({ InstanceIds: [byName.get("web-instance")!.InstanceId] }),
      );
    } finally {
      ec2.destroy();
    }
    const third = await w.aws(["up", "--id", id, "--max", "2", "--ingress-cidr", "203.0.113.0/24"]);
    assert.equal(third.code, 0, third.err);
    const outcomes = new Map(reports(third.out).map(([o, kind, name]) => [`${kind} ${name}`, o]));
    assert.equal(outcomes.get(`launch-template ${id}-app-template`), "updated");
    assert.equal(outcomes.get("ec2-instance web-instance"), "started");
    const newKey = [...outcomes.keys()].find((k) => k.startsWith("s3-object"))!.split("/").at(-1);
    assert.notEqual(newKey, `${w.sha256}.tar.gz`);
    assert.equal(outcomes.get(`s3-object ${id}-artifacts-bucket/releases/${newKey}`), "created");
    const updated = w.fake.state().templates.find((t) =>
      t.LaunchTemplateName === `${id}-app-template`
    )!;
    assert.equal(updated.defaultVersion, 2);
    assert.ok(atob((updated.versions[1] as { UserData: string }).UserData).includes(newKey!));
  } finally {
    await w.close();
  }
});

test("aws up stopped after any step, or failing inside one, completes when run again", async () => {
  const w = await world();
  try {
    const reference = unique("ref");
    assert.equal((await w.aws(["up", "--id", reference, "--max", "1"])).code, 0);
    const steps = reports((await w.aws(["up", "--id", reference, "--max", "1"])).out).length;
    const expected = (await inventory(w, reference)).map((l) => l.replace(reference, "ID"));
    for (let k = 1; k < steps; k++) {
      const id = unique(`k${k}x`);
      const abort = new AbortController();
      let lines = 0;
      const stopped = await w.aws(["up", "--id", id, "--max", "1"], {
        deploy: { signal: abort.signal },
        onLine: (line) => {
          if (line.startsWith("up: ") && ++lines === k + 1) abort.abort(new Error("killed"));
        },
      });
      assert.equal(stopped.code, 1, `stopped after step ${k}`);
      assert.match(stopped.err, /run the same command again to go on/);
      const rerun = await w.aws(["up", "--id", id, "--max", "1"]);
      assert.equal(rerun.code, 0, `after step ${k}: ${rerun.err}`);
      assert.deepEqual(
        (await inventory(w, id)).map((l) => l.replaceAll(id, "ID")),
        expected.map((l) => l.replaceAll(reference, "ID")),
        `after step ${k}`,
      );
      const pool = w.fake.ec2.instances().filter((i) =>
        i.Tags.some((t) => t.Value === id) && i.Tags.some((t) => t.Key === "fr:fleet")
      );
      assert.equal(pool.length, 1, `one pool instance after step ${k}`);
    }
    // Inside a step: the role is created, then the connection drops before its policy is put.
    const id = unique("mid");
    w.fake.failNext(
      "PutRolePolicy",
      Object.assign(new Error("socket hang up"), { name: "TimeoutError" }),
    );
    const failed = await w.aws(["up", "--id", id, "--max", "1"]);
    assert.equal(failed.code, 1);
    assert.match(failed.err, /TimeoutError: socket hang up/);
    assert.equal(w.fake.state().roles.get(`${id}-web-role`)?.policies.size, 0);
    assert.equal((await w.aws(["up", "--id", id, "--max", "1"])).code, 0);
    assert.equal(w.fake.state().roles.get(`${id}-web-role`)?.policies.size, 1);

    // The profile is created, then adding its role fails.
    const profiled = unique("prof");
    w.fake.failNext(
      "AddRoleToInstanceProfile",
      Object.assign(new Error("Rate exceeded"), { name: "Throttling" }),
    );
    assert.equal((await w.aws(["up", "--id", profiled, "--max", "1"])).code, 1);
    assert.deepEqual(w.fake.state().profiles.get(`${profiled}-web-profile`)?.roles, []);
    assert.equal((await w.aws(["up", "--id", profiled, "--max", "1"])).code, 0);
    assert.deepEqual(w.fake.state().profiles.get(`${profiled}-web-profile`)?.roles, [
      `${profiled}-web-role`,
    ]);

    // Killed inside the pool step, after RunInstances (which tags all instances alike) and
    // before Ec2Fleet named and stopped them: the rerun names and stops the stray, and launches
    // only the rest.
    const pooled = unique("pool");
    const abort = new AbortController();
    await w.aws(["up", "--id", pooled, "--max", "2"], {
      deploy: { signal: abort.signal },
      onLine: (line) => line.includes(" elastic-ip ") && abort.abort(),
    });
    const ec2 = new EC2Client({ region: "us-east-1" });
    try {
      await ec2.send(
        new RunInstancesCommand({
          LaunchTemplate: { LaunchTemplateName: `${pooled}-app-template` },
          MinCount: 1,
          MaxCount: 1,
          TagSpecifications: [{
            ResourceType: "instance",
            Tags: [{ Key: "fr:fleet", Value: "app-tier" }, { Key: "fr:deployment", Value: pooled }],
          }],
        }),
      );
    } finally {
      ec2.destroy();
    }
    assert.equal((await w.aws(["up", "--id", pooled, "--max", "2"])).code, 0);
    const pool = w.fake.ec2.instances().filter((i) =>
      i.Tags.some((t) => t.Value === pooled) && i.Tags.some((t) => t.Key === "fr:fleet")
    );
    assert.deepEqual(
      pool.map((i) => `${i.Tags.find((t) => t.Key === "Name")?.Value} ${i.State.Name}`).sort(),
      ["app-tier-instance-1 stopped", "app-tier-instance-2 stopped"],
    );
  } finally {
    await w.close();
  }
});

test("aws down deletes everything up created and nothing of another deployment", async () => {
  const w = await world();
  try {
    const [a, b] = [unique("a"), unique("b")];
    for (const id of [a, b]) assert.equal((await w.aws(["up", "--id", id, "--max", "2"])).code, 0);
    // What a running deployment adds: objects, and an extra web process's response queue.
    const clients = awsClients(w.config(a));
    try {
      const { S3BlobStore, SqsMessageQueue } = await import("../cloud/aws/mod.ts");
      const store = new S3BlobStore({ client: clients.s3 });
      for (let n = 0; n < 3; n++) {
        await store.put(`${a}-in-bucket`, `test_${n}.jpg`, new Blob(["jpeg"]).stream());
      }
      for (const id of [a, b]) {
        await new SqsMessageQueue({ client: clients.sqs }).ensureQueue(`${id}-resp-queue-2`);
      }
    } finally {
      closeClients(clients);
    }
    const before = await inventory(w, b);
    const all = await inventory(w, a);
    assert.ok(all.includes(`sqs-queue ${a}-resp-queue-2`));

    const down = await w.aws(["down", "--id", a, "--yes"]);
    assert.equal(down.code, 0, down.err);
    const deleted = reports(down.out).map(([, kind, name]) => `${kind} ${name}`).sort();
    assert.deepEqual(deleted, all);
    assert.match(down.out, /s3-bucket\s+\S+-in-bucket\s+3 objects/);
    assert.deepEqual(await inventory(w, a), []);
    assert.deepEqual(await inventory(w, b), before, "the other deployment is untouched");
    const state = w.fake.state();
    assert.ok(![...state.roles.keys()].some((r) => r.startsWith(`${a}-`)));
    assert.equal(state.addresses.length, 1);
    assert.ok(
      w.fake.ec2.instances().filter((i) => i.Tags.some((t) => t.Value === a))
        .every((i) => i.State.Name === "terminated"),
    );
    assert.ok(
      w.fake.ec2.instances().filter((i) => i.Tags.some((t) => t.Value === b))
        .every((i) => i.State.Name !== "terminated"),
    );

    const again = await w.aws(["down", "--id", a, "--yes"]);
    assert.equal(again.code, 0);
    assert.match(again.out, /nothing of deployment \S+ exists/);
  } finally {
    await w.close();
  }
});

test("aws down asks first: refuses without a terminal, deletes nothing on another answer, resumes when stopped", async () => {
  const w = await world();
  try {
    const id = unique("ask");
    assert.equal((await w.aws(["up", "--id", id, "--max", "1"])).code, 0);
    const all = await inventory(w, id);
    const piped = await w.aws(["down", "--id", id]);
    assert.equal(piped.code, 2);
    assert.match(piped.err, /not a terminal.*--yes/);
    const no = await w.aws(["down", "--id", id], { interactive: () => true, ask: () => "no" });
    assert.equal(no.code, 1);
    assert.match(no.out, /nothing deleted/);
    assert.deepEqual(await inventory(w, id), all);

    const abort = new AbortController();
    let deletedLines = 0;
    const stopped = await w.aws(["down", "--id", id], {
      interactive: () => true,
      ask: (question) => (assert.match(question, new RegExp(id)), id),
      deploy: { signal: abort.signal },
      onLine: (line) => {
        if (line.startsWith("down: deleted") && ++deletedLines === 4) abort.abort();
      },
    });
    assert.equal(stopped.code, 1);
    const left = await inventory(w, id);
    assert.ok(left.length > 0 && left.length < all.length, left.join(", "));
    assert.equal((await w.aws(["down", "--id", id, "--yes"])).code, 0);
    assert.deepEqual(await inventory(w, id), []);
  } finally {
    await w.close();
  }
});

test("aws up waits for the pool's first boot, and stops and names an instance whose worker never came up", async () => {
  const w = await world();
  try {
    const id = unique("boot");
    const result = await w.aws(["up", "--id", id, "--max", "2"], {
      workersHang: true,
      deploy: { poolBootWaitMsMax: 200, pollIntervalMs: 20 },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.err,
      /app-tier-instance-1 \(i-[0-9a-f]+\), app-tier-instance-2 \(i-[0-9a-f]+\) did not finish the first boot within 200 ms.*get-console-output/,
    );
    const pool = w.fake.ec2.instances().filter((i) =>
      i.Tags.some((t) => t.Value === id) && i.Tags.some((t) => t.Key === "fr:fleet")
    );
    assert.deepEqual(pool.map((i) => i.State.Name), ["stopping", "stopping"]);
    // Once the boot works (a fixed package), the rerun replaces them (an instance launched by
    // an older `up` ran a once-only boot script; a per-boot one would also finish at a start).
    const rerun = await w.aws(["up", "--id", id, "--max", "2"]);
    assert.equal(rerun.code, 0, rerun.err);
    assert.deepEqual(
      reports(rerun.out).filter(([, kind]) => kind === "ec2-instance").map(([o, , n]) =>
        `${o} ${n}`
      ),
      [
        "exists web-instance",
        "deleted app-tier-instance-1",
        "deleted app-tier-instance-2",
        "created app-tier-instance-1",
        "created app-tier-instance-2",
      ],
    );
    const live = w.fake.ec2.instances().filter((i) =>
      i.Tags.some((t) => t.Value === id) && i.Tags.some((t) => t.Key === "fr:fleet") &&
      i.State.Name !== "terminated" && i.State.Name !== "shutting-down"
    );
    assert.deepEqual(live.map((i) => i.State.Name), ["stopped", "stopped"]);
    assert.ok(live.every((i) => i.Tags.some((t) => t.Key === "fr:worker")));
  } finally {
    await w.close();
  }
});

test("aws up stops with a message naming --id when another account owns a bucket name", async () => {
  const w = await world();
  try {
    const id = unique("taken");
    const result = await w.aws(["up", "--id", id], { taken: [`${id}-out-bucket`] });
    assert.equal(result.code, 1);
    assert.match(result.err, new RegExp(`${id}-out-bucket is taken by another AWS account`));
    assert.match(result.err, /another --id/);
    assert.equal(result.err.split("\n").length, 1);
    // It stopped there: only the bucket before it exists.
    assert.deepEqual(await inventory(w, id), [`s3-bucket ${id}-in-bucket`]);
  } finally {
    await w.close();
  }
});

test("aws up and down follow the CLI conventions: --help, unknown flags, --dry-run", async () => {
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAws(args, { line: (t) => out.push(t), error: (t) => err.push(t) });
    return { code, out: out.join("\n"), err };
  };
  for (const sub of ["up", "down"]) {
    for (const help of ["--help", "-h"]) {
      const r = await run(sub, help);
      assert.equal(r.code, 0);
      assert.match(r.out, /deno task aws down --id ID/);
    }
    const bad = await run(sub, "--id", "demo", "--bogus");
    assert.equal(bad.code, 2);
    assert.equal(bad.err.length, 1);
    assert.match(bad.err[0], /--bogus/);
  }
  const yesOnUp = await run("up", "--id", "demo", "--yes");
  assert.equal(yesOnUp.code, 2);
  assert.match(yesOnUp.err[0], /--yes/);
  const dry = await run("up", "--id", "demo", "--max", "2", "--dry-run");
  assert.equal(dry.code, 0);
  assert.match(dry.out, /This is a plan: nothing was called/);
});
