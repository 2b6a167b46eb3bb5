/**
 * Reads the fleet and queue state that /metrics and the status page show, from the ports.
 * @module
 */
import type { Fleet } from "../cloud/fleet.ts";
import type { MessageQueue } from "../cloud/message_queue.ts";
import type { StackSnapshot } from "./metrics.ts";

/**
 * Makes the `readState` function {@linkcode createApp} takes, from a fleet and a queue port.
 *
 * @param fleet the app-tier fleet (omit when the process cannot see it; no instances are shown)
 * @param queue the message queue port
 * @param queueNames the queues to count, e.g. request, response and dead-letter queue
 * @returns a function reading one snapshot (all reads run in parallel)
 * @example
 * ```ts
 * const readState = snapshotReader(fleet, queue, ["demo-req-queue", "demo-resp-queue"]);
 * const { instances, queues } = await readState();
 * ```
 */
export function snapshotReader(
  fleet: Fleet | undefined,
  queue: MessageQueue,
  queueNames: readonly string[],
): () => Promise<StackSnapshot> {
  return async () => {
    const [instances, counts] = await Promise.all([
      fleet ? fleet.describe() : Promise.resolve([]),
      Promise.all(queueNames.map((name) => queue.counts(name))),
    ]);
    return {
      instances: instances.map((i) => ({
        id: i.id,
        name: i.name,
        state: i.state,
        lastStartedAtMs: i.lastStartedAtMs ?? null,
        readyAtMs: i.readyAtMs ?? null,
        lastExit: i.lastExit ?? null,
      })),
      queues: queueNames.map((name, i) => ({ queue: name, counts: counts[i] })),
    };
  };
}
