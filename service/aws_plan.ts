/**
 * What a deployment on AWS consists of, computed without calling AWS: the resources `deno task aws
 * up` creates (named as the original specification requires), the tags they carry, and the IAM
 * documents of its two roles. Bucket and queue names and settings come from what `serve` itself
 * creates (`ensureResources`, run here against a recorder), instance names from the fleet module,
 * so the plan cannot drift from the code that uses the resources.
 * @module
 */
import { type QueueConfig, resolveQueueConfig } from "../cloud/message_queue.ts";
import { instanceName } from "../cloud/fleet.ts";
import { FLEET_DEFAULT, FLEET_TAG } from "../cloud/aws/ec2_fleet.ts";
import { REQUEST_MESSAGE_BYTES_MAX } from "../protocol/mod.ts";
import { ensureResources } from "./backend.ts";
import { type ServiceConfig, serviceNames } from "./config.ts";
import {
  ARTIFACTS_PREFIX,
  awsNames,
  DEPLOYMENT_TAG,
  type IamDocuments,
  iamDocuments,
} from "./aws_iam.ts";
import { ROOT_VOLUME_GIB } from "./aws_cost.ts";

/** The web tier's port (DESIGN.md): the web security group's only inbound rule. */
export const WEB_PORT = 8000;
/** The web instance's name (DESIGN.md). */
export const WEB_INSTANCE_NAME = "web-instance";
/**
 * Canonical's public SSM parameter for the current Ubuntu 24.04 LTS AMI (amd64, gp3 root), looked
 * up by `up` in the deployment's region: a stock image, no AMI baking.
 */
export const UBUNTU_AMI_PARAMETER =
  "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";

/** One resource of the plan. */
export interface PlannedResource {
  /** `s3-bucket`, `sqs-queue`, `security-group`, `iam-role`, `ec2-instance`… */
  readonly kind: string;
  readonly name: string;
  /** What it is for, in a few words. */
  readonly purpose: string;
  /** Its settings as `up` gives them. */
  readonly settings: Readonly<Record<string, string | number | boolean>>;
}

/** A deployment's plan. */
export interface AwsPlan {
  readonly id: string;
  readonly region: string;
  /** Tags every resource carries (instances also get `Name` and the fleet tag). */
  readonly tags: Readonly<Record<string, string>>;
  readonly resources: readonly PlannedResource[];
  /** The roles' documents; `${Account}` is filled by `up`, which knows the account. */
  readonly iam: IamDocuments;
  /** Things to know before `up`. */
  readonly notes: readonly string[];
}

/** The settings a plan reads. */
export type PlanSettings =
  & Pick<
    ServiceConfig,
    "id" | "region" | "instancesMax" | "visibilityTimeoutMs" | "receiveCountMax"
  >
  & {
    readonly aws: Pick<ServiceConfig["aws"], "instanceType" | "webInstanceType" | "ingressCidr">;
  };

/**
 * What `serve`'s `ensureResources` creates, recorded instead of sent: the buckets, and the
 * queues with their settings (`deno task aws up` creates them with these).
 */
export async function ensuredResources(
  settings: PlanSettings,
): Promise<{ buckets: string[]; queues: [string, QueueConfig | undefined][] }> {
  const buckets: string[] = [];
  const queues: [string, QueueConfig | undefined][] = [];
  const recorder = {
    blobs: { ensureBucket: (name: string) => (buckets.push(name), Promise.resolve()) },
    queue: {
      ensureQueue: (
        name: string,
        config?: QueueConfig,
      ) => (queues.push([name, config]), Promise.resolve()),
    },
  } as unknown as Parameters<typeof ensureResources>[0];
  await ensureResources(recorder, serviceNames(settings), settings);
  return { buckets, queues };
}

/** SQS's whole seconds from our milliseconds, rounded up as the SQS adapter does. */
function sqsSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * The plan of a deployment.
 *
 * @param settings id, region, pool size, instance types, CIDR, queue settings
 * @returns every resource, the tags and the IAM documents
 * @throws {InvalidNameError} for a bad id
 * @example
 * ```ts
 * const plan = await awsPlan(parseAwsConfig(["--id", "demo"]) as ServiceConfig);
 * plan.resources.find((r) => r.name === "demo-req-queue")?.settings.MaximumMessageSize; // 1024
 * ```
 */
export async function awsPlan(settings: PlanSettings): Promise<AwsPlan> {
  const { id, region } = settings;
  const names = serviceNames(settings);
  const iam = awsNames(id);
  const tags = { [DEPLOYMENT_TAG]: id };
  const ensured = await ensuredResources(settings);
  const bucketPurpose: Record<string, string> = {
    [names.inBucket]: "uploaded images, keyed by file name",
    [names.outBucket]: "labels, keyed by file stem",
    [names.requestsBucket]: "the web tier's durable request records (pruned after a day)",
  };
  const bucket = (name: string, purpose: string): PlannedResource => ({
    kind: "s3-bucket",
    name,
    purpose,
    settings: {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
      ServerSideEncryption: "AES256 (SSE-S3, default encryption)",
      ...(region === "us-east-1" ? {} : { LocationConstraint: region }),
    },
  });
  const queuePurpose: Record<string, string> = {
    [names.deadLetterQueue]: "requests that failed every delivery (the web tier answers them)",
    [names.requestQueue]: "{id, key} requests, metadata only, never image bytes",
    [names.responseQueue]: "answers to web instance 1 (web instance n: <id>-resp-queue-n)",
  };
  const queue = ([name, config]: [string, QueueConfig | undefined]): PlannedResource => {
    const resolved = resolveQueueConfig(config);
    return {
      kind: "sqs-queue",
      name,
      purpose: queuePurpose[name] ?? "",
      settings: {
        MaximumMessageSize: resolved.messageBytesMax,
        VisibilityTimeout: sqsSeconds(resolved.visibilityTimeoutMs),
        ...(resolved.deadLetter
          ? {
            RedrivePolicy:
              `deadLetterTargetArn ${resolved.deadLetter.queue}, maxReceiveCount ${resolved.deadLetter.receiveCountMax}`,
          }
          : {}),
      },
    };
  };
  const launch = {
    ImageId: `SSM parameter ${UBUNTU_AMI_PARAMETER}`,
    MetadataOptions: "HttpTokens required (IMDSv2), HttpPutResponseHopLimit 1",
    RootVolume: `${ROOT_VOLUME_GIB} GiB gp3, encrypted, deleted with the instance`,
  };
  const instances: PlannedResource[] = [];
  for (let n = 1; n <= settings.instancesMax; n++) {
    instances.push({
      kind: "ec2-instance",
      name: instanceName(n),
      purpose: "an app instance (one worker), created and left stopped: the pool",
      settings: {
        LaunchTemplate: iam.launchTemplate,
        State: "stopped",
        Tags: `Name=${instanceName(n)}, ${FLEET_TAG}=${FLEET_DEFAULT}, ${DEPLOYMENT_TAG}=${id}`,
      },
    });
  }
  const resources: PlannedResource[] = [
    ...ensured.buckets.map((name) => bucket(name, bucketPurpose[name] ?? "")),
    bucket(iam.artifactsBucket, `the packaged worker and web tier, under ${ARTIFACTS_PREFIX}`),
    ...ensured.queues.map(queue),
    {
      kind: "security-group",
      name: iam.webSecurityGroup,
      purpose: "the web instance",
      settings: { Inbound: `tcp ${WEB_PORT} from ${settings.aws.ingressCidr}`, Outbound: "all" },
    },
    {
      kind: "security-group",
      name: iam.appSecurityGroup,
      purpose: "app instances: they only call AWS APIs",
      settings: { Inbound: "none", Outbound: "all" },
    },
    ...(["web", "app"] as const).map((role): PlannedResource => ({
      kind: "iam-role",
      name: role === "web" ? iam.webRole : iam.appRole,
      purpose: role === "web" ? "serve: web tier, controller, dead-letter sweep" : "worker",
      settings: {
        TrustPolicy: `deploy/iam/${role}-role-trust.json`,
        InlinePolicy: `deploy/iam/${role}-role-policy.json`,
      },
    })),
    ...(["web", "app"] as const).map((role): PlannedResource => ({
      kind: "iam-instance-profile",
      name: role === "web" ? iam.webProfile : iam.appProfile,
      purpose: `gives the ${role} instances the role's credentials`,
      settings: { Role: role === "web" ? iam.webRole : iam.appRole },
    })),
    {
      kind: "launch-template",
      name: iam.launchTemplate,
      purpose: "how app instances are launched (the web role may launch only from it)",
      settings: {
        ...launch,
        InstanceType: settings.aws.instanceType,
        SecurityGroup: iam.appSecurityGroup,
        IamInstanceProfile: iam.appProfile,
        UserData:
          "service/user_data.ts: installs the worker from the artifacts, runs it under systemd at every boot",
        TagSpecifications:
          `instance and volume: ${DEPLOYMENT_TAG}=${id}, ${FLEET_TAG}=${FLEET_DEFAULT}`,
      },
    },
    {
      kind: "ec2-instance",
      name: WEB_INSTANCE_NAME,
      purpose: `serve --backend aws --id ${id} --launch-template ${iam.launchTemplate} ` +
        "(web tier and controller), always on",
      settings: {
        ...launch,
        InstanceType: settings.aws.webInstanceType,
        SecurityGroup: iam.webSecurityGroup,
        IamInstanceProfile: iam.webProfile,
        State: "running",
      },
    },
    {
      kind: "elastic-ip",
      name: iam.webAddress,
      purpose: `the web tier's fixed address: http://<address>:${WEB_PORT}/`,
      settings: { AssociatedWith: WEB_INSTANCE_NAME },
    },
    ...instances,
  ];
  return {
    id,
    region,
    tags,
    resources,
    iam: iamDocuments({ id, region, account: "${Account}" }),
    notes: [
      "S3 bucket names are global across all AWS accounts: if another account holds one of these " +
      "names, `up` stops with BucketAlreadyExists and a message naming --id; choose another id.",
      `IAM role and instance profile names are global to the account (every region): ${iam.webRole}, ${iam.appRole}.`,
      `Request messages are at most ${REQUEST_MESSAGE_BYTES_MAX} bytes (protocol/limits.ts): the request queue refuses more.`,
    ],
  };
}

/**
 * What `up` says when S3 refuses a bucket name because another account owns it.
 *
 * @param error what the SDK threw (its `name` is S3's error code)
 * @param bucket the bucket `up` tried to create
 * @param id the deployment id
 * @returns a message naming `--id`, or undefined when the error is something else
 */
export function bucketCollisionMessage(
  error: unknown,
  bucket: string,
  id: string,
): string | undefined {
  if ((error as { name?: string })?.name !== "BucketAlreadyExists") return undefined;
  return `the S3 bucket name ${bucket} is taken by another AWS account (bucket names are global ` +
    `across all accounts), so deployment --id ${id} cannot use it: run again with another --id, ` +
    `e.g. --id ${id}-2; nothing else was created under this name`;
}
