/**
 * The deployment's two IAM roles as policy documents: what the web tier (`serve`: web, controller,
 * dead-letter sweep) and an app instance (`worker`) may do, and nothing more. Generated from the
 * deployment's names (so a renamed bucket cannot leave a stale policy behind) and written, as
 * templates on `${Id}`, `${Region}` and `${Account}`, to `deploy/iam/*.json` for review and for
 * use with the AWS console or CLI (`deno task aws iam --write`; a test fails while they differ).
 *
 * Which actions a role gets comes from which SDK commands its process sends: `SDK_COMMANDS` maps
 * every command the AWS adapters construct to the IAM actions it needs, and
 * `service/aws_iam_test.ts` derives each role's commands from the source (the adapters' methods
 * and the port calls of the role's modules) and compares them with these documents.
 * @module
 */
import { instanceName } from "../cloud/fleet.ts";
import { DEPLOYMENT_TAG } from "../cloud/resource_names.ts";
import { serviceNames } from "./config.ts";

export { DEPLOYMENT_TAG };

/** Tag keys the web role may set on its own instances after launch (`Ec2Fleet.create` names each). */
export const WEB_TAG_KEYS_AFTER_LAUNCH: readonly string[] = ["Name"];
/** Tag keys the app role may set on its own instance (`Ec2Fleet.markWorker`: `fr:worker`). */
export const APP_TAG_KEYS: readonly string[] = ["fr:worker"];

/**
 * Where the condition keys used below are documented (cited in the documents' `_comment`s and in
 * docs/aws.md).
 */
export const IAM_SOURCES = {
  ec2Keys:
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html (condition keys ec2:SourceInstanceARN: the ARN of the instance from which the request originated; ec2:InstanceID; ec2:CreateAction; ec2:LaunchTemplate; ec2:IsLaunchTemplateResource)",
  ec2Policies:
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-policies-for-amazon-ec2.html (resource-level permissions; DescribeInstances supports none, so its Resource must be *)",
  tagOnCreate:
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html (ec2:CreateTags with ec2:CreateAction = RunInstances: tags only at launch)",
  passRole:
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html (iam:PassRole, iam:PassedToService)",
  s3Actions:
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html (HeadObject needs s3:GetObject; multipart uploads need s3:PutObject and s3:AbortMultipartUpload; ListObjectsV2 needs s3:ListBucket)",
} as const;

/**
 * Every SDK command the AWS adapters (`cloud/aws/*.ts`) construct, with the IAM actions it needs.
 * lib-storage's `Upload` is a command too: PutObject for a small body, Create/UploadPart/Complete
 * (all `s3:PutObject`) for a large one, AbortMultipartUpload on failure. `RunInstances` with
 * TagSpecifications and an instance profile also needs `ec2:CreateTags` and `iam:PassRole`.
 * A command no role sends (TerminateInstances, PurgeQueue: operators and tests) is here too, so
 * the scan of the source can tell a new command from a known one.
 */
export const SDK_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  CreateBucketCommand: ["s3:CreateBucket"],
  DeleteObjectCommand: ["s3:DeleteObject"],
  GetObjectCommand: ["s3:GetObject"],
  HeadObjectCommand: ["s3:GetObject"],
  ListObjectsV2Command: ["s3:ListBucket"],
  Upload: ["s3:PutObject", "s3:AbortMultipartUpload"],
  ChangeMessageVisibilityCommand: ["sqs:ChangeMessageVisibility"],
  CreateQueueCommand: ["sqs:CreateQueue"],
  DeleteMessageCommand: ["sqs:DeleteMessage"],
  GetQueueAttributesCommand: ["sqs:GetQueueAttributes"],
  GetQueueUrlCommand: ["sqs:GetQueueUrl"],
  PurgeQueueCommand: ["sqs:PurgeQueue"],
  ReceiveMessageCommand: ["sqs:ReceiveMessage"],
  SendMessageCommand: ["sqs:SendMessage"],
  CreateTagsCommand: ["ec2:CreateTags"],
  DescribeInstancesCommand: ["ec2:DescribeInstances"],
  RunInstancesCommand: ["ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"],
  StartInstancesCommand: ["ec2:StartInstances"],
  StopInstancesCommand: ["ec2:StopInstances"],
  TerminateInstancesCommand: ["ec2:TerminateInstances"],
};

/** Names of a deployment's resources that `serviceNames` (buckets and queues) does not cover. */
export interface AwsNames {
  readonly webRole: string;
  readonly appRole: string;
  readonly webProfile: string;
  readonly appProfile: string;
  readonly launchTemplate: string;
  readonly webSecurityGroup: string;
  readonly appSecurityGroup: string;
  readonly webAddress: string;
  /** Where `up` puts the packaged programs (under {@linkcode ARTIFACTS_PREFIX}). */
  readonly artifactsBucket: string;
}

/** The prefix of the packaged programs in the artifacts bucket. */
export const ARTIFACTS_PREFIX = "releases/";

/**
 * The role, profile, template, security group, address and artifacts bucket names of deployment
 * `id`. IAM names are global to the account (not per region), bucket names to all of S3.
 * @param id the deployment id (validated by `serviceNames`)
 */
export function awsNames(id: string): AwsNames {
  serviceNames({ id });
  return {
    webRole: `${id}-web-role`,
    appRole: `${id}-app-role`,
    webProfile: `${id}-web-profile`,
    appProfile: `${id}-app-profile`,
    launchTemplate: `${id}-app-template`,
    webSecurityGroup: `${id}-web-sg`,
    appSecurityGroup: `${id}-app-sg`,
    webAddress: `${id}-web-eip`,
    artifactsBucket: `${id}-artifacts-bucket`,
  };
}

/** Where a deployment lives. */
export interface IamTarget {
  readonly id: string;
  readonly region: string;
  /** The 12-digit account id, or a template placeholder. */
  readonly account: string;
}

/** One statement of an IAM policy document. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow";
  readonly Action: readonly string[];
  /** Absent in a trust policy (IAM refuses it there). */
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<
    Record<string, Readonly<Record<string, string | readonly string[]>>>
  >;
  readonly Principal?: Readonly<Record<string, string>>;
}

/** An IAM policy document (`_comment` is ours: IAM rejects unknown keys, so `up` strips it). */
export interface PolicyDocument {
  readonly _comment?: readonly string[];
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

/** The documents of one deployment, by file name under `deploy/iam/`. */
export type IamDocuments = Readonly<Record<IamDocumentName, PolicyDocument>>;

/** The file names (without `.json`) of the documents. */
export type IamDocumentName =
  | "web-role-policy"
  | "app-role-policy"
  | "web-role-trust"
  | "app-role-trust";

/** Every document name, in the order `plan` prints them. */
export const IAM_DOCUMENT_NAMES: readonly IamDocumentName[] = [
  "web-role-trust",
  "web-role-policy",
  "app-role-trust",
  "app-role-policy",
];

/**
 * The deployment's IAM documents.
 *
 * @param target the deployment id, region and account
 * @returns the trust and permission policies of the web and app roles
 * @example
 * ```ts
 * const docs = iamDocuments({ id: "demo", region: "us-east-1", account: "123456789012" });
 * docs["app-role-policy"].Statement.length; // 8
 * ```
 */
export function iamDocuments(target: IamTarget): IamDocuments {
  return {
    "web-role-trust": trustPolicy(),
    "web-role-policy": webRolePolicy(target),
    "app-role-trust": trustPolicy(),
    "app-role-policy": appRolePolicy(target),
  };
}

/** A valid id that stands for `${Id}` while generating templates (no real name contains it). */
const TEMPLATE_ID = "iamtemplateid0";

/**
 * The documents as templates on `${Id}`, `${Region}` and `${Account}` (what `deploy/iam/` holds).
 * `${ec2:InstanceID}` is an IAM policy variable, resolved by IAM itself, not by us.
 */
export function iamTemplates(): IamDocuments {
  const docs = iamDocuments({ id: TEMPLATE_ID, region: "${Region}", account: "${Account}" });
  return JSON.parse(JSON.stringify(docs).replaceAll(TEMPLATE_ID, "${Id}"));
}

/**
 * Fills a template's placeholders.
 * @param template a document from {@linkcode iamTemplates} (or its file)
 * @param target the values
 * @throws {RangeError} when a placeholder other than IAM's own variables is left
 */
export function fillTemplate(template: PolicyDocument, target: IamTarget): PolicyDocument {
  serviceNames({ id: target.id });
  const text = JSON.stringify(template)
    .replaceAll("${Id}", target.id)
    .replaceAll("${Region}", target.region)
    .replaceAll("${Account}", target.account);
  const left = /\$\{(?!ec2:InstanceID\})[^}]*\}/.exec(text);
  if (left) throw new RangeError(`placeholder ${left[0]} is not filled`);
  return JSON.parse(text);
}

/** The policy as IAM takes it: our `_comment` removed. */
export function forIam(document: PolicyDocument): Omit<PolicyDocument, "_comment"> {
  const { _comment: _, ...rest } = document;
  return rest;
}

function trustPolicy(): PolicyDocument {
  return {
    _comment: ["Only EC2 may assume this role: it is an instance profile's role."],
    Version: "2012-10-17",
    Statement: [{
      Sid: "Ec2AssumesRole",
      Effect: "Allow",
      Principal: { Service: "ec2.amazonaws.com" },
      Action: ["sts:AssumeRole"],
    }],
  };
}

function arns(target: IamTarget) {
  const names = serviceNames({ id: target.id });
  const { region, account } = target;
  const bucket = (name: string) => `arn:aws:s3:::${name}`;
  const queue = (name: string) => `arn:aws:sqs:${region}:${account}:${name}`;
  return {
    names,
    bucket,
    objects: (name: string) => `${bucket(name)}/*`,
    queue,
    // `<id>-resp-queue` and `<id>-resp-queue-<n>` (extra web processes, `--web-instance n`).
    responseQueues: [queue(names.responseQueue), queue(`${names.responseQueue}-*`)],
    ec2: (type: string) => `arn:aws:ec2:${region}:${account}:${type}/*`,
    image: `arn:aws:ec2:${region}::image/*`,
    // The boot script installs the packaged program from here with the instance's role.
    releases: `${bucket(awsNames(target.id).artifactsBucket)}/${ARTIFACTS_PREFIX}*`,
    tagged: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: target.id },
  };
}

function webRolePolicy(target: IamTarget): PolicyDocument {
  const a = arns(target);
  const { names } = a;
  const iam = awsNames(target.id);
  const allQueues = [
    a.queue(names.requestQueue),
    a.queue(names.deadLetterQueue),
    ...a.responseQueues,
  ];
  return {
    _comment: [
      `The web tier of deployment ${target.id}: serve (web, controller, dead-letter sweep).`,
      "Actions are those the code sends (service/aws_iam_test.ts derives them from the source).",
      `DescribeInstances has no resource-level permissions: its Resource must be *. ${IAM_SOURCES.ec2Policies}`,
      `RunInstances only from a launch template tagged with the deployment, with the template's image and security group, tags only at launch. ${IAM_SOURCES.ec2Keys}; ${IAM_SOURCES.tagOnCreate}`,
      "Name tags after launch: Ec2Fleet.create names each new instance (RunInstances tags all alike).",
      `S3 actions per API call: ${IAM_SOURCES.s3Actions}`,
      `PassRole: ${IAM_SOURCES.passRole}`,
    ],
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CreateOwnBuckets",
        Effect: "Allow",
        Action: ["s3:CreateBucket"],
        Resource: [
          a.bucket(names.inBucket),
          a.bucket(names.outBucket),
          a.bucket(names.requestsBucket),
        ],
      },
      {
        Sid: "ListRequestRecords",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [a.bucket(names.requestsBucket)],
      },
      {
        Sid: "UploadsAndRequestRecords",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:DeleteObject"],
        Resource: [a.objects(names.inBucket), a.objects(names.requestsBucket)],
      },
      {
        Sid: "ReadReleases",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [a.releases],
      },
      {
        Sid: "ReadLabels",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [a.objects(names.outBucket)],
      },
      {
        Sid: "CreateAndWatchOwnQueues",
        Effect: "Allow",
        Action: ["sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
        Resource: allQueues,
      },
      {
        Sid: "SendRequestsAndDeadLetterAnswers",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: [a.queue(names.requestQueue), ...a.responseQueues],
      },
      {
        Sid: "ConsumeAnswersAndDeadLetters",
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
        Resource: [...a.responseQueues, a.queue(names.deadLetterQueue)],
      },
      {
        Sid: "DescribeInstancesHasNoResourceLevelPermissions",
        Effect: "Allow",
        Action: ["ec2:DescribeInstances"],
        Resource: "*",
      },
      {
        Sid: "StartStopOwnInstances",
        Effect: "Allow",
        Action: ["ec2:StartInstances", "ec2:StopInstances"],
        Resource: [a.ec2("instance")],
        Condition: { StringEquals: a.tagged },
      },
      {
        Sid: "RunFromOwnLaunchTemplate",
        Effect: "Allow",
        Action: ["ec2:RunInstances"],
        Resource: [a.ec2("launch-template")],
        Condition: { StringEquals: a.tagged },
      },
      {
        Sid: "RunInstancesTaggedWithDeployment",
        Effect: "Allow",
        Action: ["ec2:RunInstances"],
        Resource: [a.ec2("instance"), a.ec2("volume")],
        Condition: { StringEquals: { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: target.id } },
      },
      {
        // The image and security group must be the template's own (a request cannot override
        // them); Ec2Fleet sends only the template's name, the count and the tags.
        Sid: "RunWithTheTemplatesImageAndGroup",
        Effect: "Allow",
        Action: ["ec2:RunInstances"],
        Resource: [a.image, a.ec2("security-group")],
        Condition: {
          ArnLike: { "ec2:LaunchTemplate": a.ec2("launch-template") },
          Bool: { "ec2:IsLaunchTemplateResource": "true" },
        },
      },
      {
        // The subnet and network interface come from the default VPC when the template names
        // none, so they are not template resources; the launch must still use a template.
        Sid: "RunInTheTemplatesNetwork",
        Effect: "Allow",
        Action: ["ec2:RunInstances"],
        Resource: [a.ec2("subnet"), a.ec2("network-interface")],
        Condition: { ArnLike: { "ec2:LaunchTemplate": a.ec2("launch-template") } },
      },
      {
        Sid: "TagOnlyAtLaunch",
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: [a.ec2("instance"), a.ec2("volume"), a.ec2("network-interface")],
        Condition: { StringEquals: { "ec2:CreateAction": "RunInstances" } },
      },
      {
        Sid: "NameOwnInstancesAfterLaunch",
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: [a.ec2("instance")],
        Condition: {
          StringEquals: a.tagged,
          "ForAllValues:StringEquals": { "aws:TagKeys": WEB_TAG_KEYS_AFTER_LAUNCH },
        },
      },
      {
        Sid: "PassOnlyTheAppRole",
        Effect: "Allow",
        Action: ["iam:PassRole"],
        Resource: [`arn:aws:iam::${target.account}:role/${iam.appRole}`],
        Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
      },
    ],
  };
}

function appRolePolicy(target: IamTarget): PolicyDocument {
  const a = arns(target);
  const { names } = a;
  const ownInstance = `arn:aws:ec2:${target.region}:${target.account}:instance/\${ec2:InstanceID}`;
  return {
    _comment: [
      `An app instance of deployment ${target.id}: one worker (${instanceName(1)}…).`,
      "Actions are those the code sends (service/aws_iam_test.ts derives them from the source).",
      "It never writes the in-bucket or the requests bucket (the worker keeps no records).",
      "It sends to the dead-letter queue itself when a request exceeds its deliveries.",
      `Stop and tag ONLY ITS OWN INSTANCE: ec2:SourceInstanceARN (the instance whose role credentials signed the request) must equal the target instance's ARN, built from the policy variable \${ec2:InstanceID}. ${IAM_SOURCES.ec2Keys}`,
      "Not verifiable here (no AWS account): check with `aws ec2 stop-instances --dry-run` on another instance's id from an app instance (UnauthorizedOperation) and on its own (DryRunOperation).",
    ],
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadReleases",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [a.releases],
      },
      {
        Sid: "ReadUploads",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [a.objects(names.inBucket)],
      },
      {
        // GetObject: the store reads an object's size and time back after a put (HeadObject).
        Sid: "WriteLabels",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"],
        Resource: [a.objects(names.outBucket)],
      },
      {
        Sid: "FindOwnQueues",
        Effect: "Allow",
        Action: ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
        Resource: [
          a.queue(names.requestQueue),
          a.queue(names.deadLetterQueue),
          ...a.responseQueues,
        ],
      },
      {
        Sid: "ConsumeRequests",
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
        Resource: [a.queue(names.requestQueue)],
      },
      {
        Sid: "SendAnswersAndDeadLetters",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: [...a.responseQueues, a.queue(names.deadLetterQueue)],
      },
      {
        Sid: "StopOnlyItself",
        Effect: "Allow",
        Action: ["ec2:StopInstances"],
        Resource: [a.ec2("instance")],
        Condition: {
          ArnEquals: { "ec2:SourceInstanceARN": ownInstance },
          StringEquals: a.tagged,
        },
      },
      {
        Sid: "TagOnlyItselfWithWorkerStatus",
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: [a.ec2("instance")],
        Condition: {
          ArnEquals: { "ec2:SourceInstanceARN": ownInstance },
          StringEquals: a.tagged,
          "ForAllValues:StringEquals": { "aws:TagKeys": APP_TAG_KEYS },
        },
      },
    ],
  };
}
