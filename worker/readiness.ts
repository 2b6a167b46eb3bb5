/**
 * How a worker tells its fleet that it is ready, or that it cannot become ready and why: a
 * worker whose model or gallery does not load would otherwise just exit, and the controller
 * would start it again every tick while uploads wait for an answer that never comes.
 *
 * Locally the worker writes its own instance row through the local fleet's reporter (the fleet
 * records the exit code too; `service/worker.ts` opens it). On EC2 it tags its own instance (found through the metadata service) and then stops it, since a
 * stopped instance runs nothing that could say why.
 * @module
 */
import {
  EXIT_CODE_NOT_READY,
  exitReason,
  type Fleet,
  type InstanceReporter,
} from "../cloud/fleet.ts";
import { fetchInstanceId, type InstanceMetadataOptions } from "./instance_metadata.ts";

export { EXIT_CODE_NOT_READY };

/** Where an EC2 worker's readiness goes: the fleet port (tags, stop) and the metadata service. */
export interface ReadinessTarget {
  readonly fleet: Pick<Fleet, "markWorker" | "stop">;
  readonly metadata?: InstanceMetadataOptions;
  readonly nowMs: () => number;
}

/**
 * The reporter of a worker on an EC2 instance: it finds its own instance id through the metadata
 * service, tags the instance, and stops it when it cannot become ready.
 *
 * @param target the fleet port and the metadata service
 * @returns the reporter
 * @example
 * ```ts
 * const reporter = openReadiness({ fleet, nowMs: () => Date.now() });
 * await reporter.ready();
 * ```
 */
export function openReadiness(target: ReadinessTarget): InstanceReporter {
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
