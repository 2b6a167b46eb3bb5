/**
 * The fleet on Amazon EC2. Instances carry a `Name` tag (`app-tier-instance-<n>`) and a fleet
 * tag, so describe sees only this service's instances. Create launches, names each instance once
 * EC2 knows its id (its API is eventually consistent), waits for `running`, then stops, because
 * EC2 cannot launch an instance straight into `stopped`.
 * @module
 */
import {
  type _InstanceType,
  CreateTagsCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  EC2Client,
  type Filter,
  type Instance as Ec2Instance,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { type Clock, systemClock } from "../clock.ts";
import { InvalidStateError, NotFoundError, ServiceError } from "../errors.ts";
import {
  byInstanceNumber,
  checkCreateCount,
  type DescribeFilter,
  exitReason,
  type Fleet,
  type Instance,
  instanceName,
  instanceNumber,
  INSTANCES_MAX_DEFAULT,
  type InstanceState,
  matchesFilter,
  validateInstanceIds,
  type WorkerStatus,
} from "../fleet.ts";
import { type AwsClientOptions, clientConfig, errorName, toServiceError } from "./_aws_common.ts";

/**
 * What new instances are launched from: an EC2 launch template by name (which then holds the
 * image, type, profile, network and user data: a least-privilege role may launch only from it),
 * or those settings themselves.
 */
export interface LaunchTemplate {
  /** The EC2 launch template; with it, give none of the fields below. */
  launchTemplateName?: string;
  /** The AMI with the worker installed (required without `launchTemplateName`). */
  imageId?: string;
  /** @default {"t2.micro"} */
  instanceType?: string;
  keyName?: string;
  securityGroupIds?: readonly string[];
  subnetId?: string;
  /** An instance profile granting the worker S3 and SQS access. */
  iamInstanceProfileName?: string;
  /** Cloud-init script, plain text (the adapter base64-encodes it). */
  userData?: string;
}

/** Options for {@linkcode Ec2Fleet}. */
export interface Ec2FleetOptions extends AwsClientOptions {
  launch: LaunchTemplate;
  /** Value of the `fr:fleet` tag that marks this fleet's instances. @default {FLEET_DEFAULT} */
  fleet?: string;
  /**
   * More tags every launched instance and its volumes get at launch, which describe then also
   * requires: a deployment's `fr:deployment` (so two deployments in one account never see each
   * other's instances). @default {{}}
   */
  tags?: Readonly<Record<string, string>>;
  /** Cap on non-terminated instances. @default {INSTANCES_MAX_DEFAULT} (32) */
  instancesMax?: number;
  /** How often create polls while waiting for launched instances to run and stop. @default {5000} */
  pollIntervalMs?: number;
  /** How long create waits for a launched instance to reach running, then stopped. @default {600000} */
  transitionWaitMsMax?: number;
  /** @default {systemClock} */
  clock?: Clock;
  /** Use this client instead of building one (tests). */
  client?: EC2Client;
}

/** The tag that marks instances as ours. */
export const FLEET_TAG = "fr:fleet";

/** The {@linkcode FLEET_TAG} value when {@linkcode Ec2FleetOptions.fleet} does not say. */
export const FLEET_DEFAULT = "app-tier";

/**
 * The tag where the worker on an instance says how it is: `ready <ISO time>` or
 * `not-ready <ISO time> <reason>` (EC2 keeps no exit codes, and a stopped instance runs nothing
 * that could tell). One key, so the newest word wins.
 */
export const WORKER_TAG = "fr:worker";

/** EC2's limit on a tag value. */
const TAG_VALUE_CHARS_MAX = 256;

const STATE_MAP: Record<string, InstanceState> = {
  pending: "pending",
  running: "running",
  stopping: "stopping",
  stopped: "stopped",
  "shutting-down": "terminated",
  terminated: "terminated",
};

/**
 * A {@linkcode Fleet} of EC2 instances.
 *
 * @example
 * ```ts
 * const fleet = new Ec2Fleet({ launch: { imageId: "ami-0123456789abcdef0" } });
 * await fleet.create(15);
 * ```
 */
export class Ec2Fleet implements Fleet {
  readonly #client: EC2Client;
  readonly #ownsClient: boolean;
  readonly #launch: LaunchTemplate;
  readonly #fleet: string;
  readonly #tags: readonly { Key: string; Value: string }[];
  readonly #instancesMax: number;
  readonly #pollIntervalMs: number;
  readonly #transitionWaitMsMax: number;
  readonly #clock: Clock;
  /**
   * Instances this handle started, stopped or terminated that it has not yet seen at rest
   * (stopped or terminated), each with the number of the call that set it moving (so a start
   * during a wait is not forgotten on the strength of an older look); {@linkcode Ec2Fleet.settled}
   * waits for them. At most one entry per instance of the fleet.
   */
  readonly #inMotion = new Map<string, number>();
  #calls = 0;

  /**
   * @param options the launch template, region and limits
   * @throws {TypeError} without `launch.imageId` or `launch.launchTemplateName`, or with both
   * @throws {RangeError} for a bad limit
   */
  constructor(options: Ec2FleetOptions) {
    const config = clientConfig(options);
    const { launchTemplateName, ...explicit } = options.launch ?? {};
    if (launchTemplateName !== undefined) {
      const given = Object.entries(explicit).filter(([, v]) => v !== undefined).map(([k]) => k);
      if (given.length > 0) {
        throw new TypeError(
          `Ec2Fleet launches from template ${launchTemplateName}, which holds ${
            given.join(", ")
          }: ` +
            "give the template or those settings, not both",
        );
      }
    } else if (!options.launch?.imageId) {
      throw new TypeError(
        "Ec2Fleet needs options.launch.imageId (the AMI with the worker) or launchTemplateName",
      );
    }
    this.#launch = options.launch;
    this.#fleet = options.fleet ?? FLEET_DEFAULT;
    this.#tags = Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    this.#instancesMax = options.instancesMax ?? INSTANCES_MAX_DEFAULT;
    this.#pollIntervalMs = options.pollIntervalMs ?? 5_000;
    this.#transitionWaitMsMax = options.transitionWaitMsMax ?? 600_000;
    for (
      const [name, value] of [
        ["instancesMax", this.#instancesMax],
        ["pollIntervalMs", this.#pollIntervalMs],
        ["transitionWaitMsMax", this.#transitionWaitMsMax],
      ] as const
    ) {
      if (!Number.isInteger(value) || value < (name === "pollIntervalMs" ? 0 : 1)) {
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
      }
    }
    this.#clock = options.clock ?? systemClock;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new EC2Client(config);
  }

  async create(count: number): Promise<Instance[]> {
    const existing = await this.#describeAll([]);
    const live = existing.filter((i) => i.state !== "terminated");
    checkCreateCount(count, live.length, this.#instancesMax);
    const top = Math.max(0, ...existing.map((i) => instanceNumber(i.name) ?? 0));
    const launch = this.#launch;
    let ids: string[];
    try {
      const tags = [{ Key: FLEET_TAG, Value: this.#fleet }, ...this.#tags];
      const TagSpecifications = [
        { ResourceType: "instance" as const, Tags: tags },
        ...(this.#tags.length > 0
          ? [{ ResourceType: "volume" as const, Tags: [...this.#tags] }]
          : []),
      ];
      const out = await this.#client.send(
        new RunInstancesCommand(
          launch.launchTemplateName !== undefined
            ? {
              // Everything else comes from the template (a role may launch only from it).
              LaunchTemplate: { LaunchTemplateName: launch.launchTemplateName },
              MinCount: count,
              MaxCount: count,
              TagSpecifications,
            }
            : {
              ImageId: launch.imageId,
              InstanceType: (launch.instanceType ?? "t2.micro") as _InstanceType,
              MinCount: count,
              MaxCount: count,
              KeyName: launch.keyName,
              SecurityGroupIds: launch.securityGroupIds ? [...launch.securityGroupIds] : undefined,
              SubnetId: launch.subnetId,
              IamInstanceProfile: launch.iamInstanceProfileName
                ? { Name: launch.iamInstanceProfileName }
                : undefined,
              UserData: launch.userData ? btoa(launch.userData) : undefined,
              TagSpecifications,
            },
        ),
      );
      ids = (out.Instances ?? []).map((i) => i.InstanceId ?? "").filter((id) => id !== "");
    } catch (error) {
      throw toServiceError(error, "launching instances");
    }
    if (ids.length !== count) {
      throw new ServiceError("RunInstances", `asked for ${count} instances, got ${ids.length}`);
    }
    // One Name per instance: RunInstances can only tag them all alike.
    for (const [i, id] of ids.entries()) {
      await this.#untilKnown(() =>
        this.#call(
          new CreateTagsCommand({
            Resources: [id],
            Tags: [{ Key: "Name", Value: instanceName(top + i + 1) }],
          }),
          "naming instance",
        )
      );
    }
    await this.#waitFor(ids, "running");
    await this.#call(new StopInstancesCommand({ InstanceIds: ids }), "stopping new instances");
    return await this.#waitFor(ids, "stopped");
  }

  async start(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    validateInstanceIds(ids);
    await this.#call(new StartInstancesCommand({ InstanceIds: [...ids] }), "starting instances");
    this.#setMoving(ids);
  }

  async stop(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    validateInstanceIds(ids);
    await this.#call(new StopInstancesCommand({ InstanceIds: [...ids] }), "stopping instances");
    this.#setMoving(ids);
  }

  async terminate(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    validateInstanceIds(ids);
    await this.#call(
      new TerminateInstancesCommand({ InstanceIds: [...ids] }),
      "terminating instances",
    );
    this.#setMoving(ids);
  }

  async describe(filter: DescribeFilter = {}): Promise<Instance[]> {
    if (filter.ids) validateInstanceIds(filter.ids);
    const filters: Filter[] = [];
    // instance-id as a filter, not InstanceIds: an unknown id then just matches nothing.
    if (filter.ids) filters.push({ Name: "instance-id", Values: [...filter.ids] });
    if (filter.names) filters.push({ Name: "tag:Name", Values: [...filter.names] });
    if (filter.states) {
      const ec2States = filter.states.flatMap((s) =>
        s === "terminated" ? ["shutting-down", "terminated"] : [s]
      );
      filters.push({ Name: "instance-state-name", Values: ec2States });
    }
    const found = await this.#describeAll(filters);
    return found.filter((i) => matchesFilter(i, filter)).sort(byInstanceNumber);
  }

  async markWorker(id: string, status: WorkerStatus): Promise<void> {
    validateInstanceIds([id]);
    const at = new Date(status.atMs).toISOString();
    const value = status.ready ? `ready ${at}` : `not-ready ${at} ${exitReason(status.reason)}`;
    await this.#call(
      new CreateTagsCommand({
        Resources: [id],
        Tags: [{ Key: WORKER_TAG, Value: value.slice(0, TAG_VALUE_CHARS_MAX) }],
      }),
      "tagging the worker's status",
    );
  }

  /**
   * Polls every `pollIntervalMs` until each instance this handle started, stopped or terminated
   * is stopped or terminated (or gone); see {@linkcode Fleet.settled}. An instance started here
   * is at rest again once its worker stops it when idle, or the controller stops it.
   * @throws {ServiceError} (`Timeout`) after `transitionWaitMsMax`, or when describe fails
   */
  async settled(): Promise<void> {
    const startMs = this.#clock.nowMs();
    while (this.#inMotion.size > 0) {
      const looked = new Map(this.#inMotion);
      const moving = new Set(
        (await this.describe({ ids: [...looked.keys()] }))
          .filter((i) => i.state !== "stopped" && i.state !== "terminated").map((i) => i.id),
      );
      for (const [id, call] of looked) {
        if (!moving.has(id) && this.#inMotion.get(id) === call) this.#inMotion.delete(id);
      }
      if (this.#inMotion.size === 0) return;
      if (this.#clock.nowMs() - startMs > this.#transitionWaitMsMax) {
        throw new ServiceError(
          "Timeout",
          `instances ${[...moving].join(", ")} did not stop within ` +
            `transitionWaitMsMax = ${this.#transitionWaitMsMax}; stop them, then wait again`,
        );
      }
      await this.#clock.sleepMs(this.#pollIntervalMs);
    }
  }

  close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
    return Promise.resolve();
  }

  #setMoving(ids: readonly string[]): void {
    const call = ++this.#calls;
    for (const id of ids) this.#inMotion.set(id, call);
  }

  /** Every page of DescribeInstances for our fleet tag plus `filters`. */
  async #describeAll(filters: Filter[]): Promise<Instance[]> {
    const out: Instance[] = [];
    let token: string | undefined;
    // A page bound keeps a misbehaving endpoint from looping forever (1000 pages x 1000).
    for (let page = 0; page < 1000; page++) {
      const res: DescribeInstancesCommandOutput = await this.#call(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${FLEET_TAG}`, Values: [this.#fleet] },
            ...this.#tags.map((t) => ({ Name: `tag:${t.Key}`, Values: [t.Value] })),
            ...filters,
          ],
          MaxResults: 1000,
          NextToken: token,
        }),
        "describing instances",
      );
      for (const reservation of res.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) out.push(toInstance(instance));
      }
      token = res.NextToken;
      if (!token) return out;
    }
    throw new ServiceError("DescribeInstances", "more than 1000 pages; refusing to go on");
  }

  /**
   * Runs `call` on instances just launched until EC2 knows their ids: its API is eventually
   * consistent, and a call right after RunInstances may answer InvalidInstanceID.NotFound for an
   * instance that exists ("Eventual consistency in the Amazon EC2 API",
   * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). Retries every
   * `pollIntervalMs`, for at most `transitionWaitMsMax`.
   */
  async #untilKnown<T>(call: () => Promise<T>): Promise<T> {
    const startMs = this.#clock.nowMs();
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        if (this.#clock.nowMs() - startMs > this.#transitionWaitMsMax) throw error;
      }
      await this.#clock.sleepMs(this.#pollIntervalMs);
    }
  }

  async #waitFor(ids: string[], state: InstanceState): Promise<Instance[]> {
    const startMs = this.#clock.nowMs();
    for (;;) {
      const found = await this.describe({ ids });
      if (found.length === ids.length && found.every((i) => i.state === state)) return found;
      if (found.some((i) => i.state === "terminated")) {
        throw new InvalidStateError(
          `a new instance terminated while waiting for ${state}; check the AMI and launch settings`,
        );
      }
      if (this.#clock.nowMs() - startMs > this.#transitionWaitMsMax) {
        throw new ServiceError(
          "Timeout",
          `instances ${ids.join(", ")} did not reach ${state} within ` +
            `transitionWaitMsMax = ${this.#transitionWaitMsMax}`,
        );
      }
      await this.#clock.sleepMs(this.#pollIntervalMs);
    }
  }

  // deno-lint-ignore no-explicit-any
  async #call<T>(command: any, doing: string): Promise<T> {
    try {
      return await this.#client.send(command) as T;
    } catch (error) {
      throw mapEc2Error(error, doing);
    }
  }
}

function mapEc2Error(error: unknown, doing: string): unknown {
  const name = errorName(error);
  const message = (error as Error)?.message ?? "";
  if (name === "InvalidInstanceID.NotFound") {
    const id = /'?(i-[0-9a-f]+)'?/.exec(message)?.[1] ?? "?";
    return new NotFoundError("instance", id, "list instances with describe()", { cause: error });
  }
  if (name === "IncorrectInstanceState") {
    return new InvalidStateError(`${doing}: ${message}; retry once the transition finishes`, {
      cause: error,
    });
  }
  return toServiceError(error, doing);
}

function toInstance(i: Ec2Instance): Instance {
  const name = i.Tags?.find((t) => t.Key === "Name")?.Value ?? "";
  const state = STATE_MAP[i.State?.Name ?? ""] ?? "pending";
  // LaunchTime is reset by every start, so it is the last start's time in every state.
  const lastStartedAtMs = i.LaunchTime?.getTime() ?? null;
  const worker = parseWorkerTag(i.Tags?.find((t) => t.Key === WORKER_TAG)?.Value);
  return {
    id: i.InstanceId ?? "",
    name,
    state,
    stateChangedAtMs: stateChangedAtMs(i, state),
    lastStartedAtMs,
    // A ready word from before the last start belongs to an earlier run.
    readyAtMs: worker?.ready && (lastStartedAtMs === null || worker.atMs >= lastStartedAtMs)
      ? worker.atMs
      : null,
    lastExit: worker && !worker.ready
      ? { atMs: worker.atMs, kind: "not_ready", reason: worker.reason }
      : null,
  };
}

/** Reads the {@linkcode WORKER_TAG}; undefined when absent or unreadable. */
function parseWorkerTag(value: string | undefined): WorkerStatus | undefined {
  const match = /^(ready|not-ready) (\S+)(?: (.*))?$/s.exec(value ?? "");
  const atMs = match ? Date.parse(match[2]) : NaN;
  if (!match || !Number.isFinite(atMs)) return undefined;
  return match[1] === "ready"
    ? { ready: true, atMs }
    : { ready: false, atMs, reason: match[3] ?? "the worker could not become ready" };
}

/**
 * EC2 has no "state changed at" field. A stop or termination records its time in
 * StateTransitionReason ("User initiated (2024-05-01 10:00:00 GMT)"); a start resets LaunchTime.
 */
function stateChangedAtMs(i: Ec2Instance, state: InstanceState): number | null {
  const stamp = /\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) GMT\)/.exec(i.StateTransitionReason ?? "");
  if (stamp && (state === "stopping" || state === "stopped" || state === "terminated")) {
    return Date.parse(`${stamp[1].replace(" ", "T")}Z`);
  }
  if ((state === "pending" || state === "running") && i.LaunchTime) {
    return i.LaunchTime.getTime();
  }
  return null;
}
