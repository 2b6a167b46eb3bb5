/**
 * Cross-process wake-ups for long polls. A sender touches `<dir>/<queue>`; every process watching
 * the directory (inotify, FSEvents...) wakes its waiters for that queue. No process spins: a
 * waiter sleeps until a wake, its own deadline, or the next time a hidden message turns visible.
 * @module
 */
import { join } from "node:path";
import type { Clock } from "../clock.ts";

/** The per-process side: counters that change on every wake, and waiting on them. */
export class Waker {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  #watcher: Deno.FsWatcher | undefined;
  #watching = false;
  #loop: Promise<void> | undefined;
  readonly #generation = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /**
   * @param dir the wake directory (created if missing)
   * @param clock for the fallback poll
   * @param pollIntervalMs the longest a waiter sleeps without re-checking (covers lost events and
   *   file systems without change notification)
   */
  constructor(dir: string, clock: Clock, pollIntervalMs: number) {
    this.#dir = dir;
    this.#clock = clock;
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** Starts watching; falls back to polling every `fallbackPollMs` when watching is unsupported. */
  start(): void {
    Deno.mkdirSync(this.#dir, { recursive: true });
    try {
      this.#watcher = Deno.watchFs(this.#dir, { recursive: false });
      this.#watching = true;
      this.#loop = this.#pump(this.#watcher);
    } catch {
      this.#watching = false;
    }
  }

  /** True when change notification works here (else waiters poll). */
  get watching(): boolean {
    return this.#watching;
  }

  /** The current generation of a queue; read it before checking, pass it to {@linkcode wait}. */
  generation(queue: string): number {
    return this.#generation.get(queue) ?? 0;
  }

  /** Wakes this process's waiters and, through the file, every other process's. */
  async notify(queue: string): Promise<void> {
    this.#bump(queue);
    // Truncating write: one small syscall, enough for the watchers to see a modify event.
    await Deno.writeFile(join(this.#dir, queue), new Uint8Array(0));
  }

  /**
   * Sleeps until the queue's generation moves past `seen`, `durationMs` passes, or `signal`
   * aborts — whichever comes first.
   */
  async wait(
    queue: string,
    seen: number,
    durationMs: number,
    fallbackPollMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.generation(queue) !== seen || signal?.aborted) return;
    const cap = this.#watching ? this.#pollIntervalMs : fallbackPollMs;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let set = this.#waiters.get(queue);
    if (!set) this.#waiters.set(queue, set = new Set());
    const wake = () => stop.abort();
    set.add(wake);
    try {
      await this.#clock.sleepMs(Math.min(durationMs, cap), stop.signal);
    } finally {
      set.delete(wake);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Stops watching and wakes every waiter (they re-check and return). */
  async close(): Promise<void> {
    this.#watcher?.close();
    await this.#loop;
    for (const set of this.#waiters.values()) for (const wake of set) wake();
  }

  #bump(queue: string): void {
    this.#generation.set(queue, this.generation(queue) + 1);
    const set = this.#waiters.get(queue);
    if (set) { for (const wake of [...set]) wake(); }
  }

  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        for (const path of event.paths) {
          const name = path.slice(path.lastIndexOf("/") + 1);
          if (name !== "") this.#bump(name);
        }
      }
    } catch {
      // The watcher failed (closed under us, or the directory vanished): degrade to polling.
      this.#watching = false;
    }
  }
}
