/**
 * EC2 cannot run on this machine (or in CI), so the EC2 adapter is tested against this stand-in:
 * `aws-sdk-client-mock` intercepts the SDK client's commands and answers with the response
 * shapes of the EC2 API reference (RunInstances → Reservation with Instances; Start/Stop/
 * TerminateInstances → InstanceStateChange lists; DescribeInstances → paged Reservations), from
 * a small in-memory model of instance states. Transient states (pending, stopping,
 * shutting-down) last until one DescribeInstances has seen them, as on EC2 they last a while.
 * Errors carry EC2's codes: InvalidInstanceID.NotFound, IncorrectInstanceState.
 * @module
 */
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";

/** The commands the fake answers, by EC2 action (what the HTTP stand-in dispatches on). */
export const FAKE_EC2_COMMANDS = {
  RunInstances: RunInstancesCommand,
  CreateTags: CreateTagsCommand,
  StartInstances: StartInstancesCommand,
  StopInstances: StopInstancesCommand,
  TerminateInstances: TerminateInstancesCommand,
  DescribeInstances: DescribeInstancesCommand,
} as const;

const CODES: Record<string, number> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

interface FakeInstance {
  InstanceId: string;
  ImageId: string;
  InstanceType: string;
  LaunchTime: Date;
  State: { Code: number; Name: string };
  StateTransitionReason: string;
  Tags: { Key: string; Value: string }[];
  SecurityGroups: { GroupId: string }[];
  IamInstanceProfile?: { Arn: string };
  /** How many DescribeInstances calls have seen the current transient state. */
  seenTransient: number;
}

/**
 * An SDK-shaped service error (what the SDK throws for an AWS error response): EC2 answers 400,
 * IAM 404 for NoSuchEntity and 409 for EntityAlreadyExists.
 */
export function ec2Error(code: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name: code,
    Code: code,
    $fault: "client",
    $metadata: { httpStatusCode, attempts: 1 },
  });
}

/** What a RunInstances request launches, once a launch template is resolved. */
export interface ResolvedRun {
  readonly ImageId: string;
  readonly InstanceType: string;
  /** Instance tags (the template's and the request's, the request's winning per key). */
  readonly Tags: readonly { Key: string; Value: string }[];
  readonly SecurityGroupIds: readonly string[];
  readonly IamInstanceProfileName?: string;
}

/** "User initiated (2026-01-02 03:04:05 GMT)", as EC2 writes it. */
function userInitiated(now: Date): string {
  return `User initiated (${now.toISOString().slice(0, 19).replace("T", " ")} GMT)`;
}

/** The page size this fake uses, small so that tests exercise NextToken. */
export const FAKE_PAGE_INSTANCES = 2;

/** Options for {@linkcode installFakeEc2}. */
export interface FakeEc2Options {
  /**
   * How many DescribeInstances calls see a transient state (pending, stopping, shutting-down)
   * before it has finished, for tests of waiting on slow transitions. @default {1}
   */
  transientLooks?: number;
  /**
   * Resolves a RunInstances request (its launch template, its instance profile, its groups),
   * throwing EC2's errors for what does not exist; testing/fake_aws_account.ts gives one.
   * @default {the request's own ImageId, InstanceType and instance tags}
   */
  resolveRun?: (input: Record<string, unknown>) => ResolvedRun;
}

/**
 * For a stand-in whose instances run something (`testing/ec2_stand_in.ts`: a worker process per
 * instance) and answers over HTTP (`testing/ec2_server.ts`) from this same model.
 */
export interface FakeEc2Hooks {
  /** Mock only this client (the HTTP stand-in's own) instead of every EC2Client. */
  client?: EC2Client;
  /** After an instance changed state (a launch is not a change: it starts `pending`). */
  onState?(instanceId: string, from: string, to: string): void;
  /**
   * Whether a transient state may end at this look (once `transientLooks` looks saw it), e.g.
   * not `stopping` while the instance's process still runs. @default {always}
   */
  mayEnd?(instanceId: string, state: string): boolean;
}

/** Installs the fake on every EC2Client (or on `client`); call `restore()` when done. */
export function installFakeEc2(options: FakeEc2Options & FakeEc2Hooks = {}) {
  let transientLooks = options.transientLooks ?? 1;
  const stub = mockClient(options.client ?? EC2Client);
  const instances = new Map<string, FakeInstance>();
  let sequence = 0;
  const calls: string[] = [];

  const change = (i: FakeInstance, to: string) => {
    const previous = { ...i.State };
    i.State = { Code: CODES[to], Name: to };
    i.seenTransient = 0;
    options.onState?.(i.InstanceId, previous.Name, to);
    return { InstanceId: i.InstanceId, CurrentState: { ...i.State }, PreviousState: previous };
  };
  const lookup = (ids: string[]) => {
    const missing = ids.filter((id) => !instances.has(id));
    if (missing.length > 0) {
      throw ec2Error(
        "InvalidInstanceID.NotFound",
        `The instance ID '${missing.join("', '")}' does not exist`,
      );
    }
    return ids.map((id) => instances.get(id)!);
  };
  const incorrect = (i: FakeInstance, verb: string) =>
    ec2Error(
      "IncorrectInstanceState",
      `The instance '${i.InstanceId}' is not in a state from which it can be ${verb}.`,
    );

  stub.on(RunInstancesCommand).callsFake((input) => {
    calls.push("RunInstances");
    const run: ResolvedRun = options.resolveRun?.(input) ?? {
      ImageId: input.ImageId,
      InstanceType: input.InstanceType,
      Tags: (input.TagSpecifications ?? [])
        .filter((t: { ResourceType: string }) => t.ResourceType === "instance")
        .flatMap((t: { Tags: { Key: string; Value: string }[] }) => t.Tags),
      SecurityGroupIds: input.SecurityGroupIds ?? [],
    };
    const created: FakeInstance[] = [];
    for (let n = 0; n < input.MaxCount; n++) {
      sequence++;
      const i: FakeInstance = {
        InstanceId: `i-${sequence.toString(16).padStart(17, "0")}`,
        ImageId: run.ImageId,
        InstanceType: run.InstanceType,
        LaunchTime: new Date(),
        State: { Code: 0, Name: "pending" },
        StateTransitionReason: "",
        Tags: run.Tags.map((t: { Key: string; Value: string }) => ({ ...t })),
        SecurityGroups: run.SecurityGroupIds.map((GroupId: string) => ({ GroupId })),
        ...(run.IamInstanceProfileName === undefined ? {} : {
          IamInstanceProfile: {
            Arn: `arn:aws:iam::123456789012:instance-profile/${run.IamInstanceProfileName}`,
          },
        }),
        seenTransient: 0,
      };
      instances.set(i.InstanceId, i);
      created.push(i);
    }
    return {
      ReservationId: `r-${sequence.toString(16).padStart(17, "0")}`,
      OwnerId: "123456789012",
      Groups: [],
      Instances: created.map(({ seenTransient: _, ...i }) => structuredClone(i)),
    };
  });

  stub.on(CreateTagsCommand).callsFake((input) => {
    calls.push("CreateTags");
    for (const i of lookup(input.Resources)) {
      for (const tag of input.Tags) {
        i.Tags = i.Tags.filter((t) => t.Key !== tag.Key).concat({ Key: tag.Key, Value: tag.Value });
      }
    }
    return {};
  });

  stub.on(StartInstancesCommand).callsFake((input) => {
    calls.push("StartInstances");
    const found = lookup(input.InstanceIds);
    for (const i of found) {
      if (!["stopped", "pending", "running"].includes(i.State.Name)) throw incorrect(i, "started");
    }
    return {
      StartingInstances: found.map((i) => {
        if (i.State.Name !== "stopped") {
          return { InstanceId: i.InstanceId, CurrentState: i.State, PreviousState: i.State };
        }
        i.LaunchTime = new Date();
        i.StateTransitionReason = "";
        return change(i, "pending");
      }),
    };
  });

  stub.on(StopInstancesCommand).callsFake((input) => {
    calls.push("StopInstances");
    const found = lookup(input.InstanceIds);
    for (const i of found) {
      if (!["running", "stopping", "stopped"].includes(i.State.Name)) throw incorrect(i, "stopped");
    }
    return {
      StoppingInstances: found.map((i) => {
        if (i.State.Name !== "running") {
          return { InstanceId: i.InstanceId, CurrentState: i.State, PreviousState: i.State };
        }
        i.StateTransitionReason = userInitiated(new Date());
        return change(i, "stopping");
      }),
    };
  });

  stub.on(TerminateInstancesCommand).callsFake((input) => {
    calls.push("TerminateInstances");
    return {
      TerminatingInstances: lookup(input.InstanceIds).map((i) => {
        if (i.State.Name === "terminated" || i.State.Name === "shutting-down") {
          return { InstanceId: i.InstanceId, CurrentState: i.State, PreviousState: i.State };
        }
        i.StateTransitionReason = userInitiated(new Date());
        return change(i, "shutting-down");
      }),
    };
  });

  stub.on(DescribeInstancesCommand).callsFake((input) => {
    calls.push("DescribeInstances");
    // Time passes between calls: a transient state seen `transientLooks` times has finished by
    // the next look. A listing's later pages (NextToken) see the moment its first page saw.
    for (const i of input.NextToken ? [] : instances.values()) {
      const next = { pending: "running", stopping: "stopped", "shutting-down": "terminated" }[
        i.State.Name
      ];
      const mayEnd = options.mayEnd?.(i.InstanceId, i.State.Name) ?? true;
      if (next && i.seenTransient >= transientLooks && mayEnd) change(i, next);
      else if (next) i.seenTransient++;
    }
    if (input.MaxResults !== undefined && (input.MaxResults < 5 || input.MaxResults > 1000)) {
      throw ec2Error("InvalidParameterValue", "MaxResults must be between 5 and 1000");
    }
    const matches = [...instances.values()].filter((i) =>
      (input.Filters ?? []).every((f: { Name: string; Values: string[] }) => {
        if (f.Name === "instance-id") return f.Values.includes(i.InstanceId);
        if (f.Name === "instance-state-name") return f.Values.includes(i.State.Name);
        if (f.Name.startsWith("tag:")) {
          const key = f.Name.slice(4);
          return i.Tags.some((t) => t.Key === key && f.Values.includes(t.Value));
        }
        throw ec2Error("InvalidParameterValue", `The filter '${f.Name}' is invalid`);
      })
    );
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = matches.slice(start, start + FAKE_PAGE_INSTANCES);
    const nextStart = start + FAKE_PAGE_INSTANCES;
    return {
      Reservations: page.map(({ seenTransient: _, ...i }) => ({
        ReservationId: `r-${i.InstanceId.slice(2)}`,
        OwnerId: "123456789012",
        Groups: [],
        Instances: [structuredClone(i)],
      })),
      NextToken: nextStart < matches.length ? String(nextStart) : undefined,
    };
  });

  return {
    /** Every command name the adapter sent, in order. */
    calls,
    /** The mock itself, for a test that reads what a command was sent with. */
    stub,
    /** How many instances exist in any state. */
    size: () => instances.size,
    /** Every instance's id, state, tags and groups, as DescribeInstances would show them. */
    instances: () =>
      [...instances.values()].map(({ seenTransient: _, ...i }) => structuredClone(i)),
    /** Changes {@linkcode FakeEc2Options.transientLooks} from now on. */
    setTransientLooks: (looks: number) => void (transientLooks = looks),
    restore: () => stub.restore(),
  };
}
