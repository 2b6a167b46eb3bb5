/**
 * What the service tells the web tier's dashboard: the controller's events as decisions with
 * their reasons, and what it runs (models, detector, gallery). The web tier cannot import the
 * controller or the model (`tests/import_graph_test.ts`), so the service translates here.
 * @module
 */
import { basename } from "node:path";
import type { Clamp, ControllerEvent } from "../controller/mod.ts";
import { GALLERY_HEADER_BYTES_MAX } from "../model/gallery/gallery.ts";
import { decodeGalleryHeader } from "../model/gallery/gallery.ts";
import { readManifest } from "../model/model_store.ts";
import { DETECTOR_SUMMARIES } from "../model/specs.ts";
import type { DashboardAbout, DashboardDecision } from "../web/mod.ts";
import type { ServiceConfig } from "./config.ts";

/** What each clamp means, for a person reading the dashboard. */
const CLAMP_REASONS: Readonly<Record<Clamp, string>> = {
  instancesMax: "capped at instancesMax",
  instancesMin: "raised to instancesMin",
  keepAlive: "surplus kept for keep-alive",
  slots: "no free instance slot to launch into",
  busy: "busy instances are not stopped",
  notReady: "workers cannot get ready: backing off",
};

/**
 * The dashboard's line for a controller event, or undefined for events it does not list.
 *
 * @param event what the controller logged
 * @param nowMs when (events other than decisions carry no time)
 * @returns the decision as the page shows it
 * @example
 * ```ts
 * const decision = dashboardDecision(event, clock.nowMs());
 * if (decision) dashboard.recordDecision(decision);
 * ```
 */
export function dashboardDecision(
  event: ControllerEvent,
  nowMs: number,
): DashboardDecision | undefined {
  switch (event.event) {
    case "decision": {
      const { inputs: i } = event;
      const actions = event.decisions.map((d) => `${d.action} ${d.name}`);
      return {
        atMs: event.nowMs,
        kind: "decision",
        summary: actions.length ? actions.join(", ") : `hold at ${event.target}`,
        reasons: [
          `demand ${event.demand} → desired ${event.desired}, target ${event.target}`,
          ...event.clamps.map((c) => `${c}: ${CLAMP_REASONS[c] ?? c}`),
          ...(event.notReady ? [`not ready: ${event.notReady.reason}`] : []),
          ...event.errors.map((e) => `failed: ${e}`),
        ],
        inputs: `queue ${i.visible} visible, ${i.inFlight} in flight; instances ${i.running} ` +
          `running, ${i.pending} pending, ${i.stopping} stopping, ${i.stopped} stopped, ` +
          `${i.awaiting} awaited, ${i.busy} busy`,
      };
    }
    case "workers_not_ready":
      return {
        atMs: event.atMs,
        kind: event.event,
        summary: `workers not ready (${event.failures} failures)`,
        reasons: [
          `${event.instance}: ${event.reason}`,
          `next try ${new Date(event.retryAtMs).toISOString().slice(11, 19)} UTC`,
          ...(event.refuseUploads ? ["uploads refused with 503 meanwhile"] : []),
        ],
        inputs: "",
      };
    case "workers_ready":
      return {
        atMs: nowMs,
        kind: event.event,
        summary: "workers ready again",
        reasons: [],
        inputs: "",
      };
    case "tick_failed":
    case "crashed":
    case "dead_letter_sweep_failed":
      return {
        atMs: nowMs,
        kind: event.event,
        summary: event.event,
        reasons: [event.error],
        inputs: "",
      };
    case "dead_letter":
      // Counted on the queue chart (Dashboard.recordDeadLetter), and its client's 502 is listed
      // with the recent requests: a flood of them must not push the decisions out.
      return undefined;
  }
}

/**
 * What the service runs: the built models, the detector, the threshold and the gallery (its
 * header only: people and embedding counts). A gallery that cannot be read is reported, not
 * thrown: the workers will say so too.
 *
 * @param config the service's settings
 * @returns the dashboard's "in use" panel
 */
export async function readDashboardAbout(config: ServiceConfig): Promise<DashboardAbout> {
  const models = await readManifest().then(
    (m) => Object.values(m.models).map((e) => e!.id),
    () => [],
  );
  const base = {
    models,
    detector: `${config.detector} (${DETECTOR_SUMMARIES[config.detector]})`,
    threshold: String(config.threshold),
    backend: config.backend,
    instancesMax: config.instancesMax,
  };
  if (config.gallery === undefined) return { ...base, gallery: null };
  try {
    const header = await readGalleryHeader(config.gallery);
    return {
      ...base,
      gallery: {
        file: basename(config.gallery),
        people: header.people.length,
        embeddings: header.entries,
        modelId: header.modelId,
      },
    };
  } catch (error) {
    return { ...base, gallery: null, galleryError: String((error as Error).message) };
  }
}

/** Reads a gallery file's header only (its preamble says how long the header is). */
async function readGalleryHeader(path: string) {
  using file = await Deno.open(path);
  const preamble = new Uint8Array(12);
  if (await file.read(preamble) !== 12) return decodeGalleryHeader(preamble, path);
  const headerBytes = new DataView(preamble.buffer).getUint32(8, true);
  const bytes = new Uint8Array(12 + Math.min(headerBytes, GALLERY_HEADER_BYTES_MAX));
  bytes.set(preamble);
  let offset = 12;
  while (offset < bytes.length) {
    const n = await file.read(bytes.subarray(offset));
    if (n === null) break;
    offset += n;
  }
  return decodeGalleryHeader(bytes.subarray(0, offset), path);
}
