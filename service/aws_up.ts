/**
 * `deno task aws up`: creates a deployment's resources, exactly the plan's (`awsPlan`), in an
 * order that satisfies their dependencies. Idempotent and resumable: each step first looks for
 * its resource (by name, and for EC2 by the `fr:deployment` tag) and creates only what is
 * missing, so a second run creates nothing and a run stopped anywhere completes when run again.
 * Settings that are cheap to re-apply (public access block, encryption, tags, role policies,
 * ingress rules) are put every run, which also repairs drift.
 * @module
 */
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
} from "@aws-sdk/client-s3";
import { GetQueueUrlCommand, TagQueueCommand } from "@aws-sdk/client-sqs";
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  type Instance as Ec2Instance,
  type IpPermission,
  ModifyLaunchTemplateCommand,
  type RequestLaunchTemplateData,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { FLEET_TAG, S3BlobStore, SqsMessageQueue } from "../cloud/aws/mod.ts";
import { FLEET_DEFAULT, WORKER_TAG } from "../cloud/aws/ec2_fleet.ts";
import { NotFoundError, ServiceError } from "../cloud/errors.ts";
import { instanceName, instanceNumber } from "../cloud/fleet.ts";
import type { QueueConfig } from "../cloud/message_queue.ts";
import { sha256Hex } from "../model/model_store.ts";
import { ROOT_VOLUME_GIB } from "./aws_cost.ts";
import {
  type AwsClients,
  deploymentFilter,
  deploymentTags,
  type DeployOptions,
  INSTANCE_WAIT_MS_MAX,
  isError,
  LIVE_INSTANCE_STATES,
  nameOf,
  type Outcome,
  PROFILE_PROPAGATION_WAIT_MS_MAX,
  retrying,
  type StepReport,
  waitUntil,
} from "./aws_deploy.ts";
import {
  ARTIFACTS_PREFIX,
  awsNames,
  DEPLOYMENT_TAG,
  fillTemplate,
  forIam,
  type IamDocumentName,
  type PolicyDocument,
} from "./aws_iam.ts";
import {
  type AwsPlan,
  awsPlan,
  bucketCollisionMessage,
  ensuredResources,
  UBUNTU_AMI_PARAMETER,
  WEB_INSTANCE_NAME,
  WEB_PORT,
} from "./aws_plan.ts";
import { type ServiceConfig, workerFlags } from "./config.ts";
import {
  buildPackage,
  PACKAGE_DIR_DEFAULT,
  PACKAGE_GALLERY_FILE,
  type PackageManifest,
} from "./package.ts";
import { packageUserData } from "./user_data.ts";

/** Where deploy/iam/ is: `up` gives IAM these reviewed files, filled for the deployment. */
const IAM_DIR = new URL("../deploy/iam/", import.meta.url);

/** The largest package `up` uploads (`deno task package` makes about 20 MB). */
export const ARTIFACT_BYTES_MAX = 512 * 1024 * 1024;

/** The name of each role's inline policy. */
export const ROLE_POLICY_NAME = "fr-deployment";

/** What `up` did and where the web tier answers. */
export interface UpResult {
  readonly reports: readonly StepReport[];
  /** `http://<Elastic IP>:8000/`. */
  readonly url: string;
}

/** Options for {@linkcode deployUp}. */
export interface UpOptions extends DeployOptions {
  /** The package folder (its tarball is `DIR.tar.gz`); built when missing. @default {out/package} */
  readonly packageDir?: string;
  /** How long new pool instances get for their first boot. @default {POOL_BOOT_WAIT_MS_MAX} */
  readonly poolBootWaitMsMax?: number;
}

/**
 * How long a new pool instance gets for its first boot (installing the AWS CLI, Deno and the
 * package, then the worker's start, its ready report and its self-stop): 20 min.
 */
export const POOL_BOOT_WAIT_MS_MAX = 1_200_000;

/** A deployment stopped because S3 bucket names collide with another account's. */
export class BucketTakenError extends Error {
  override name = "BucketTakenError";
}

/** The package `up` uploads, as the instances' boot scripts name it. */
interface Artifact {
  readonly bucket: string;
  readonly key: string;
  readonly sha256: string;
  readonly manifest: PackageManifest;
}

/**
 * Creates whatever of the deployment is missing.
 *
 * @param config the deployment's settings (id, region, pool size, instance types, CIDR…)
 * @param clients the SDK clients (`awsClients(config)`)
 * @param options progress, interruption, waiting, the package folder
 * @returns every step's report and the web tier's URL
 * @throws {BucketTakenError} when another account owns one of the bucket names
 * @throws the SDK's error of a call AWS refused (the run can be repeated once it is fixed)
 */
export async function deployUp(
  config: ServiceConfig,
  clients: AwsClients,
  options: UpOptions = {},
): Promise<UpResult> {
  const plan = await awsPlan(config);
  const run = new UpRun(config, plan, clients, options);
  return await run.all();
}

/** Instances EC2 refuses because a new instance profile has not reached it yet. */
function profileNotYetVisible(error: unknown): boolean {
  return isError(error, "InvalidParameterValue") &&
      /instance profile|iamInstanceProfile/i.test((error as Error).message) ||
    /Invalid IAM Instance Profile/i.test((error as Error)?.message ?? "");
}

const IMDS_V2 = { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" };
const ROOT_VOLUME = [{
  DeviceName: "/dev/sda1",
  Ebs: {
    VolumeSize: ROOT_VOLUME_GIB,
    VolumeType: "gp3",
    Encrypted: true,
    DeleteOnTermination: true,
  },
}];

class UpRun {
  readonly #config: ServiceConfig;
  readonly #plan: AwsPlan;
  readonly #c: AwsClients;
  readonly #options: UpOptions;
  readonly #names: ReturnType<typeof awsNames>;
  readonly #reports: StepReport[] = [];
  #account: string | undefined;
  #ami: string | undefined;
  #artifact: Artifact | undefined;
  #vpc: string | undefined;
  readonly #groups = new Map<string, string>();
  #webInstanceId: string | undefined;
  #url = "";

  constructor(config: ServiceConfig, plan: AwsPlan, clients: AwsClients, options: UpOptions) {
    this.#config = config;
    this.#plan = plan;
    this.#c = clients;
    this.#options = options;
    this.#names = awsNames(config.id);
  }

  async all(): Promise<UpResult> {
    const ensured = await ensuredResources(this.#config);
    const queues = new Map(ensured.queues);
    let poolDone = false;
    for (const r of this.#plan.resources) {
      this.#options.signal?.throwIfAborted();
      if (r.kind === "s3-bucket") await this.#bucket(r.name);
      else if (r.kind === "sqs-queue") await this.#queue(r.name, queues.get(r.name));
      else if (r.kind === "security-group") await this.#securityGroup(r.name);
      else if (r.kind === "iam-role") await this.#role(r.name);
      else if (r.kind === "iam-instance-profile") {
        await this.#profile(r.name, String(r.settings.Role));
      } else if (r.kind === "launch-template") await this.#launchTemplate(r.name);
      else if (r.kind === "ec2-instance" && r.name === WEB_INSTANCE_NAME) await this.#webInstance();
      else if (r.kind === "elastic-ip") await this.#address(r.name);
      else if (r.kind === "ec2-instance" && !poolDone) {
        await this.#pool();
        poolDone = true;
      } else if (r.kind !== "ec2-instance") {
        throw new TypeError(`up cannot create a ${r.kind} (${r.name}): the plan grew a new kind`);
      }
    }
    return { reports: this.#reports, url: this.#url };
  }

  #report(kind: string, name: string, outcome: Outcome, detail = ""): void {
    const report = { kind, name, outcome, detail };
    this.#reports.push(report);
    this.#options.progress?.(report);
  }

  get #id(): string {
    return this.#config.id;
  }

  // --- S3 ---------------------------------------------------------------------------------

  async #bucket(bucket: string): Promise<void> {
    let outcome: Outcome = "exists";
    try {
      await this.#c.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata
        ?.httpStatusCode;
      if (status === 403) {
        // HEAD has no body: 403 is a bucket of that name we may not read, another account's.
        throw new BucketTakenError(
          bucketCollisionMessage({ name: "BucketAlreadyExists" }, bucket, this.#id)!,
        );
      }
      if (!isError(error, "NotFound", "NoSuchBucket")) throw error;
      outcome = await this.#createBucket(bucket);
    }
    await this.#c.s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          IgnorePublicAcls: true,
          BlockPublicPolicy: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
    await this.#c.s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
        },
      }),
    );
    await this.#c.s3.send(
      new PutBucketTaggingCommand({
        Bucket: bucket,
        Tagging: { TagSet: deploymentTags(this.#id) },
      }),
    );
    this.#report("s3-bucket", bucket, outcome, "public access blocked, SSE-S3");
    if (bucket === this.#names.artifactsBucket) await this.#upload();
  }

  async #createBucket(bucket: string): Promise<Outcome> {
    const { region } = this.#config;
    try {
      await this.#c.s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          // us-east-1 is S3's default location and must not be named.
          ...(region === "us-east-1"
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
        }),
      );
      return "created";
    } catch (error) {
      if (isError(error, "BucketAlreadyOwnedByYou")) return "exists";
      const taken = bucketCollisionMessage(error, bucket, this.#id);
      if (taken !== undefined) throw new BucketTakenError(taken, { cause: error });
      throw error;
    }
  }

  /** The package into `<id>-artifacts-bucket/releases/<sha256>.tar.gz`, once. */
  async #upload(): Promise<void> {
    const dir = this.#options.packageDir ?? PACKAGE_DIR_DEFAULT;
    const tarball = `${dir}.tar.gz`;
    let manifest: PackageManifest;
    try {
      manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
      await Deno.stat(tarball);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.#report("package", tarball, "created", "not found: building it (deno task package)");
      manifest = (await buildPackage({ outDir: dir, log: () => {} })).manifest;
    }
    const sha256 = await sha256Hex(await Deno.readFile(tarball));
    const bucket = this.#names.artifactsBucket;
    const key = `${ARTIFACTS_PREFIX}${sha256}.tar.gz`;
    const store = new S3BlobStore({ client: this.#c.s3, objectBytesMax: ARTIFACT_BYTES_MAX });
    let outcome: Outcome = "exists";
    try {
      await store.head(bucket, key);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      using file = await Deno.open(tarball);
      await store.put(bucket, key, file.readable);
      outcome = "created";
    }
    this.#artifact = { bucket, key, sha256, manifest };
    this.#report("s3-object", `${bucket}/${key}`, outcome, `package of ${manifest.commit}`);
  }

  // --- SQS --------------------------------------------------------------------------------

  async #queue(queue: string, config: QueueConfig | undefined): Promise<void> {
    let url: string | undefined;
    try {
      url = (await this.#c.sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl;
    } catch (error) {
      if (!isError(error, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")) {
        throw error;
      }
    }
    const outcome: Outcome = url === undefined ? "created" : "exists";
    if (url === undefined) {
      // The port's own creation: the same attributes `serve` would give it.
      await new SqsMessageQueue({ client: this.#c.sqs }).ensureQueue(queue, config);
      url = (await this.#c.sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl;
    }
    await this.#c.sqs.send(
      new TagQueueCommand({ QueueUrl: url, Tags: { [DEPLOYMENT_TAG]: this.#id } }),
    );
    this.#report("sqs-queue", queue, outcome);
  }

  // --- IAM --------------------------------------------------------------------------------

  async #document(name: IamDocumentName): Promise<string> {
    const template: PolicyDocument = JSON.parse(
      await Deno.readTextFile(new URL(`${name}.json`, IAM_DIR)),
    );
    const filled = fillTemplate(template, {
      id: this.#id,
      region: this.#config.region,
      account: this.#account ?? "${Account}",
    });
    return JSON.stringify(forIam(filled));
  }

  async #role(role: string): Promise<void> {
    const which = role === this.#names.webRole ? "web" : "app";
    let arn: string | undefined;
    let outcome: Outcome = "exists";
    try {
      arn = (await this.#c.iam.send(new GetRoleCommand({ RoleName: role }))).Role?.Arn;
    } catch (error) {
      if (!isError(error, "NoSuchEntity")) throw error;
    }
    if (arn === undefined) {
      try {
        arn = (await this.#c.iam.send(
          new CreateRoleCommand({
            RoleName: role,
            AssumeRolePolicyDocument: await this.#document(`${which}-role-trust`),
            Description: `face recognition ${which} tier of deployment ${this.#id}`,
            Tags: deploymentTags(this.#id),
          }),
        )).Role?.Arn;
        outcome = "created";
      } catch (error) {
        if (!isError(error, "EntityAlreadyExists")) throw error;
        arn = (await this.#c.iam.send(new GetRoleCommand({ RoleName: role }))).Role?.Arn;
      }
    }
    // The account is in the role's ARN (arn:aws:iam::<account>:role/<name>): no STS call needed.
    this.#account = /^arn:aws[\w-]*:iam::(\d{12}):/.exec(arn ?? "")?.[1];
    if (this.#account === undefined) throw new Error(`IAM answered an unexpected role ARN ${arn}`);
    await this.#c.iam.send(
      new PutRolePolicyCommand({
        RoleName: role,
        PolicyName: ROLE_POLICY_NAME,
        PolicyDocument: await this.#document(`${which}-role-policy`),
      }),
    );
    this.#report("iam-role", role, outcome, `policy deploy/iam/${which}-role-policy.json`);
  }

  async #profile(profile: string, role: string): Promise<void> {
    let roles: string[] | undefined;
    let outcome: Outcome = "exists";
    try {
      const found = await this.#c.iam.send(
        new GetInstanceProfileCommand({ InstanceProfileName: profile }),
      );
      roles = (found.InstanceProfile?.Roles ?? []).map((r) => r.RoleName ?? "");
    } catch (error) {
      if (!isError(error, "NoSuchEntity")) throw error;
    }
    if (roles === undefined) {
      try {
        await this.#c.iam.send(
          new CreateInstanceProfileCommand({
            InstanceProfileName: profile,
            Tags: deploymentTags(this.#id),
          }),
        );
        outcome = "created";
      } catch (error) {
        if (!isError(error, "EntityAlreadyExists")) throw error;
      }
      roles = [];
    }
    if (!roles.includes(role)) {
      if (roles.length > 0) {
        throw new Error(
          `instance profile ${profile} holds role ${roles[0]}, not ${role}: remove it ` +
            `(aws iam remove-role-from-instance-profile) or run deno task aws down --id ${this.#id}`,
        );
      }
      await this.#c.iam.send(
        new AddRoleToInstanceProfileCommand({ InstanceProfileName: profile, RoleName: role }),
      );
    }
    this.#report("iam-instance-profile", profile, outcome, `role ${role}`);
  }

  // --- EC2 --------------------------------------------------------------------------------

  async #defaultVpc(): Promise<string> {
    if (this.#vpc !== undefined) return this.#vpc;
    const vpcs = await this.#c.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
    );
    const vpc = vpcs.Vpcs?.[0]?.VpcId;
    if (vpc === undefined) {
      throw new Error(
        `${this.#config.region} has no default VPC; create one with \`aws ec2 create-default-vpc\``,
      );
    }
    return this.#vpc = vpc;
  }

  async #findGroup(name: string, vpc: string) {
    const found = await this.#c.ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [{ Name: "group-name", Values: [name] }, { Name: "vpc-id", Values: [vpc] }],
      }),
    );
    return found.SecurityGroups?.[0];
  }

  async #securityGroup(name: string): Promise<void> {
    const vpc = await this.#defaultVpc();
    const web = name === this.#names.webSecurityGroup;
    let group = await this.#findGroup(name, vpc);
    let outcome: Outcome = "exists";
    if (group === undefined) {
      try {
        await this.#c.ec2.send(
          new CreateSecurityGroupCommand({
            GroupName: name,
            Description: web
              ? `web tier of face recognition ${this.#id}: tcp ${WEB_PORT} only`
              : `app instances of face recognition ${this.#id}: no inbound`,
            VpcId: vpc,
            TagSpecifications: [{ ResourceType: "security-group", Tags: deploymentTags(this.#id) }],
          }),
        );
        outcome = "created";
      } catch (error) {
        if (!isError(error, "InvalidGroup.Duplicate")) throw error;
      }
      group = await this.#findGroup(name, vpc);
    }
    const groupId = group?.GroupId;
    if (groupId === undefined) throw new Error(`security group ${name} vanished after creation`);
    this.#groups.set(name, groupId);
    // Exactly the planned inbound rules: the web port from --ingress-cidr, or none.
    const wanted: IpPermission[] = web
      ? [{
        IpProtocol: "tcp",
        FromPort: WEB_PORT,
        ToPort: WEB_PORT,
        IpRanges: [{ CidrIp: this.#config.aws.ingressCidr }],
      }]
      : [];
    const key = (p: IpPermission) =>
      (p.IpRanges ?? []).map((r) => `${p.IpProtocol} ${p.FromPort}-${p.ToPort} ${r.CidrIp}`);
    const have = (group?.IpPermissions ?? []).flatMap((p) =>
      (p.IpRanges ?? []).map((r) => ({ ...p, IpRanges: [{ CidrIp: r.CidrIp }] }))
    );
    const other = (group?.IpPermissions ?? []).filter((p) =>
      (p.UserIdGroupPairs ?? []).length > 0 || (p.Ipv6Ranges ?? []).length > 0 ||
      (p.PrefixListIds ?? []).length > 0
    );
    const wantedKeys = new Set(wanted.flatMap(key));
    const extra = [
      ...have.filter((p) => !wantedKeys.has(key(p)[0])),
      ...other.map((p) => ({ ...p, IpRanges: [] })),
    ];
    const haveKeys = new Set(have.flatMap(key));
    const missing = wanted.filter((p) => !haveKeys.has(key(p)[0]));
    if (extra.length > 0) {
      await this.#c.ec2.send(
        new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: extra }),
      );
    }
    if (missing.length > 0) {
      try {
        await this.#c.ec2.send(
          new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: missing }),
        );
      } catch (error) {
        if (!isError(error, "InvalidPermission.Duplicate")) throw error;
      }
    }
    if (outcome === "exists" && (extra.length > 0 || missing.length > 0)) outcome = "updated";
    this.#report(
      "security-group",
      name,
      outcome,
      `${groupId}; inbound ${
        web ? `tcp ${WEB_PORT} from ${this.#config.aws.ingressCidr}` : "none"
      }`,
    );
  }

  async #imageId(): Promise<string> {
    if (this.#ami !== undefined) return this.#ami;
    const out = await this.#c.ssm.send(new GetParameterCommand({ Name: UBUNTU_AMI_PARAMETER }));
    const ami = out.Parameter?.Value;
    if (ami === undefined || !/^ami-[0-9a-f]{8,17}$/.test(ami)) {
      throw new Error(`SSM parameter ${UBUNTU_AMI_PARAMETER} holds ${ami}, not an AMI id`);
    }
    this.#report("ssm-parameter", UBUNTU_AMI_PARAMETER, "exists", ami);
    return this.#ami = ami;
  }

  /** The settings instances run with: the package's gallery when it carries one. */
  #instanceConfig(): ServiceConfig {
    const hasGallery = this.#artifact!.manifest.files.some((f) => f.path === PACKAGE_GALLERY_FILE);
    return {
      ...this.#config,
      backend: "aws",
      gallery: hasGallery ? PACKAGE_GALLERY_FILE : undefined,
    };
  }

  #userData(program: "worker" | "serve"): string {
    const artifact = this.#artifact;
    if (artifact === undefined) throw new Error("the package was not uploaded before launching");
    const config = this.#instanceConfig();
    const c = this.#config;
    const serveArgs = [
      ...workerFlags(config),
      "--max",
      String(c.instancesMax),
      "--tick-ms",
      String(c.tickMs),
      "--receive-count-max",
      String(c.receiveCountMax),
      "--launch-template",
      this.#names.launchTemplate,
    ];
    const script = packageUserData(config, {
      bucket: artifact.bucket,
      key: artifact.key,
      sha256: artifact.sha256,
      command: artifact.manifest.programs[program].command,
      denoVersion: artifact.manifest.deno,
      program,
      ...(program === "serve" ? { args: serveArgs } : {}),
    });
    return btoa(String.fromCharCode(...new TextEncoder().encode(script)));
  }

  /** What app instances (the template) and the web instance are launched with. */
  async #launchSettings(tier: "app" | "web") {
    const app = tier === "app";
    return {
      ImageId: await this.#imageId(),
      InstanceType:
        (app ? this.#config.aws.instanceType : this.#config.aws.webInstanceType) as never,
      IamInstanceProfile: { Name: app ? this.#names.appProfile : this.#names.webProfile },
      SecurityGroupIds: [
        this.#groups.get(app ? this.#names.appSecurityGroup : this.#names.webSecurityGroup)!,
      ],
      MetadataOptions: IMDS_V2 as never,
      BlockDeviceMappings: ROOT_VOLUME as never,
      UserData: this.#userData(app ? "worker" : "serve"),
    };
  }

  async #templateData(): Promise<RequestLaunchTemplateData> {
    return {
      ...await this.#launchSettings("app"),
      TagSpecifications: [
        {
          ResourceType: "instance",
          Tags: [...deploymentTags(this.#id), { Key: FLEET_TAG, Value: FLEET_DEFAULT }],
        },
        { ResourceType: "volume", Tags: deploymentTags(this.#id) },
      ],
    };
  }

  async #launchTemplate(name: string): Promise<void> {
    const data = await this.#templateData();
    let outcome: Outcome;
    try {
      await this.#c.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }));
      const current = await this.#c.ec2.send(
        new DescribeLaunchTemplateVersionsCommand({
          LaunchTemplateName: name,
          Versions: ["$Default"],
        }),
      );
      const have = current.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
      if (contains(have, data)) outcome = "exists";
      else {
        // A new package, AMI or setting: a new default version (new pool instances use it).
        await this.#c.ec2.send(
          new CreateLaunchTemplateVersionCommand({
            LaunchTemplateName: name,
            LaunchTemplateData: data,
          }),
        );
        const versions = await this.#c.ec2.send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateName: name,
            Versions: ["$Latest"],
          }),
        );
        await this.#c.ec2.send(
          new ModifyLaunchTemplateCommand({
            LaunchTemplateName: name,
            DefaultVersion: String(versions.LaunchTemplateVersions?.[0]?.VersionNumber),
          }),
        );
        outcome = "updated";
      }
    } catch (error) {
      if (!isError(error, "InvalidLaunchTemplateName.NotFoundException")) throw error;
      try {
        await this.#c.ec2.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: name,
            LaunchTemplateData: data,
            TagSpecifications: [{
              ResourceType: "launch-template",
              Tags: deploymentTags(this.#id),
            }],
          }),
        );
        outcome = "created";
      } catch (error) {
        if (!isError(error, "InvalidLaunchTemplateName.AlreadyExistsException")) throw error;
        outcome = "exists";
      }
    }
    this.#report("launch-template", name, outcome, `${data.ImageId}, ${data.InstanceType}`);
  }

  async #describeLive(filters: { Name: string; Values: string[] }[]): Promise<Ec2Instance[]> {
    const out: Ec2Instance[] = [];
    let token: string | undefined;
    do {
      const page = await this.#c.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            deploymentFilter(this.#id),
            { Name: "instance-state-name", Values: LIVE_INSTANCE_STATES },
            ...filters,
          ],
          NextToken: token,
        }),
      );
      for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      token = page.NextToken;
    } while (token);
    return out;
  }

  async #webInstance(): Promise<void> {
    const byName = [{ Name: "tag:Name", Values: [WEB_INSTANCE_NAME] }];
    let [instance] = await this.#describeLive(byName);
    let outcome: Outcome = "exists";
    if (instance === undefined) {
      const settings = await this.#launchSettings("web");
      const out = await retrying(
        () =>
          this.#c.ec2.send(
            new RunInstancesCommand({
              ...settings,
              MinCount: 1,
              MaxCount: 1,
              TagSpecifications: [
                { ResourceType: "instance", Tags: deploymentTags(this.#id, WEB_INSTANCE_NAME) },
                { ResourceType: "volume", Tags: deploymentTags(this.#id) },
              ],
            }),
          ),
        profileNotYetVisible,
        PROFILE_PROPAGATION_WAIT_MS_MAX,
        this.#options,
      );
      instance = out.Instances![0];
      outcome = "created";
    } else if (instance.State?.Name === "stopped" || instance.State?.Name === "stopping") {
      // Stopped by hand: started again (a stopping one once it has stopped).
      const stoppingId = instance.InstanceId!;
      await waitUntil(
        () => this.#describeLive([{ Name: "instance-id", Values: [stoppingId] }]),
        (found) => found[0]?.State?.Name === "stopped",
        `${WEB_INSTANCE_NAME} ${stoppingId} stopped`,
        INSTANCE_WAIT_MS_MAX,
        this.#options,
      );
      await this.#c.ec2.send(new StartInstancesCommand({ InstanceIds: [stoppingId] }));
      outcome = "started";
    }
    const id = instance.InstanceId!;
    this.#webInstanceId = id;
    await waitUntil(
      () => this.#describeLive([{ Name: "instance-id", Values: [id] }]),
      (found) => found[0]?.State?.Name === "running",
      `${WEB_INSTANCE_NAME} ${id} running`,
      INSTANCE_WAIT_MS_MAX,
      this.#options,
    );
    this.#report("ec2-instance", WEB_INSTANCE_NAME, outcome, `${id} running`);
  }

  async #address(name: string): Promise<void> {
    const found = await this.#c.ec2.send(
      new DescribeAddressesCommand({ Filters: [deploymentFilter(this.#id)] }),
    );
    let address = found.Addresses?.[0];
    let outcome: Outcome = "exists";
    if (address === undefined) {
      const out = await this.#c.ec2.send(
        new AllocateAddressCommand({
          Domain: "vpc",
          TagSpecifications: [{ ResourceType: "elastic-ip", Tags: deploymentTags(this.#id, name) }],
        }),
      );
      address = { AllocationId: out.AllocationId, PublicIp: out.PublicIp };
      outcome = "created";
    }
    if (address.InstanceId !== this.#webInstanceId) {
      await this.#c.ec2.send(
        new AssociateAddressCommand({
          AllocationId: address.AllocationId,
          InstanceId: this.#webInstanceId,
        }),
      );
      if (outcome === "exists") outcome = "updated";
    }
    this.#url = `http://${address.PublicIp}:${WEB_PORT}/`;
    this.#report("elastic-ip", name, outcome, `${address.PublicIp} → ${WEB_INSTANCE_NAME}`);
  }

  /**
   * `app-tier-instance-1..max`, launched from the template and left stopped. Each is left to
   * finish its first boot. The boot script runs at every boot and finishes a cut-short install
   * (`packageUserData`), so this wait is not needed for correctness any more; it buys a warm pool
   * (the first burst does not wait for snap, Deno and the package) and proof that the boot
   * script, the package and the app role work. The worker, once installed and ready, finds the
   * queue idle and stops its own instance; `up` waits for that for at most `poolBootWaitMsMax`,
   * then stops what is still booting and fails naming it.
   */
  async #pool(): Promise<void> {
    const pool = () => this.#describeLive([{ Name: `tag:${FLEET_TAG}`, Values: [FLEET_DEFAULT] }]);
    const reported = (i: Ec2Instance) => i.Tags?.some((t) => t.Key === WORKER_TAG) ?? false;
    let found = (await pool()).filter((i) => i.State?.Name !== "shutting-down");
    // Stopped before their worker ever reported: a first boot cut short. The per-boot script
    // would finish it at the next start, but one launched by an older `up` ran its boot script
    // once only: replaced, which is right for both.
    const unfinished = found.filter((i) =>
      (i.State?.Name === "stopped" || i.State?.Name === "stopping") && !reported(i)
    );
    if (unfinished.length > 0) {
      await this.#c.ec2.send(
        new TerminateInstancesCommand({ InstanceIds: unfinished.map((i) => i.InstanceId!) }),
      );
      for (const i of unfinished) {
        this.#report(
          "ec2-instance",
          nameOf(i) || i.InstanceId!,
          "deleted",
          `${i.InstanceId} never finished its first boot; launching another`,
        );
      }
      found = found.filter((i) => !unfinished.includes(i));
    }
    // The lowest free numbers, so the pool is app-tier-instance-1..max.
    const used = new Set(found.map((i) => instanceNumber(nameOf(i))));
    const nextNumber = () => {
      let n = 1;
      while (used.has(n)) n++;
      used.add(n);
      return n;
    };
    // Launched by a run stopped before it named them (RunInstances tags all alike).
    for (const i of found.filter((i) => nameOf(i) === "")) {
      await this.#nameInstance(i.InstanceId!, nextNumber());
    }
    for (const i of found) {
      if (nameOf(i) !== "") {
        this.#report("ec2-instance", nameOf(i), "exists", `${i.InstanceId} ${i.State?.Name}`);
      }
    }
    const missing = this.#config.instancesMax - found.length;
    const launched: string[] = [];
    if (missing > 0) {
      const out = await retrying(
        () =>
          this.#c.ec2.send(
            new RunInstancesCommand({
              LaunchTemplate: { LaunchTemplateName: this.#names.launchTemplate },
              MinCount: missing,
              MaxCount: missing,
              TagSpecifications: [
                {
                  ResourceType: "instance",
                  Tags: [...deploymentTags(this.#id), { Key: FLEET_TAG, Value: FLEET_DEFAULT }],
                },
                { ResourceType: "volume", Tags: deploymentTags(this.#id) },
              ],
            }),
          ),
        profileNotYetVisible,
        PROFILE_PROPAGATION_WAIT_MS_MAX,
        this.#options,
      );
      for (const i of out.Instances ?? []) {
        await this.#nameInstance(i.InstanceId!, nextNumber());
        launched.push(i.InstanceId!);
      }
    }
    // First boots in progress: never reported by their worker, and not stopped yet.
    const booting = (await pool()).filter((i) =>
      (i.State?.Name === "pending" || i.State?.Name === "running") && !reported(i)
    ).map((i) => i.InstanceId!);
    const waitMsMax = this.#options.poolBootWaitMsMax ?? POOL_BOOT_WAIT_MS_MAX;
    try {
      found = await waitUntil(
        pool,
        (all) =>
          all.filter((i) => booting.includes(i.InstanceId!))
            .every((i) => i.State?.Name === "stopped"),
        "the pool's first boot",
        waitMsMax,
        this.#options,
      );
    } catch (error) {
      if (!(error instanceof ServiceError && error.serviceCode === "Timeout")) throw error;
      found = await pool();
      const stuck = found.filter((i) =>
        booting.includes(i.InstanceId!) && i.State?.Name === "running"
      );
      if (stuck.length === 0) throw error;
      await this.#c.ec2.send(
        new StopInstancesCommand({ InstanceIds: stuck.map((i) => i.InstanceId!) }),
      );
      throw new Error(
        `${stuck.map((i) => `${nameOf(i)} (${i.InstanceId})`).join(", ")} did not finish ` +
          `the first boot within ${waitMsMax} ms (their worker did not report and stop its ` +
          `instance); stopped them. See \`aws ec2 get-console-output --instance-id ` +
          `${stuck[0]?.InstanceId}\``,
      );
    }
    for (const i of found.filter((i) => launched.includes(i.InstanceId!))) {
      const worker = i.Tags?.find((t) => t.Key === WORKER_TAG)?.Value ?? "no report";
      this.#report("ec2-instance", nameOf(i), "created", `${i.InstanceId} stopped; ${worker}`);
    }
  }

  async #nameInstance(id: string, n: number): Promise<void> {
    await this.#c.ec2.send(
      new CreateTagsCommand({ Resources: [id], Tags: [{ Key: "Name", Value: instanceName(n) }] }),
    );
  }
}

/** Every field of `wanted` is in `have` with the same value (EC2 may add fields of its own). */
export function contains(have: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) {
    return Array.isArray(have) && have.length === wanted.length &&
      wanted.every((w, i) => contains(have[i], w));
  }
  if (typeof wanted === "object" && wanted !== null) {
    if (typeof have !== "object" || have === null) return false;
    return Object.entries(wanted).every(([k, v]) =>
      contains((have as Record<string, unknown>)[k], v)
    );
  }
  return have === wanted;
}
