/**
 * Stand-ins for the parts of an AWS account that cannot run here, for the tests of `deno task aws
 * up` and `down`: IAM (roles, inline policies, instance profiles), SSM (the Ubuntu AMI
 * parameter), EC2 beyond instances (the default VPC, security groups, launch templates, Elastic
 * IPs; instances are testing/fake_ec2.ts's), and the three S3 bucket settings s3rver answers
 * `NotImplemented` (public access block, default encryption, bucket tags). S3 and SQS otherwise
 * are the real emulators (s3rver, sqslite).
 *
 * The model is small but answers as the services do, with their error codes: IAM's
 * EntityAlreadyExists (409), NoSuchEntity (404), DeleteConflict, LimitExceeded and
 * MalformedPolicyDocument; EC2's InvalidGroup.Duplicate, InvalidGroup.NotFound,
 * DependencyViolation, InvalidPermission.Duplicate, InvalidLaunchTemplateName.*,
 * InvalidParameterValue for an instance profile EC2 does not know (yet), InvalidIPAddress.InUse;
 * SSM's ParameterNotFound. Only a real account checks what these cannot: that IAM accepts the
 * documents' conditions, eventual consistency beyond the modelled profile delay, boot minutes.
 * @module
 */
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  IAMClient,
  ListInstanceProfileTagsCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from "@aws-sdk/client-iam";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateCommand,
  DeleteSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  DisassociateAddressCommand,
  EC2Client,
  ModifyLaunchTemplateCommand,
  ReleaseAddressCommand,
  RevokeSecurityGroupIngressCommand,
  StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { ec2Error as awsError, installFakeEc2, type ResolvedRun } from "./fake_ec2.ts";

/** The account every ARN of the stand-ins names. */
export const FAKE_ACCOUNT = "123456789012";
/** The AMI the SSM parameter holds. */
export const FAKE_AMI = "ami-0fedcba9876543210";
/** The default VPC. */
export const FAKE_VPC = "vpc-0a1b2c3d4e5f60718";

type Tags = { Key: string; Value: string }[];
type Filter = { Name: string; Values: string[] };

interface Role {
  RoleName: string;
  RoleId: string;
  Arn: string;
  Path: string;
  CreateDate: Date;
  AssumeRolePolicyDocument: string;
  Tags: Tags;
  policies: Map<string, string>;
}

interface Profile {
  InstanceProfileName: string;
  InstanceProfileId: string;
  Arn: string;
  Path: string;
  CreateDate: Date;
  Roles: string[];
  Tags: Tags;
  /** RunInstances attempts EC2 still refuses it (IAM is eventually consistent). */
  invisibleLooks: number;
}

interface Group {
  GroupId: string;
  GroupName: string;
  Description: string;
  VpcId: string;
  OwnerId: string;
  IpPermissions: {
    IpProtocol: string;
    FromPort: number;
    ToPort: number;
    IpRanges: { CidrIp: string }[];
  }[];
  Tags: Tags;
}

interface Template {
  LaunchTemplateId: string;
  LaunchTemplateName: string;
  Tags: Tags;
  versions: Record<string, unknown>[];
  defaultVersion: number;
}

interface Address {
  AllocationId: string;
  PublicIp: string;
  Domain: "vpc";
  Tags: Tags;
  InstanceId?: string;
  AssociationId?: string;
}

/** Options for {@linkcode installFakeAccount}. */
export interface FakeAccountOptions {
  /**
   * How many RunInstances attempts EC2 refuses a new instance profile before it has propagated
   * from IAM. @default {0}
   */
  profilePropagationLooks?: number;
}

const matchesTag = (tags: Tags, f: Filter) =>
  f.Name.startsWith("tag:") &&
  tags.some((t) => t.Key === f.Name.slice(4) && f.Values.includes(t.Value));

function tagsOf(specs: { ResourceType: string; Tags: Tags }[] | undefined, type: string): Tags {
  return (specs ?? []).filter((s) => s.ResourceType === type).flatMap((s) => s.Tags);
}

/** Merges tag lists, later lists winning per key. */
function mergeTags(...lists: Tags[]): Tags {
  const byKey = new Map<string, string>();
  for (const list of lists) for (const t of list) byKey.set(t.Key, t.Value);
  return [...byKey].map(([Key, Value]) => ({ Key, Value }));
}

/**
 * IAM's check of a policy document: JSON, Version and Statement, known keys only (our
 * `_comment` must be stripped), and no placeholder left but IAM's own policy variables.
 */
function checkPolicy(text: string, trust: boolean): void {
  const malformed = (why: string) => awsError("MalformedPolicyDocument", why, 400);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed("Syntax errors in policy.");
  }
  const unknown = Object.keys(doc).find((k) => !["Version", "Id", "Statement"].includes(k));
  if (unknown) throw malformed(`Policy document should not specify a field ${unknown}.`);
  if (doc.Version !== "2012-10-17" || !Array.isArray(doc.Statement)) {
    throw malformed("Policy document must be version 2012-10-17 with a Statement list.");
  }
  const left = /\$\{(?!ec2:InstanceID\}|aws:)[^}]*\}/.exec(text);
  if (left) throw malformed(`Policy has an invalid variable ${left[0]}.`);
  for (const s of doc.Statement) {
    if (trust !== ("Principal" in s)) {
      throw malformed(
        trust ? "Trust policy needs a Principal." : "Has prohibited field Principal.",
      );
    }
  }
}

/**
 * Installs the stand-ins (and testing/fake_ec2.ts's instances, launched through the launch
 * templates and profiles modelled here); call `restore()` when done.
 */
export function installFakeAccount(options: FakeAccountOptions = {}) {
  const roles = new Map<string, Role>();
  const profiles = new Map<string, Profile>();
  const groups = new Map<string, Group>();
  const templates = new Map<string, Template>();
  const addresses = new Map<string, Address>();
  let sequence = 0;
  const next = (prefix: string) => `${prefix}${(++sequence).toString(16).padStart(17, "0")}`;
  const failures = new Map<string, Error>();
  const calls: string[] = [];
  /** Records a call and throws an injected failure for it, once. */
  const call = (name: string) => {
    calls.push(name);
    const failure = failures.get(name);
    if (failure) {
      failures.delete(name);
      throw failure;
    }
  };

  const findTemplate = (name?: string, id?: string) => {
    const t = name !== undefined
      ? templates.get(name)
      : [...templates.values()].find((t) => t.LaunchTemplateId === id);
    if (!t) {
      throw awsError(
        "InvalidLaunchTemplateName.NotFoundException",
        "At least one of the launch templates specified in the request does not exist.",
      );
    }
    return t;
  };

  const resolveRun = (input: Record<string, unknown>): ResolvedRun => {
    calls.push("RunInstances(resolve)");
    const ref = input.LaunchTemplate as { LaunchTemplateName?: string } | undefined;
    const data = ref
      ? (() => {
        const t = findTemplate(ref.LaunchTemplateName);
        return t.versions[t.defaultVersion - 1];
      })()
      : {};
    const run = { ...data, ...input } as Record<string, never>;
    if (run.ImageId !== FAKE_AMI) {
      throw awsError("InvalidAMIID.NotFound", `The image id '[${run.ImageId}]' does not exist`);
    }
    const profileName = (run.IamInstanceProfile as { Name?: string } | undefined)?.Name;
    if (profileName !== undefined) {
      const p = profiles.get(profileName);
      if (!p || p.invisibleLooks > 0) {
        if (p) p.invisibleLooks--;
        throw awsError(
          "InvalidParameterValue",
          `Value (${profileName}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
        );
      }
    }
    const groupIds: string[] = run.SecurityGroupIds ?? [];
    for (const id of groupIds) {
      if (!groups.has(id)) {
        throw awsError("InvalidGroup.NotFound", `The security group '${id}' does not exist`);
      }
    }
    return {
      ImageId: run.ImageId,
      InstanceType: run.InstanceType,
      Tags: mergeTags(
        tagsOf((data as { TagSpecifications?: never }).TagSpecifications, "instance"),
        tagsOf(input.TagSpecifications as never, "instance"),
      ),
      SecurityGroupIds: groupIds,
      IamInstanceProfileName: profileName,
    };
  };

  const ec2 = installFakeEc2({ resolveRun });
  const liveInstances = () => ec2.instances().filter((i) => i.State.Name !== "terminated");

  // --- EC2 beyond instances ---------------------------------------------------------------

  ec2.stub.on(DescribeVpcsCommand).callsFake((input) => {
    call("DescribeVpcs");
    const vpc = {
      VpcId: FAKE_VPC,
      IsDefault: true,
      CidrBlock: "172.31.0.0/16",
      State: "available",
    };
    const ok = (input.Filters ?? []).every((f: Filter) =>
      f.Name === "is-default" ? f.Values.includes("true") : false
    );
    return { Vpcs: ok ? [vpc] : [] };
  });

  ec2.stub.on(CreateSecurityGroupCommand).callsFake((input) => {
    call("CreateSecurityGroup");
    const vpc = input.VpcId ?? FAKE_VPC;
    if ([...groups.values()].some((g) => g.GroupName === input.GroupName && g.VpcId === vpc)) {
      throw awsError(
        "InvalidGroup.Duplicate",
        `The security group '${input.GroupName}' already exists for VPC '${vpc}'`,
      );
    }
    const group: Group = {
      GroupId: next("sg-"),
      GroupName: input.GroupName,
      Description: input.Description,
      VpcId: vpc,
      OwnerId: FAKE_ACCOUNT,
      IpPermissions: [],
      Tags: tagsOf(input.TagSpecifications, "security-group"),
    };
    groups.set(group.GroupId, group);
    return { GroupId: group.GroupId, Tags: group.Tags };
  });

  ec2.stub.on(DescribeSecurityGroupsCommand).callsFake((input) => {
    call("DescribeSecurityGroups");
    for (const id of input.GroupIds ?? []) {
      if (!groups.has(id)) {
        throw awsError("InvalidGroup.NotFound", `The security group '${id}' does not exist`);
      }
    }
    const found = [...groups.values()].filter((g) =>
      (input.GroupIds === undefined || input.GroupIds.includes(g.GroupId)) &&
      (input.Filters ?? []).every((f: Filter) => {
        if (f.Name === "group-name") return f.Values.includes(g.GroupName);
        if (f.Name === "vpc-id") return f.Values.includes(g.VpcId);
        if (f.Name.startsWith("tag:")) return matchesTag(g.Tags, f);
        throw awsError("InvalidParameterValue", `The filter '${f.Name}' is invalid`);
      })
    );
    return { SecurityGroups: structuredClone(found) };
  });

  const group = (id: string) => {
    const g = groups.get(id);
    if (!g) throw awsError("InvalidGroup.NotFound", `The security group '${id}' does not exist`);
    return g;
  };
  const ruleKeys = (permissions: Group["IpPermissions"]) =>
    permissions.flatMap((p) =>
      p.IpRanges.map((r) => `${p.IpProtocol}:${p.FromPort}:${p.ToPort}:${r.CidrIp}`)
    );

  ec2.stub.on(AuthorizeSecurityGroupIngressCommand).callsFake((input) => {
    call("AuthorizeSecurityGroupIngress");
    const g = group(input.GroupId);
    const have = new Set(ruleKeys(g.IpPermissions));
    for (const key of ruleKeys(input.IpPermissions)) {
      if (have.has(key)) {
        throw awsError(
          "InvalidPermission.Duplicate",
          `the specified rule "peer: ${key.split(":")[3]}, TCP, from port: ${
            key.split(":")[1]
          }, ALLOW" already exists`,
        );
      }
    }
    g.IpPermissions.push(...structuredClone(input.IpPermissions as Group["IpPermissions"]));
    return { Return: true };
  });

  ec2.stub.on(RevokeSecurityGroupIngressCommand).callsFake((input) => {
    call("RevokeSecurityGroupIngress");
    const g = group(input.GroupId);
    const drop = new Set(ruleKeys(input.IpPermissions));
    g.IpPermissions = g.IpPermissions.map((p) => ({
      ...p,
      IpRanges: p.IpRanges.filter((r) =>
        !drop.has(`${p.IpProtocol}:${p.FromPort}:${p.ToPort}:${r.CidrIp}`)
      ),
    })).filter((p) => p.IpRanges.length > 0);
    return { Return: true };
  });

  ec2.stub.on(DeleteSecurityGroupCommand).callsFake((input) => {
    call("DeleteSecurityGroup");
    group(input.GroupId);
    if (liveInstances().some((i) => i.SecurityGroups.some((s) => s.GroupId === input.GroupId))) {
      throw awsError(
        "DependencyViolation",
        `resource ${input.GroupId} has a dependent object`,
      );
    }
    groups.delete(input.GroupId);
    return { Return: true, GroupId: input.GroupId };
  });

  const templateView = (t: Template) => ({
    LaunchTemplateId: t.LaunchTemplateId,
    LaunchTemplateName: t.LaunchTemplateName,
    DefaultVersionNumber: t.defaultVersion,
    LatestVersionNumber: t.versions.length,
    Tags: structuredClone(t.Tags),
  });

  ec2.stub.on(CreateLaunchTemplateCommand).callsFake((input) => {
    call("CreateLaunchTemplate");
    if (templates.has(input.LaunchTemplateName)) {
      throw awsError(
        "InvalidLaunchTemplateName.AlreadyExistsException",
        `Launch template name already in use.`,
      );
    }
    const t: Template = {
      LaunchTemplateId: next("lt-"),
      LaunchTemplateName: input.LaunchTemplateName,
      Tags: tagsOf(input.TagSpecifications, "launch-template"),
      versions: [structuredClone(input.LaunchTemplateData)],
      defaultVersion: 1,
    };
    templates.set(t.LaunchTemplateName, t);
    return { LaunchTemplate: templateView(t) };
  });

  ec2.stub.on(DescribeLaunchTemplatesCommand).callsFake((input) => {
    call("DescribeLaunchTemplates");
    const named: string[] | undefined = input.LaunchTemplateNames;
    for (const name of named ?? []) findTemplate(name);
    const found = [...templates.values()].filter((t) =>
      (named === undefined || named.includes(t.LaunchTemplateName)) &&
      (input.Filters ?? []).every((f: Filter) => matchesTag(t.Tags, f))
    );
    return { LaunchTemplates: found.map(templateView) };
  });

  ec2.stub.on(DescribeLaunchTemplateVersionsCommand).callsFake((input) => {
    call("DescribeLaunchTemplateVersions");
    const t = findTemplate(input.LaunchTemplateName, input.LaunchTemplateId);
    const numbers = (input.Versions ?? ["$Latest"]).map((v: string) =>
      v === "$Default" ? t.defaultVersion : v === "$Latest" ? t.versions.length : Number(v)
    );
    return {
      LaunchTemplateVersions: numbers.map((n: number) => ({
        LaunchTemplateId: t.LaunchTemplateId,
        LaunchTemplateName: t.LaunchTemplateName,
        VersionNumber: n,
        DefaultVersion: n === t.defaultVersion,
        LaunchTemplateData: structuredClone(t.versions[n - 1]),
      })),
    };
  });

  ec2.stub.on(CreateLaunchTemplateVersionCommand).callsFake((input) => {
    call("CreateLaunchTemplateVersion");
    const t = findTemplate(input.LaunchTemplateName, input.LaunchTemplateId);
    t.versions.push(structuredClone(input.LaunchTemplateData));
    return { LaunchTemplateVersion: { VersionNumber: t.versions.length } };
  });

  ec2.stub.on(ModifyLaunchTemplateCommand).callsFake((input) => {
    call("ModifyLaunchTemplate");
    const t = findTemplate(input.LaunchTemplateName, input.LaunchTemplateId);
    const version = Number(input.DefaultVersion);
    if (!(version >= 1 && version <= t.versions.length)) {
      throw awsError("InvalidLaunchTemplateId.VersionNotFound", `version ${version} not found`);
    }
    t.defaultVersion = version;
    return { LaunchTemplate: templateView(t) };
  });

  ec2.stub.on(DeleteLaunchTemplateCommand).callsFake((input) => {
    call("DeleteLaunchTemplate");
    const t = findTemplate(input.LaunchTemplateName, input.LaunchTemplateId);
    templates.delete(t.LaunchTemplateName);
    return { LaunchTemplate: templateView(t) };
  });

  const address = (id: string) => {
    const a = addresses.get(id);
    if (!a) {
      throw awsError("InvalidAllocationID.NotFound", `The allocation ID '${id}' does not exist`);
    }
    // EC2 frees the address of an instance that terminated.
    if (a.InstanceId && !liveInstances().some((i) => i.InstanceId === a.InstanceId)) {
      delete a.InstanceId;
      delete a.AssociationId;
    }
    return a;
  };

  ec2.stub.on(AllocateAddressCommand).callsFake((input) => {
    call("AllocateAddress");
    const a: Address = {
      AllocationId: next("eipalloc-"),
      PublicIp: `203.0.113.${addresses.size + 10}`,
      Domain: "vpc",
      Tags: tagsOf(input.TagSpecifications, "elastic-ip"),
    };
    addresses.set(a.AllocationId, a);
    return { AllocationId: a.AllocationId, PublicIp: a.PublicIp, Domain: "vpc" };
  });

  ec2.stub.on(DescribeAddressesCommand).callsFake((input) => {
    call("DescribeAddresses");
    const ids: string[] = input.AllocationIds ?? [...addresses.keys()];
    const found = ids.map(address).filter((a) =>
      (input.Filters ?? []).every((f: Filter) => matchesTag(a.Tags, f))
    );
    return { Addresses: structuredClone(found) };
  });

  ec2.stub.on(AssociateAddressCommand).callsFake((input) => {
    call("AssociateAddress");
    const a = address(input.AllocationId);
    if (!liveInstances().some((i) => i.InstanceId === input.InstanceId)) {
      throw awsError(
        "InvalidInstanceID.NotFound",
        `The instance ID '${input.InstanceId}' does not exist`,
      );
    }
    a.InstanceId = input.InstanceId;
    a.AssociationId = next("eipassoc-");
    return { AssociationId: a.AssociationId };
  });

  ec2.stub.on(DisassociateAddressCommand).callsFake((input) => {
    call("DisassociateAddress");
    const a = [...addresses.values()].find((a) => a.AssociationId === input.AssociationId);
    if (!a) {
      throw awsError(
        "InvalidAssociationID.NotFound",
        `The association ID '${input.AssociationId}' does not exist`,
      );
    }
    delete a.InstanceId;
    delete a.AssociationId;
    return {};
  });

  ec2.stub.on(ReleaseAddressCommand).callsFake((input) => {
    call("ReleaseAddress");
    const a = address(input.AllocationId);
    if (a.AssociationId) {
      throw awsError("InvalidIPAddress.InUse", `Address ${a.PublicIp} is in use.`);
    }
    addresses.delete(a.AllocationId);
    return {};
  });

  // --- IAM --------------------------------------------------------------------------------

  const iam = mockClient(IAMClient);
  const noRole = (name: string) =>
    awsError("NoSuchEntity", `The role with name ${name} cannot be found.`, 404);
  const noProfile = (name: string) =>
    awsError("NoSuchEntity", `Instance Profile ${name} cannot be found.`, 404);
  const role = (name: string) => {
    const r = roles.get(name);
    if (!r) throw noRole(name);
    return r;
  };
  const profile = (name: string) => {
    const p = profiles.get(name);
    if (!p) throw noProfile(name);
    return p;
  };
  const roleView = ({ policies: _, ...r }: Role) => structuredClone(r);
  const profileView = (p: Profile) => ({
    InstanceProfileName: p.InstanceProfileName,
    InstanceProfileId: p.InstanceProfileId,
    Arn: p.Arn,
    Path: p.Path,
    CreateDate: p.CreateDate,
    Roles: p.Roles.map((r) => roleView(role(r))),
    Tags: structuredClone(p.Tags),
  });

  iam.on(CreateRoleCommand).callsFake((input) => {
    call("CreateRole");
    if (roles.has(input.RoleName)) {
      throw awsError(
        "EntityAlreadyExists",
        `Role with name ${input.RoleName} already exists.`,
        409,
      );
    }
    checkPolicy(input.AssumeRolePolicyDocument, true);
    const r: Role = {
      RoleName: input.RoleName,
      RoleId: next("AROA").toUpperCase(),
      Arn: `arn:aws:iam::${FAKE_ACCOUNT}:role/${input.RoleName}`,
      Path: "/",
      CreateDate: new Date(),
      AssumeRolePolicyDocument: encodeURIComponent(input.AssumeRolePolicyDocument),
      Tags: structuredClone(input.Tags ?? []),
      policies: new Map(),
    };
    roles.set(r.RoleName, r);
    return { Role: roleView(r) };
  });
  iam.on(GetRoleCommand).callsFake((input) => {
    call("GetRole");
    return { Role: roleView(role(input.RoleName)) };
  });
  iam.on(PutRolePolicyCommand).callsFake((input) => {
    call("PutRolePolicy");
    const r = role(input.RoleName);
    checkPolicy(input.PolicyDocument, false);
    r.policies.set(input.PolicyName, input.PolicyDocument);
    return {};
  });
  iam.on(ListRolePoliciesCommand).callsFake((input) => {
    call("ListRolePolicies");
    return { PolicyNames: [...role(input.RoleName).policies.keys()], IsTruncated: false };
  });
  iam.on(DeleteRolePolicyCommand).callsFake((input) => {
    call("DeleteRolePolicy");
    const r = role(input.RoleName);
    if (!r.policies.delete(input.PolicyName)) {
      throw awsError(
        "NoSuchEntity",
        `The role policy with name ${input.PolicyName} cannot be found.`,
        404,
      );
    }
    return {};
  });
  iam.on(DeleteRoleCommand).callsFake((input) => {
    call("DeleteRole");
    const r = role(input.RoleName);
    if ([...profiles.values()].some((p) => p.Roles.includes(r.RoleName))) {
      throw awsError(
        "DeleteConflict",
        "Cannot delete entity, must remove roles from instance profile first.",
        409,
      );
    }
    if (r.policies.size > 0) {
      throw awsError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409);
    }
    roles.delete(r.RoleName);
    return {};
  });
  iam.on(CreateInstanceProfileCommand).callsFake((input) => {
    call("CreateInstanceProfile");
    const name = input.InstanceProfileName;
    if (profiles.has(name)) {
      throw awsError("EntityAlreadyExists", `Instance Profile ${name} already exists.`, 409);
    }
    const p: Profile = {
      InstanceProfileName: name,
      InstanceProfileId: next("AIPA").toUpperCase(),
      Arn: `arn:aws:iam::${FAKE_ACCOUNT}:instance-profile/${name}`,
      Path: "/",
      CreateDate: new Date(),
      Roles: [],
      Tags: structuredClone(input.Tags ?? []),
      invisibleLooks: options.profilePropagationLooks ?? 0,
    };
    profiles.set(name, p);
    return { InstanceProfile: profileView(p) };
  });
  iam.on(GetInstanceProfileCommand).callsFake((input) => {
    call("GetInstanceProfile");
    return { InstanceProfile: profileView(profile(input.InstanceProfileName)) };
  });
  iam.on(ListInstanceProfileTagsCommand).callsFake((input) => {
    call("ListInstanceProfileTags");
    return { Tags: structuredClone(profile(input.InstanceProfileName).Tags), IsTruncated: false };
  });
  iam.on(AddRoleToInstanceProfileCommand).callsFake((input) => {
    call("AddRoleToInstanceProfile");
    const p = profile(input.InstanceProfileName);
    role(input.RoleName);
    if (p.Roles.length > 0) {
      throw awsError(
        "LimitExceeded",
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
        409,
      );
    }
    p.Roles.push(input.RoleName);
    return {};
  });
  iam.on(RemoveRoleFromInstanceProfileCommand).callsFake((input) => {
    call("RemoveRoleFromInstanceProfile");
    const p = profile(input.InstanceProfileName);
    if (!p.Roles.includes(input.RoleName)) throw noRole(input.RoleName);
    p.Roles = p.Roles.filter((r) => r !== input.RoleName);
    return {};
  });
  iam.on(DeleteInstanceProfileCommand).callsFake((input) => {
    call("DeleteInstanceProfile");
    const p = profile(input.InstanceProfileName);
    if (p.Roles.length > 0) {
      throw awsError(
        "DeleteConflict",
        "Cannot delete entity, must remove roles from instance profile first.",
        409,
      );
    }
    profiles.delete(p.InstanceProfileName);
    return {};
  });

  // --- SSM --------------------------------------------------------------------------------

  const ssm = mockClient(SSMClient);
  ssm.on(GetParameterCommand).callsFake((input) => {
    call("GetParameter");
    if (!input.Name.startsWith("/aws/service/canonical/ubuntu/server/24.04/")) {
      throw awsError("ParameterNotFound", `Parameter ${input.Name} not found.`);
    }
    return { Parameter: { Name: input.Name, Type: "String", Value: FAKE_AMI, Version: 1 } };
  });

  /**
   * What the worker on each pool instance does once its first boot has installed it: reports
   * ready (the `fr:worker` tag) and, the queue being idle, stops its own instance (IMDSv2 +
   * StopInstances). Here no boot script runs: a test calls this as time passes.
   * @returns how many instances it stopped
   */
  const bootWorkers = async (): Promise<number> => {
    const client = new EC2Client({ region: "us-east-1" });
    const booted = ec2.instances().filter((i) =>
      i.State.Name === "running" && i.Tags.some((t) => t.Key === "fr:fleet") &&
      !i.Tags.some((t) => t.Key === "fr:worker")
    );
    try {
      for (const i of booted) {
        await client.send(
          new CreateTagsCommand({
            Resources: [i.InstanceId],
            Tags: [{ Key: "fr:worker", Value: `ready ${new Date().toISOString()}` }],
          }),
        );
        await client.send(new StopInstancesCommand({ InstanceIds: [i.InstanceId] }));
      }
    } finally {
      client.destroy();
    }
    return booted.length;
  };

  return {
    /** The instances' stand-in (testing/fake_ec2.ts). */
    ec2,
    bootWorkers,
    /** Every IAM, SSM and EC2 (but instances) command sent, in order. */
    calls,
    /** The next `command` fails with `error` (once), as a dropped connection or a refusal. */
    failNext: (command: string, error: Error) => void failures.set(command, error),
    /** What exists, by kind, for assertions. */
    state: () => ({
      roles: new Map([...roles].map(([k, r]) => [k, { tags: r.Tags, policies: r.policies }])),
      profiles: new Map([...profiles].map(([k, p]) => [k, { roles: p.Roles, tags: p.Tags }])),
      groups: [...groups.values()].map((g) => structuredClone(g)),
      templates: [...templates.values()].map((t) => structuredClone(t)),
      addresses: [...addresses.values()].map((a) => structuredClone(a)),
    }),
    restore() {
      ec2.restore();
      iam.restore();
      ssm.restore();
    },
  };
}

/** Bucket settings and tags s3rver does not implement, by bucket. */
export interface BucketSettings {
  publicAccessBlock?: Record<string, boolean>;
  encryption?: unknown;
  tags?: Tags;
}

/**
 * Answers the three bucket-settings calls s3rver answers `NotImplemented` (PutPublicAccessBlock,
 * PutBucketEncryption, PutBucketTagging) inside `client`'s own middleware, recording them; every
 * other call goes to s3rver. `taken` names buckets that behave as another account's: HeadBucket
 * answers 403 and CreateBucket BucketAlreadyExists (s3rver has one account only).
 * @param settings where to record them (one map across several clients)
 * @returns the recorded settings by bucket
 */
export function standInBucketSettings(
  client: S3Client,
  taken: readonly string[] = [],
  settings: Map<string, BucketSettings> = new Map(),
): Map<string, BucketSettings> {
  const at = (bucket: string) => settings.get(bucket) ?? settings.set(bucket, {}).get(bucket)!;
  const ok = { output: { $metadata: { httpStatusCode: 200 } }, response: {} };
  client.middlewareStack.add(
    // deno-lint-ignore no-explicit-any
    (next: any, context: any) => (args: any) => {
      const input = args.input;
      if (taken.includes(input.Bucket)) {
        if (context.commandName === "HeadBucketCommand") {
          return Promise.reject(awsError("Forbidden", "Forbidden", 403));
        }
        if (context.commandName === "CreateBucketCommand") {
          return Promise.reject(
            awsError("BucketAlreadyExists", "The requested bucket name is not available.", 409),
          );
        }
      }
      switch (context.commandName) {
        case "PutPublicAccessBlockCommand":
          at(input.Bucket).publicAccessBlock = input.PublicAccessBlockConfiguration;
          return Promise.resolve(ok);
        case "PutBucketEncryptionCommand":
          at(input.Bucket).encryption = input.ServerSideEncryptionConfiguration;
          return Promise.resolve(ok);
        case "PutBucketTaggingCommand":
          at(input.Bucket).tags = input.Tagging.TagSet;
          return Promise.resolve(ok);
        case "DeleteBucketCommand":
          return next(args).then((out: unknown) => (settings.delete(input.Bucket), out));
        default:
          return next(args);
      }
    },
    { step: "initialize", name: "bucketSettingsStandIn" },
  );
  return settings;
}
