/**
 * The contract between the web tier and the workers: the messages that cross the request and
 * response queues, and their limits. Both tiers import it; it imports only the queue port's
 * name rule. Also the worker's log events, its contract with whoever reads its output.
 * @module
 */
export * from "./limits.ts";
export * from "./messages.ts";
export * from "./worker_events.ts";
