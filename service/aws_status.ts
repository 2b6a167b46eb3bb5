/**
 * `deno task aws status`: which of a deployment's planned resources exist, asked through the same
 * ports `serve` uses (S3 for buckets, SQS for queues with their counts, EC2 for the app instances
 * of the deployment's tag). Security groups, roles, profiles, the launch template, the web instance
 * and its address are looked up as `aws down` finds them (`findDeployment`) when that was asked;
 * otherwise they are reported as not checked, never as present.
 * @module
 */
import type { BlobStore } from "../cloud/blob_store.ts";
import { NotFoundError } from "../cloud/errors.ts";
import type { Fleet } from "../cloud/fleet.ts";
import type { MessageQueue } from "../cloud/message_queue.ts";
import type { AwsPlan, PlannedResource } from "./aws_plan.ts";

/** What status found for one planned resource. */
export interface ResourceStatus {
  readonly kind: string;
  readonly name: string;
  readonly state: "present" | "missing" | "not checked";
  /** Counts, instance state, or why it was not checked. */
  readonly detail: string;
}

/** The ports status asks. */
export interface StatusPorts {
  readonly blobs: BlobStore;
  readonly queue: MessageQueue;
  readonly fleet: Fleet;
}

/**
 * Asks AWS about each resource of a plan.
 *
 * @param plan the deployment's plan
 * @param ports S3, SQS and the deployment's EC2 fleet
 * @param found what `findDeployment` found (security groups, roles, …), if it was asked
 * @returns one status per planned resource, in the plan's order
 * @throws {CloudError} when AWS refuses for another reason than absence (credentials, rights)
 */
export async function deploymentStatus(
  plan: AwsPlan,
  ports: StatusPorts,
  found?: readonly { kind: string; name: string; id: string }[],
): Promise<ResourceStatus[]> {
  const instances = new Map((await ports.fleet.describe()).map((i) => [i.name, i]));
  const out: ResourceStatus[] = [];
  for (const r of plan.resources) {
    const status = await statusOf(r, ports, instances);
    const match = found?.find((f) => f.kind === r.kind && f.name === r.name);
    if (status.state !== "not checked" || found === undefined) out.push(status);
    else if (match) out.push({ ...status, state: "present", detail: match.id });
    else out.push({ ...status, state: "missing", detail: "" });
  }
  return out;
}

async function statusOf(
  r: PlannedResource,
  ports: StatusPorts,
  instances: Map<string, { state: string; id: string }>,
): Promise<ResourceStatus> {
  const base = { kind: r.kind, name: r.name };
  const missing = (error: unknown, kind: string) =>
    error instanceof NotFoundError && error.kind === kind;
  if (r.kind === "s3-bucket") {
    try {
      const page = await ports.blobs.list(r.name, { pageKeysMax: 1 });
      return { ...base, state: "present", detail: page.items.length > 0 ? "has objects" : "empty" };
    } catch (error) {
      if (missing(error, "bucket")) return { ...base, state: "missing", detail: "" };
      throw error;
    }
  }
  if (r.kind === "sqs-queue") {
    try {
      const c = await ports.queue.counts(r.name);
      return {
        ...base,
        state: "present",
        detail: `${c.visible} visible, ${c.inFlight} in flight, ${c.delayed} delayed`,
      };
    } catch (error) {
      if (missing(error, "queue")) return { ...base, state: "missing", detail: "" };
      throw error;
    }
  }
  if (r.kind === "ec2-instance" && r.settings.LaunchTemplate !== undefined) {
    const found = instances.get(r.name);
    return found === undefined
      ? { ...base, state: "missing", detail: "" }
      : { ...base, state: "present", detail: `${found.id} ${found.state}` };
  }
  return { ...base, state: "not checked", detail: "not looked up" };
}

/**
 * The status as text: one line per resource, then a summary.
 * @param plan the plan (for the id and region)
 * @param statuses from {@linkcode deploymentStatus}
 */
export function statusText(plan: AwsPlan, statuses: readonly ResourceStatus[]): string {
  const count = (state: ResourceStatus["state"]) =>
    statuses.filter((s) => s.state === state).length;
  return [
    `Deployment ${plan.id} in ${plan.region}:`,
    ...statuses.map((s) =>
      `  ${s.state.padEnd(12)} ${s.kind.padEnd(21)} ${s.name.padEnd(30)} ${s.detail}`.trimEnd()
    ),
    `${count("present")} present, ${count("missing")} missing, ${count("not checked")} not checked`,
  ].join("\n");
}
