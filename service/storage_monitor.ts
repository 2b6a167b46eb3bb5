/**
 * Watches the room left on the data directory's file system and tells the health board: below
 * `diskFreeBytesMin`, the `storage` source reports `disk_full` (uploads refused with 507, reads
 * and answers go on); with room again, it clears the issue, so uploads resume by themselves.
 *
 * Why a periodic probe rather than letting the next upload find out: a probe is one `statfs`
 * (about 6 µs), so asking every second costs nothing, and it
 * - refuses uploads *before* the disk is full, keeping `diskFreeBytesMin` for what is already
 *   accepted: workers' labels and answers, SQLite's checkpoints;
 * - clears the refusal without a client having to pay for the probe with a failed upload;
 * - makes `/healthz` say so for load balancers and operators, whatever the traffic.
 * The web tier also reports `disk_full` itself the moment a write fails with ENOSPC (another
 * program filled the disk, or one big upload did); the probe then clears that report no sooner
 * than `probeMs` after it, so a refused upload backs off at least one probe period.
 * @module
 */
import type { Clock } from "../cloud/clock.ts";
import type { DiskSpace } from "../cloud/local/disk_space.ts";
import { checkInteger } from "../internal/mod.ts";
import { DISK_FULL_MESSAGE, type HealthBoard } from "../web/mod.ts";
import { DISK_FREE_BYTES_MIN_CAP, DISK_FREE_FRACTION_MIN } from "./config.ts";

/** The health board source this monitor reports under. */
export const STORAGE_SOURCE = "storage";

/** Options for {@linkcode StorageMonitor}. */
export interface StorageMonitorOptions {
  /**
   * Uploads are refused while less than this is free, in bytes (`--disk-free-bytes-min`).
   * @default {min(DISK_FREE_BYTES_MIN_CAP, 5 % of the file system)}
   */
  readonly diskFreeBytesMin?: number;
  /** How often the free space is read. @default {1000} */
  readonly probeMs?: number;
}

/** What the monitor says: a probe that failed, free space under the threshold, and back. */
export type StorageEvent =
  | { readonly event: "storage_probe_failed"; readonly error: string }
  | { readonly event: "storage_low"; readonly freeBytes: number; readonly minBytes: number }
  | { readonly event: "storage_recovered"; readonly freeBytes: number; readonly minBytes: number };

/** What the monitor uses: the probe (an adapter), the board, the clock, a log. */
export interface StorageMonitorDeps {
  readonly diskSpace: () => DiskSpace;
  readonly health: HealthBoard;
  readonly clock: Clock;
  /** @default {ignore} */
  readonly log?: (event: StorageEvent) => void;
}

/**
 * Reports `storage`/`disk_full` on the board while the disk is short of room.
 *
 * @example
 * ```ts
 * const monitor = new StorageMonitor({ diskSpace: () => diskSpace("data"), health, clock }, {});
 * const running = monitor.run(signal);
 * ```
 */
export class StorageMonitor {
  readonly #deps: StorageMonitorDeps;
  readonly #diskFreeBytesMin: number | undefined;
  readonly #probeMs: number;
  #probeFailed = false;

  /**
   * @param deps the probe, the board, the clock and the log
   * @param options the threshold and the probe period
   * @throws {RangeError} naming a bad option
   */
  constructor(deps: StorageMonitorDeps, options: StorageMonitorOptions = {}) {
    this.#deps = deps;
    this.#diskFreeBytesMin = options.diskFreeBytesMin;
    this.#probeMs = options.probeMs ?? 1_000;
    if (
      this.#diskFreeBytesMin !== undefined &&
      (!Number.isSafeInteger(this.#diskFreeBytesMin) || this.#diskFreeBytesMin < 0)
    ) {
      throw new RangeError(
        `diskFreeBytesMin must be an integer >= 0, got ${this.#diskFreeBytesMin}`,
      );
    }
    checkInteger("probeMs", this.#probeMs, 1, 600_000);
  }

  /** The threshold for a file system of `totalBytes`. */
  freeBytesMin(totalBytes: number): number {
    return this.#diskFreeBytesMin ??
      Math.min(DISK_FREE_BYTES_MIN_CAP, Math.floor(totalBytes * DISK_FREE_FRACTION_MIN));
  }

  /**
   * Reads the free space once and updates the board.
   * @param nowMs the clock's time
   */
  check(nowMs: number): void {
    let space: DiskSpace;
    try {
      space = this.#deps.diskSpace();
    } catch (error) {
      // Cannot tell: leave the board as it is (a full-disk report stays until a probe succeeds).
      if (!this.#probeFailed) {
        this.#deps.log?.({ event: "storage_probe_failed", error: (error as Error).message });
      }
      this.#probeFailed = true;
      return;
    }
    this.#probeFailed = false;
    const minBytes = this.freeBytesMin(space.totalBytes);
    const issue = this.#deps.health.issues().find((i) => i.source === STORAGE_SOURCE);
    if (space.freeBytes < minBytes) {
      if (issue?.code !== "disk_full") {
        this.#deps.log?.({ event: "storage_low", freeBytes: space.freeBytes, minBytes });
      }
      this.#deps.health.report(
        STORAGE_SOURCE,
        { code: "disk_full", message: DISK_FULL_MESSAGE, refuseUploads: 507 },
        nowMs,
      );
      return;
    }
    // A write refused with ENOSPC (reported by the web tier) backs off one probe period even
    // when the room is back at once (the failed upload's own bytes were freed).
    if (issue?.code === "disk_full" && nowMs - issue.sinceMs >= this.#probeMs) {
      this.#deps.health.clear(STORAGE_SOURCE);
      this.#deps.log?.({ event: "storage_recovered", freeBytes: space.freeBytes, minBytes });
    }
  }

  /**
   * Checks every `probeMs` until `signal` aborts.
   * @param signal ends the loop
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.check(this.#deps.clock.nowMs());
      await this.#deps.clock.sleepMs(this.#probeMs, signal);
    }
  }
}
