/**
 * The service's resource names (DESIGN.md): derived from one configurable id.
 * @module
 */
import { InvalidNameError } from "./errors.ts";

/**
 * The tag every AWS resource of a deployment carries, its value the deployment id: instances are
 * launched with it, the fleet describes only instances that have it, and the IAM policies
 * (`deploy/iam/`) let a deployment's roles start, stop and tag only what carries its own.
 */
export const DEPLOYMENT_TAG = "fr:deployment";

/** Bucket and queue names of one deployment. */
export interface ResourceNames {
  /** `<id>-in-bucket`: uploaded images. */
  readonly inBucket: string;
  /** `<id>-out-bucket`: labels, keyed by file stem. */
  readonly outBucket: string;
  /** `<id>-req-queue`: `{id, key}` requests (the protocol sets its message size limit). */
  readonly requestQueue: string;
  /** `<id>-resp-queue`: answers. */
  readonly responseQueue: string;
}

/**
 * Derives the resource names for deployment `id`.
 *
 * @param id 1–40 lowercase letters, digits and hyphens (so `<id>-out-bucket` stays a valid bucket)
 * @returns the names
 * @throws {InvalidNameError} for an id that would make invalid names
 * @example
 * ```ts
 * resourceNames("demo").requestQueue; // "demo-req-queue"
 * ```
 */
export function resourceNames(id: string): ResourceNames {
  if (typeof id !== "string" || !/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/.test(id)) {
    throw new InvalidNameError(
      "deployment id",
      String(id),
      "use 1-40 lowercase letters, digits and hyphens, starting and ending with a letter or digit",
    );
  }
  return {
    inBucket: `${id}-in-bucket`,
    outBucket: `${id}-out-bucket`,
    requestQueue: `${id}-req-queue`,
    responseQueue: `${id}-resp-queue`,
  };
}
