/**
 * `deno task aws down`: finds what belongs to a deployment and deletes exactly that. EC2
 * resources (instances, the Elastic IP, the launch template, security groups) are found by the
 * `fr:deployment` tag, since their names (`web-instance`, `app-tier-instance-n`) repeat across
 * deployments; buckets, queues, roles and instance profiles by the names only this deployment id
 * makes, and roles and profiles only when they carry its tag. Resumable: what is already gone
 * is skipped, so a run stopped anywhere completes when run again.
 * @module
 */
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { DeleteQueueCommand, GetQueueUrlCommand, ListQueuesCommand } from "@aws-sdk/client-sqs";
import {
  DeleteLaunchTemplateCommand,
  DeleteSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSecurityGroupsCommand,
  DisassociateAddressCommand,
  ReleaseAddressCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  ListInstanceProfileTagsCommand,
  ListRolePoliciesCommand,
  RemoveRoleFromInstanceProfileCommand,
  type Tag,
} from "@aws-sdk/client-iam";
import {
  type AwsClients,
  deploymentFilter,
  type DeployOptions,
  GROUP_RELEASE_WAIT_MS_MAX,
  INSTANCE_WAIT_MS_MAX,
  isError,
  LIST_PAGES_MAX,
  LIVE_INSTANCE_STATES,
  nameOf,
  retrying,
  type StepReport,
  waitUntil,
} from "./aws_deploy.ts";
import { awsNames, DEPLOYMENT_TAG } from "./aws_iam.ts";
import { type ServiceConfig, serviceNames } from "./config.ts";

/** One resource of a deployment that exists. */
export interface FoundResource {
  readonly kind: string;
  readonly name: string;
  /** The EC2 id, queue URL or ARN. */
  readonly id: string;
}

/** S3's most keys per DeleteObjects call. */
export const DELETE_OBJECTS_KEYS_MAX = 1000;

/** Ours, when IAM tags say so. */
function taggedWith(tags: Tag[] | undefined, id: string): boolean {
  return (tags ?? []).some((t) => t.Key === DEPLOYMENT_TAG && t.Value === id);
}

/**
 * What exists of a deployment, in the order `down` deletes it.
 *
 * @param config the deployment's id and region
 * @param clients the SDK clients
 * @returns each resource found, with its id
 */
export async function findDeployment(
  config: Pick<ServiceConfig, "id">,
  clients: AwsClients,
): Promise<FoundResource[]> {
  const { id } = config;
  const names = serviceNames(config);
  const aws = awsNames(id);
  const found: FoundResource[] = [];

  let token: string | undefined;
  let pages = 0;
  do {
    const page = await clients.ec2.send(
      new DescribeInstancesCommand({
        Filters: [deploymentFilter(id), {
          Name: "instance-state-name",
          Values: LIVE_INSTANCE_STATES,
        }],
        NextToken: token,
      }),
    );
    for (const r of page.Reservations ?? []) {
      for (const i of r.Instances ?? []) {
        found.push({ kind: "ec2-instance", name: nameOf(i), id: i.InstanceId! });
      }
    }
    token = page.NextToken;
  } while (token && ++pages < LIST_PAGES_MAX);

  const addresses = await clients.ec2.send(
    new DescribeAddressesCommand({ Filters: [deploymentFilter(id)] }),
  );
  for (const a of addresses.Addresses ?? []) {
    found.push({ kind: "elastic-ip", name: nameOf(a) || a.PublicIp!, id: a.AllocationId! });
  }
  const templates = await clients.ec2.send(
    new DescribeLaunchTemplatesCommand({ Filters: [deploymentFilter(id)] }),
  );
  for (const t of templates.LaunchTemplates ?? []) {
    found.push({ kind: "launch-template", name: t.LaunchTemplateName!, id: t.LaunchTemplateId! });
  }
  const groups = await clients.ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [deploymentFilter(id)] }),
  );
  for (const g of groups.SecurityGroups ?? []) {
    found.push({ kind: "security-group", name: g.GroupName!, id: g.GroupId! });
  }

  for (const profile of [aws.webProfile, aws.appProfile]) {
    try {
      const out = await clients.iam.send(
        new GetInstanceProfileCommand({ InstanceProfileName: profile }),
      );
      // ListInstanceProfileTags is where IAM documents a profile's tags.
      const tags = await clients.iam.send(
        new ListInstanceProfileTagsCommand({ InstanceProfileName: profile }),
      );
      if (taggedWith(tags.Tags, id)) {
        found.push({ kind: "iam-instance-profile", name: profile, id: out.InstanceProfile!.Arn! });
      }
    } catch (error) {
      if (!isError(error, "NoSuchEntity")) throw error;
    }
  }
  for (const role of [aws.webRole, aws.appRole]) {
    try {
      const out = await clients.iam.send(new GetRoleCommand({ RoleName: role }));
      if (taggedWith(out.Role?.Tags, id)) {
        found.push({ kind: "iam-role", name: role, id: out.Role!.Arn! });
      }
    } catch (error) {
      if (!isError(error, "NoSuchEntity")) throw error;
    }
  }

  // Extra web processes create `<id>-resp-queue-<n>` themselves (`serve --web-instance n`).
  const extra = new RegExp(`^${names.responseQueue}-\\d+$`);
  const listed = await clients.sqs.send(
    new ListQueuesCommand({ QueueNamePrefix: `${names.responseQueue}-` }),
  );
  const extraQueues = (listed.QueueUrls ?? []).map((url) => url.split("/").at(-1)!)
    .filter((q) => extra.test(q));
  for (
    const queue of [names.requestQueue, names.deadLetterQueue, names.responseQueue, ...extraQueues]
  ) {
    try {
      const out = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
      found.push({ kind: "sqs-queue", name: queue, id: out.QueueUrl! });
    } catch (error) {
      if (!isError(error, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")) {
        throw error;
      }
    }
  }

  for (
    const bucket of [names.inBucket, names.outBucket, names.requestsBucket, aws.artifactsBucket]
  ) {
    try {
      await clients.s3.send(new HeadBucketCommand({ Bucket: bucket }));
      found.push({ kind: "s3-bucket", name: bucket, id: bucket });
    } catch (error) {
      // 403: a bucket of that name we may not read is another account's, not ours to delete.
      if (!isError(error, "NotFound", "NoSuchBucket", "Forbidden")) throw error;
    }
  }
  return found;
}

/**
 * Deletes what {@linkcode findDeployment} found: instances terminated (and waited for), the
 * address released, the template and groups deleted, roles removed from profiles, policies from
 * roles, queues deleted, buckets emptied and deleted.
 *
 * @param found the resources to delete
 * @param clients the SDK clients
 * @param options progress, interruption, waiting
 * @returns one report per resource
 */
export async function deployDown(
  found: readonly FoundResource[],
  clients: AwsClients,
  options: DeployOptions = {},
): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const report = (r: FoundResource, detail = "") => {
    const line: StepReport = { kind: r.kind, name: r.name, outcome: "deleted", detail };
    reports.push(line);
    options.progress?.(line);
  };
  const of = (kind: string) => found.filter((r) => r.kind === kind);

  const instances = of("ec2-instance");
  if (instances.length > 0) {
    options.signal?.throwIfAborted();
    const ids = instances.map((i) => i.id);
    try {
      await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    } catch (error) {
      if (!isError(error, "InvalidInstanceID.NotFound")) throw error;
    }
    await waitUntil(
      async () => {
        const out = await clients.ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: "instance-id", Values: ids },
              { Name: "instance-state-name", Values: LIVE_INSTANCE_STATES },
            ],
          }),
        );
        return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
      },
      (live) => live === 0,
      `terminating ${ids.length} instances`,
      INSTANCE_WAIT_MS_MAX,
      options,
    );
    for (const i of instances) report(i, `${i.id} terminated`);
  }

  for (const address of of("elastic-ip")) {
    options.signal?.throwIfAborted();
    const out = await clients.ec2.send(
      new DescribeAddressesCommand({ AllocationIds: [address.id] }),
    );
    const association = out.Addresses?.[0]?.AssociationId;
    if (association !== undefined) {
      await clients.ec2.send(new DisassociateAddressCommand({ AssociationId: association }));
    }
    await clients.ec2.send(new ReleaseAddressCommand({ AllocationId: address.id }));
    report(address, address.id);
  }

  for (const template of of("launch-template")) {
    options.signal?.throwIfAborted();
    await clients.ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: template.id }));
    report(template, template.id);
  }

  for (const group of of("security-group")) {
    options.signal?.throwIfAborted();
    // A terminated instance's network interface holds its groups for a while after.
    await retrying(
      () => clients.ec2.send(new DeleteSecurityGroupCommand({ GroupId: group.id })),
      (error) => isError(error, "DependencyViolation"),
      GROUP_RELEASE_WAIT_MS_MAX,
      options,
    );
    report(group, group.id);
  }

  for (const profile of of("iam-instance-profile")) {
    options.signal?.throwIfAborted();
    const out = await clients.iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: profile.name }),
    );
    for (const role of out.InstanceProfile?.Roles ?? []) {
      await clients.iam.send(
        new RemoveRoleFromInstanceProfileCommand({
          InstanceProfileName: profile.name,
          RoleName: role.RoleName,
        }),
      );
    }
    await clients.iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: profile.name }));
    report(profile);
  }

  for (const role of of("iam-role")) {
    options.signal?.throwIfAborted();
    const policies = await clients.iam.send(new ListRolePoliciesCommand({ RoleName: role.name }));
    for (const policy of policies.PolicyNames ?? []) {
      await clients.iam.send(
        new DeleteRolePolicyCommand({ RoleName: role.name, PolicyName: policy }),
      );
    }
    await clients.iam.send(new DeleteRoleCommand({ RoleName: role.name }));
    report(role);
  }

  for (const queue of of("sqs-queue")) {
    options.signal?.throwIfAborted();
    await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: queue.id }));
    report(queue);
  }

  for (const bucket of of("s3-bucket")) {
    options.signal?.throwIfAborted();
    const objects = await emptyBucket(clients, bucket.name);
    await clients.s3.send(new DeleteBucketCommand({ Bucket: bucket.name }));
    report(bucket, `${objects} objects`);
  }
  return reports;
}

/** Deletes every object of a bucket, a page at a time; returns how many. */
async function emptyBucket(clients: AwsClients, bucket: string): Promise<number> {
  let deleted = 0;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    // Always the first page: each round deletes what the last one listed.
    const listed = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, MaxKeys: DELETE_OBJECTS_KEYS_MAX }),
    );
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return deleted;
    const out = await clients.s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
    );
    if ((out.Errors ?? []).length > 0) {
      const e = out.Errors![0];
      throw new Error(`deleting ${e.Key} from ${bucket} failed: ${e.Code} ${e.Message}`);
    }
    deleted += keys.length;
  }
  throw new Error(`${bucket} still had objects after ${LIST_PAGES_MAX} pages`);
}
