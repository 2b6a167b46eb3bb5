/**
 * What is wrong with the stack right now, in one place: each part of the service (the controller,
 * the storage, the gallery, the web tier itself) reports its own condition under its own source
 * name, and `/healthz`, the status page and the upload routes read it from here. A part that
 * recovers clears its entry; nothing here reads a clock or polls.
 * @module
 */

/** HTTP statuses an issue may refuse new uploads with. */
export type RefusalStatus = 503 | 507;

/** One condition that makes the service degraded. */
export interface HealthIssue {
  /** Who reported it, e.g. `controller`, `storage`, `gallery`. One issue per source. */
  readonly source: string;
  /** Stable machine-readable kind, e.g. `workers_not_ready`, `disk_full`, `no_gallery`. */
  readonly code: string;
  /** What is wrong and what to do, for a person; never a server path. */
  readonly message: string;
  /** When the source first reported this code (clock of the reporter). */
  readonly sinceMs: number;
  /**
   * While set, new uploads are refused with this status and the message (503: the service cannot
   * answer them; 507: it cannot store them). Absent: the service still takes uploads.
   */
  readonly refuseUploads?: RefusalStatus;
}

/** What a source reports; the board adds `source` and keeps the first `sinceMs` of a code. */
export type HealthReport = Omit<HealthIssue, "source" | "sinceMs">;

/**
 * The service's current issues, keyed by source.
 *
 * @example
 * ```ts
 * const board = new HealthBoard();
 * board.report("storage", { code: "disk_full", message: "…", refuseUploads: 507 }, nowMs);
 * board.issues(); // [{ source: "storage", code: "disk_full", … }]
 * board.clear("storage");
 * ```
 */
export class HealthBoard {
  readonly #issues = new Map<string, HealthIssue>();
  readonly #listeners = new Set<() => void>();

  /**
   * Sets the source's issue; a repeat of the same code keeps its first `sinceMs`.
   * @param source the reporting part
   * @param report code, message, whether uploads are refused
   * @param nowMs the reporter's clock
   */
  report(source: string, report: HealthReport, nowMs: number): void {
    const previous = this.#issues.get(source);
    const sinceMs = previous?.code === report.code ? previous.sinceMs : nowMs;
    const issue: HealthIssue = { source, sinceMs, ...report };
    if (
      previous && previous.code === issue.code && previous.message === issue.message &&
      previous.refuseUploads === issue.refuseUploads
    ) return;
    this.#issues.set(source, issue);
    this.#notify();
  }

  /**
   * Removes the source's issue, if any.
   * @param source the reporting part
   */
  clear(source: string): void {
    if (this.#issues.delete(source)) this.#notify();
  }

  /** @returns every current issue, oldest first */
  issues(): HealthIssue[] {
    return [...this.#issues.values()].sort((a, b) => a.sinceMs - b.sinceMs);
  }

  /**
   * @param status only issues refusing with this status @default {any status}
   * @returns the oldest issue that refuses uploads, if any
   */
  refusal(status?: RefusalStatus): HealthIssue | undefined {
    return this.issues().find((issue) =>
      status === undefined ? issue.refuseUploads !== undefined : issue.refuseUploads === status
    );
  }

  /**
   * Calls `listener` after every change (for waiters that must fail fast on a new refusal).
   * @returns a function that removes the listener
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
