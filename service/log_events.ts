/**
 * The JSON lines a service process (`start`, `serve`) writes on stdout, one union per component:
 * the service's own events here, the controller's (`controller/log_events.ts`), the web tier's
 * (`WebLogEvent`, `RouterEvent`) and the storage monitor's (`StorageEvent`). Emitters build
 * these types, so a new line is a new member of its union, and whoever reads the lines reads the
 * same names. (A worker's lines are `protocol/worker_events.ts`.)
 * @module
 */
import type { ControllerLine } from "../controller/log_events.ts";
import type { RouterEvent, WebLogEvent } from "../web/mod.ts";
import type { BackendKind, ServiceCommand, ServiceNames } from "./config.ts";
import type { StorageEvent } from "./storage_monitor.ts";

/** What the service itself says about its life: start, gallery, models, pool, drain, stop. */
export type ServiceEvent =
  | {
    readonly event: "listening";
    readonly url: string;
    /** The loopback URL when `url` is a wildcard address. */
    readonly localUrl?: string;
    readonly apiToken: "none" | "required";
    readonly command: ServiceCommand;
    readonly backend: BackendKind;
    readonly instancesMax: number;
    readonly webInstance: number;
    readonly responseQueue: string;
    /** Whether this web process runs the controller (web instance 1). */
    readonly controller: boolean;
    readonly names: ServiceNames;
  }
  | { readonly event: "no_gallery"; readonly message: string }
  | { readonly event: "model_build"; readonly message: string }
  | { readonly event: "model_build_failed"; readonly error: string }
  | { readonly event: "pool_ready"; readonly instances: number }
  | { readonly event: "controller_restarted" }
  | { readonly event: "draining"; readonly drainMs: number }
  | { readonly event: "drain_cut_short"; readonly reason: string }
  | { readonly event: "drained" }
  | { readonly event: "drain_ended"; readonly note: string }
  | { readonly event: "instances_not_settled"; readonly error: string }
  | { readonly event: "instances_stopped"; readonly count: number }
  | { readonly event: "stopped" };

/** A service line as written. */
export type ServiceLine = { readonly component: "service" } & ServiceEvent;
/** A web tier line as written: the app's (a failed request) or the response router's. */
export type WebLine = { readonly component: "web" } & (WebLogEvent | RouterEvent);
/** A storage monitor line as written, with the data directory it watches. */
export type StorageLine =
  & { readonly component: "storage"; readonly dataDir: string }
  & StorageEvent;

/** Every line a service process writes. */
export type StackLine = ServiceLine | ControllerLine | WebLine | StorageLine;

/**
 * The line the service writes for one of its own events.
 *
 * @param event what happened
 * @returns the line, ready for `JSON.stringify`
 * @example
 * ```ts
 * console.log(JSON.stringify(serviceLine({ event: "stopped" })));
 * ```
 */
export function serviceLine(event: ServiceEvent): ServiceLine {
  return { component: "service", ...event };
}
