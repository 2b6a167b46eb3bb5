/**
 * What `deno task aws up` and `deno task aws down` share: the SDK clients of one deployment, the
 * tags and filters that say what belongs to it, how steps report progress, and how they wait.
 * @module
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { EC2Client, type Filter, type Instance } from "@aws-sdk/client-ec2";
import { IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { clientConfig, errorName, sqsClientConfig } from "../cloud/aws/mod.ts";
import { type Clock, systemClock } from "../cloud/clock.ts";
import { ServiceError } from "../cloud/errors.ts";
import { DEPLOYMENT_TAG } from "./aws_iam.ts";
import type { ServiceConfig } from "./config.ts";

export { errorName };

/** The SDK clients `up` and `down` call. */
export interface AwsClients {
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  readonly ssm: SSMClient;
}

/**
 * The clients of a deployment's region and endpoints (an emulator's endpoint switches S3 to
 * path-style URLs and checksums only where required, as `serve` does). Credentials come from
 * the SDK's default chain. IAM is global; its client signs for the region given.
 * @param config the settings
 */
export function awsClients(config: ServiceConfig): AwsClients {
  const { region } = config;
  const a = config.aws;
  const checksums = a.s3Endpoint !== undefined ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
  return {
    s3: new S3Client({
      ...clientConfig({ region, endpoint: a.s3Endpoint }),
      forcePathStyle: a.s3Endpoint !== undefined,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
    }),
    sqs: new SQSClient(
      sqsClientConfig({ region, endpoint: a.sqsEndpoint, protocol: a.sqsProtocol }),
    ),
    ec2: new EC2Client(clientConfig({ region, endpoint: a.ec2Endpoint })),
    iam: new IAMClient(clientConfig({ region })),
    ssm: new SSMClient(clientConfig({ region })),
  };
}

/** Closes every client's connections. */
export function closeClients(clients: AwsClients): void {
  for (const client of Object.values(clients)) client.destroy();
}

/** How a step went, as its progress line says. */
export type Outcome =
  | "created"
  | "exists"
  | "updated"
  | "started"
  | "deleted"
  | "absent"
  | "skipped";

/** One line of progress: what, which, how it went, and details. */
export interface StepReport {
  readonly kind: string;
  readonly name: string;
  readonly outcome: Outcome;
  readonly detail: string;
}

/** How `up` and `down` wait on EC2 and IAM, and where their progress goes. */
export interface DeployOptions {
  /** Each step's report, as it finishes. */
  readonly progress?: (report: StepReport) => void;
  /** Checked before each step: an aborted run stops there (a rerun goes on from it). */
  readonly signal?: AbortSignal;
  /** How often to look again while waiting on EC2. @default {5000} */
  readonly pollIntervalMs?: number;
  /** @default {systemClock} */
  readonly clock?: Clock;
}

/** The longest `up` waits for an instance to run, and `down` for instances to terminate. */
export const INSTANCE_WAIT_MS_MAX = 600_000;
/**
 * The longest `up` retries a launch that EC2 refuses because a new instance profile has not
 * reached it yet (IAM is eventually consistent; AWS documents "a few seconds" and more).
 */
export const PROFILE_PROPAGATION_WAIT_MS_MAX = 120_000;
/** The longest `down` retries deleting a security group still held by a terminating instance. */
export const GROUP_RELEASE_WAIT_MS_MAX = 300_000;
/** Most pages read from one listing (a misbehaving endpoint must not loop forever). */
export const LIST_PAGES_MAX = 10_000;

/** `[{Key: "fr:deployment", Value: id}]`, plus a Name tag when given. */
export function deploymentTags(id: string, name?: string): { Key: string; Value: string }[] {
  return [
    { Key: DEPLOYMENT_TAG, Value: id },
    ...(name === undefined ? [] : [{ Key: "Name", Value: name }]),
  ];
}

/** The EC2 filter for resources tagged with the deployment. */
export function deploymentFilter(id: string): Filter {
  return { Name: `tag:${DEPLOYMENT_TAG}`, Values: [id] };
}

/** Every EC2 state but terminated. */
export const LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"];

/** An instance's Name tag, or "". */
export function nameOf(instance: Pick<Instance, "Tags">): string {
  return instance.Tags?.find((t) => t.Key === "Name")?.Value ?? "";
}

/**
 * Calls `attempt` until it returns, retrying while `retryable` says the error is a passing one,
 * every `pollIntervalMs`, for at most `waitMsMax`.
 * @throws the last error once the time is up, or any other error at once
 */
export async function retrying<T>(
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  waitMsMax: number,
  options: DeployOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const startMs = clock.nowMs();
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error) || clock.nowMs() - startMs > waitMsMax) throw error;
      await clock.sleepMs(options.pollIntervalMs ?? 5_000);
    }
  }
}

/**
 * Polls `look` until `done` holds of what it returns, for at most `waitMsMax`.
 * @throws {ServiceError} (`Timeout`) naming `what`
 */
export async function waitUntil<T>(
  look: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  waitMsMax: number,
  options: DeployOptions,
): Promise<T> {
  const notYet = new ServiceError("Timeout", `${what} did not happen within ${waitMsMax} ms`);
  return await retrying(
    async () => {
      const value = await look();
      if (!done(value)) throw notYet;
      return value;
    },
    (error) => error === notYet,
    waitMsMax,
    options,
  );
}

/** The error's code is one of `codes` (the SDK's `name`). */
export function isError(error: unknown, ...codes: string[]): boolean {
  return codes.includes(errorName(error));
}

/** A report line as text: `created  s3-bucket  demo-in-bucket  detail`. */
export function reportLine(verb: "up" | "down", r: StepReport): string {
  return `${verb}: ${r.outcome.padEnd(8)} ${r.kind.padEnd(21)} ${r.name}${
    r.detail ? `  ${r.detail}` : ""
  }`;
}
