import { ServiceError } from "../errors.ts";
import { checkInteger } from "../../internal/mod.ts";

/** Settings every AWS adapter takes. Credentials come from the SDK's default chain. */
export interface AwsClientOptions {
  /** @default {"us-east-1"} (DESIGN.md) */
  region?: string;
  /** A custom endpoint (an emulator, a VPC endpoint). @default {undefined} (AWS's own) */
  endpoint?: string;
  /**
   * Static credentials; omit to use the SDK's default chain (environment, shared files, SSO,
   * instance role). @default {undefined}
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per call including the first, with the SDK's standard backoff. @default {3} */
  maxAttempts?: number;
}

/** The region used when none is configured. */
export const REGION_DEFAULT = "us-east-1";

/** Resolves the shared client settings, checking them once. */
export function clientConfig(options: AwsClientOptions) {
  const maxAttempts = options.maxAttempts ?? 3;
  checkInteger("maxAttempts", maxAttempts, 1, 10);
  const region = options.region ?? REGION_DEFAULT;
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new RangeError(`region ${JSON.stringify(region)} does not look like "us-east-1"`);
  }
  return {
    region,
    maxAttempts,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
}

/** The error name the SDK reports (`NoSuchKey`, `QueueDoesNotExist`...). */
export function errorName(error: unknown): string {
  return (error as { name?: string })?.name ?? "Error";
}

/** The HTTP status of a failed call, when there was one. */
export function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Wraps an SDK failure we have no better type for; keeps the service's name and message. */
export function toServiceError(error: unknown, doing: string): ServiceError {
  const message = (error as Error)?.message ?? String(error);
  return new ServiceError(errorName(error), `${doing} failed: ${message}`, { cause: error });
}
