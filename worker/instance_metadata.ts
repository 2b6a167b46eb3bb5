/**
 * The EC2 instance metadata service, version 2 (session tokens): how a worker on EC2 learns its
 * own instance id so it can stop its own instance when idle. IMDSv2 first takes a token with a
 * PUT, then reads with the token in a header; instances that require v2 refuse plain GETs.
 * @module
 */
import type { Fleet } from "../cloud/fleet.ts";

/** Where the metadata service answers on every EC2 instance. */
export const IMDS_BASE_URL_DEFAULT = "http://169.254.169.254";
/** How long each metadata call may take: the service is link-local and answers in microseconds. */
export const IMDS_REQUEST_MS_DEFAULT = 2_000;
/** The session token's life; we use it once, right away. */
export const IMDS_TOKEN_TTL_S = 60;
/** Longest metadata answer read (an instance id is 19 characters, a token about 56). */
const IMDS_ANSWER_CHARS_MAX = 4096;

/** Options for {@linkcode fetchInstanceId}. */
export interface InstanceMetadataOptions {
  /** The metadata service's base URL; tests point it at a local server. @default {IMDS_BASE_URL_DEFAULT} */
  baseUrl?: string;
  /** Time limit for each of the two calls. @default {IMDS_REQUEST_MS_DEFAULT} */
  requestMsMax?: number;
}

/** The metadata service could not be reached or answered something unusable. */
export class InstanceMetadataError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InstanceMetadataError";
  }
}

/**
 * Reads this instance's id from the metadata service (IMDSv2).
 *
 * @param options the service's URL and the time limit per call
 * @returns the id, e.g. `i-0123456789abcdef0`
 * @throws {InstanceMetadataError} when the service is unreachable, refuses, is too slow or
 *   answers something that is not an instance id (the message says which, and what to check)
 * @example
 * ```ts
 * const id = await fetchInstanceId(); // on EC2
 * await fleet.stop([id]);
 * ```
 */
export async function fetchInstanceId(options: InstanceMetadataOptions = {}): Promise<string> {
  const baseUrl = (options.baseUrl ?? IMDS_BASE_URL_DEFAULT).replace(/\/+$/, "");
  const requestMsMax = options.requestMsMax ?? IMDS_REQUEST_MS_DEFAULT;
  if (!(requestMsMax > 0)) {
    throw new RangeError(`requestMsMax must be a positive number, got ${requestMsMax}`);
  }
  const token = await call(`${baseUrl}/latest/api/token`, {
    method: "PUT",
    headers: { "X-aws-ec2-metadata-token-ttl-seconds": String(IMDS_TOKEN_TTL_S) },
  }, requestMsMax);
  const id = (await call(`${baseUrl}/latest/meta-data/instance-id`, {
    headers: { "X-aws-ec2-metadata-token": token },
  }, requestMsMax)).trim();
  if (!/^i-[0-9a-f]{8,17}$/.test(id)) {
    throw new InstanceMetadataError(
      `the metadata service at ${baseUrl} answered ${JSON.stringify(id.slice(0, 40))}, ` +
        "which is not an instance id; check the worker's --imds-url",
    );
  }
  return id;
}

async function call(url: string, init: RequestInit, requestMsMax: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(requestMsMax) });
  } catch (error) {
    throw new InstanceMetadataError(
      `cannot reach the instance metadata service at ${url} within ${requestMsMax} ms ` +
        `(${(error as Error).message}); the worker must run on EC2 with IMDS enabled, ` +
        "or be given --imds-url",
      { cause: error },
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new InstanceMetadataError(
      `the instance metadata service answered ${response.status} to ${init.method ?? "GET"} ` +
        `${url}; check that IMDSv2 is enabled and the hop limit allows this process`,
    );
  }
  if (text.length > IMDS_ANSWER_CHARS_MAX) {
    throw new InstanceMetadataError(
      `the metadata answer from ${url} is over ${IMDS_ANSWER_CHARS_MAX} characters`,
    );
  }
  return text;
}

/**
 * Stops the instance this process runs on, through the fleet port (EC2's StopInstances): what an
 * idle worker on EC2 does, so the instance stops as soon as no request is pending.
 *
 * @param fleet the fleet port (the EC2 adapter on AWS)
 * @param options where the metadata service is
 * @returns the id of the instance asked to stop
 * @throws {InstanceMetadataError} when the instance id cannot be learnt
 * @throws {CloudError} when the fleet refuses the stop
 * @example
 * ```ts
 * if (report.reason === "idle") await stopOwnInstance(fleet);
 * ```
 */
export async function stopOwnInstance(
  fleet: Pick<Fleet, "stop">,
  options: InstanceMetadataOptions = {},
): Promise<string> {
  const id = await fetchInstanceId(options);
  await fleet.stop([id]);
  return id;
}
