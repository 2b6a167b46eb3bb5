/**
 * How a worker tells its fleet that it is ready, or that it cannot become ready and why: a
 * worker whose model or gallery does not load would otherwise just exit, and the controller
 * would start it again every tick while uploads wait for an answer that never comes.
 *
 * Locally the worker writes its own instance row (the fleet records the exit code too); on EC2
 * it tags its own instance (found through the metadata service) and then stops it, since a
 * stopped instance runs nothing that could say why.
 * @module
 */
import {
  EXIT_CODE_NOT_READY,
  exitReason,
  type Fleet,
  type InstanceReporter,
} from "../cloud/fleet.ts";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { fetchInstanceId, type InstanceMetadataOptions } from "./instance_metadata.ts";

export { EXIT_CODE_NOT_READY };

/** Where the worker's readiness goes. */
export type ReadinessTarget =
  /** A local fleet's worker: its database and `FR_INSTANCE_ID`. */
  | { readonly kind: "local"; readonly databasePath: string; readonly instanceId: string }
  /** An EC2 worker: the fleet port (tags, stop) and the metadata service (its own id). */
  | {
    readonly kind: "ec2";
    readonly fleet: Pick<Fleet, "markWorker" | "stop">;
    readonly metadata?: InstanceMetadataOptions;
    readonly nowMs: () => number;
  };

/**
 * Opens the reporter for where this worker runs.
 *
 * @param target the local database and instance id, or the EC2 fleet
 * @returns the reporter
 * @throws {CloudError} when the local database cannot be opened
 * @example
 * ```ts
 * const reporter = openReadiness({ kind: "local", databasePath: "data/cloud.db", instanceId });
 * await reporter.ready();
 * ```
 */
export function openReadiness(target: ReadinessTarget): InstanceReporter {
  if (target.kind === "local") return LocalFleet.reporter(target.databasePath, target.instanceId);
  let id: Promise<string> | undefined;
  const ownId = () => id ??= fetchInstanceId(target.metadata);
  const fleet = target.fleet;
  if (fleet.markWorker === undefined) throw new TypeError("this fleet cannot mark its workers");
  const mark = fleet.markWorker.bind(fleet);
  return {
    async ready() {
      await mark(await ownId(), { ready: true, atMs: target.nowMs() });
    },
    async notReady(reason) {
      const instance = await ownId();
      try {
        await mark(instance, { ready: false, atMs: target.nowMs(), reason: exitReason(reason) });
      } finally {
        // Stopped, it costs nothing and the controller sees it come and go; the tag says why.
        await fleet.stop([instance]);
      }
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The one-line reason for an error that kept the worker from becoming ready: its name and
 * message, absolute paths shortened (see `exitReason`).
 *
 * @param error what was thrown while loading
 * @returns the reason
 */
export function notReadyReason(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name === "Error" ? "" : `${error.name}: `;
    return exitReason(`${name}${error.message}`);
  }
  return exitReason(String(error));
}
