/**
 * Cross-process wake-ups for long polls, one waiter at a time.
 *
 * Every process watches its own directory `<dir>/<process>/`. A long poll takes a numbered slot,
 * registers `(process, slot, generation)` in the database and sleeps. A sender that decides a
 * sleeper is needed pops one registration in its write transaction and, after committing, writes
 * the generation into `<dir>/<process>/<slot>`: only that process wakes, and only that waiter in
 * it. (A watched shared directory, as before, woke every consumer process on every send, and
 * with 16 of them they spent their time fighting for SQLite's one write lock.)
 *
 * No process spins: a waiter sleeps until its wake, its own deadline, or the next time a hidden
 * message turns visible, and re-registers at least every `pollIntervalMsMax` (which bounds the
 * cost of a lost wake).
 * @module
 */
import { join } from "node:path";
import type { Clock } from "../clock.ts";

/** Who to wake: a waiter registered by some process. */
export interface WakeTarget {
  /** The waiting process's token (its directory name). */
  readonly process: string;
  /** The waiter's slot in that process. */
  readonly slot: number;
  /** The registration's generation; a wake for an older one is ignored. */
  readonly generation: number;
}

/** Slots per process, at most: one per concurrent long poll. Named so a leak shows up. */
const SLOTS_MAX = 4096;
const PROCESS_DIR = /^(\d+)-[0-9a-f]+$/;

interface Slot {
  generation: number;
  wokenGeneration: number;
  wake: (() => void) | undefined;
}

/** The per-process side: slots, the watcher on this process's directory, and waking others. */
export class Waker {
  /** This process's token; other processes write to `<dir>/<token>/<slot>` to wake it. */
  readonly token: string;
  readonly #dir: string;
  readonly #ownDir: string;
  readonly #clock: Clock;
  #watcher: Deno.FsWatcher | undefined;
  #watching = false;
  #loop: Promise<void> | undefined;
  readonly #slots = new Map<number, Slot>();
  /** Generations are unique in the process, so a registration is never mistaken for an older one. */
  #generation = 0;
  readonly #procfs = hasProcfs();

  /**
   * @param dir the shared wake directory (created if missing)
   * @param clock for sleeping
   * @param changeNotification false: never watch (waiters then poll)
   */
  constructor(dir: string, clock: Clock, changeNotification = true) {
    this.#dir = dir;
    this.#clock = clock;
    this.token = `${Deno.pid}-${randomHex(6)}`;
    this.#ownDir = join(dir, this.token);
    this.#watching = changeNotification;
  }

  /**
   * Creates this process's directory and starts watching it; falls back to polling when
   * watching is unsupported. Removes directories left by processes that no longer exist.
   * @throws the file system's error when the directory cannot be created
   */
  start(): void {
    Deno.mkdirSync(this.#ownDir, { recursive: true });
    this.#sweepDeadProcesses();
    if (!this.#watching) return;
    try {
      this.#watcher = Deno.watchFs(this.#ownDir, { recursive: false });
      this.#loop = this.#pump(this.#watcher);
    } catch {
      this.#watching = false;
    }
  }

  /** True when waiters are woken by change notification (false: they must poll). */
  get watching(): boolean {
    return this.#watching;
  }

  /** Takes a free slot for one long poll; give it back with {@linkcode release}. */
  acquire(): number {
    for (let slot = 0; slot < SLOTS_MAX; slot++) {
      if (!this.#slots.has(slot)) {
        this.#slots.set(slot, { generation: 0, wokenGeneration: -1, wake: undefined });
        return slot;
      }
    }
    throw new RangeError(
      `more than SLOTS_MAX = ${SLOTS_MAX} concurrent long polls in one process; ` +
        "receives are leaking (each must finish or be aborted)",
    );
  }

  /** Frees a slot; a late wake for it is then ignored. */
  release(slot: number): void {
    this.#slots.delete(slot);
  }

  /**
   * Starts a new registration of `slot`: earlier wakes no longer count. Call before the
   * transaction that registers it, so a wake that lands before {@linkcode wait} is not lost.
   * @returns the generation to register
   */
  arm(slot: number): number {
    const state = this.#slot(slot);
    state.generation = ++this.#generation;
    return state.generation;
  }

  /** True when `slot`'s registration `generation` has been woken. */
  woken(slot: number, generation: number): boolean {
    return this.#slot(slot).wokenGeneration === generation;
  }

  /**
   * Sleeps until `slot`'s registration `generation` is woken, `durationMs` passes, or `signal`
   * aborts — whichever comes first.
   */
  async wait(
    slot: number,
    generation: number,
    durationMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const state = this.#slot(slot);
    if (state.wokenGeneration === generation || signal?.aborted) return;
    const stop = new AbortController();
    // A reason, so abort() builds no DOMException with a stack trace (7.6 µs per wake).
    const onAbort = () => stop.abort("woken");
    signal?.addEventListener("abort", onAbort, { once: true });
    state.wake = onAbort;
    try {
      await this.#clock.sleepMs(Math.max(1, durationMs), stop.signal);
    } finally {
      state.wake = undefined;
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Wakes a registered waiter: directly when it is in this process, else through its file.
   * @returns false when the target process's directory is gone (it exited): wake another
   */
  async notify(target: WakeTarget): Promise<boolean> {
    if (target.process === this.token) {
      this.#wakeLocal(target.slot, target.generation);
      return true;
    }
    if (!this.alive(target.process)) {
      await Deno.remove(join(this.#dir, target.process), { recursive: true }).catch(() => {});
      return false;
    }
    try {
      // A truncating write: the watcher sees it as a modification of the slot's file.
      await Deno.writeTextFile(
        join(this.#dir, target.process, String(target.slot)),
        String(target.generation),
      );
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** Stops watching, wakes every waiter (they re-check and return) and removes the directory. */
  async close(): Promise<void> {
    this.#watcher?.close();
    await this.#loop;
    for (const state of this.#slots.values()) state.wake?.();
    await Deno.remove(this.#ownDir, { recursive: true }).catch(() => {});
  }

  #slot(slot: number): Slot {
    const state = this.#slots.get(slot);
    if (!state) throw new RangeError(`wake slot ${slot} is not acquired`);
    return state;
  }

  #wakeLocal(slot: number, generation: number): void {
    const state = this.#slots.get(slot);
    if (!state || state.generation !== generation) return;
    state.wokenGeneration = generation;
    state.wake?.();
  }

  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.kind !== "create" && event.kind !== "modify") continue;
        for (const path of event.paths) {
          const slot = Number(path.slice(path.lastIndexOf("/") + 1));
          if (!Number.isInteger(slot) || !this.#slots.has(slot)) continue;
          // The file holds the generation the sender popped; a half-written file reads as NaN
          // and is ignored (the write that completes it raises another event).
          const text = await Deno.readTextFile(path).catch(() => "");
          if (text !== "") this.#wakeLocal(slot, Number(text));
        }
      }
    } catch {
      // The watcher failed (closed under us, or the directory vanished): degrade to polling.
    }
    this.#watching = false;
  }

  /**
   * False only when the process is known to be gone: a killed process keeps its registrations
   * until they expire, and waking one of those would leave the message to a re-check. Liveness is
   * known only where it can be checked without signals (Linux /proc); elsewhere, assume alive.
   */
  alive(process: string): boolean {
    const match = PROCESS_DIR.exec(process);
    if (!this.#procfs || !match) return true;
    try {
      Deno.statSync(`/proc/${match[1]}`);
      return true;
    } catch {
      return false;
    }
  }

  /** Best effort: a crashed process leaves its directory; remove those whose pid is gone. */
  #sweepDeadProcesses(): void {
    if (!this.#procfs) return;
    try {
      for (const entry of Deno.readDirSync(this.#dir)) {
        if (!entry.isDirectory || entry.name === this.token || this.alive(entry.name)) continue;
        Deno.removeSync(join(this.#dir, entry.name), { recursive: true });
      }
    } catch {
      // Another process swept the same directory first, or the directory is read-only.
    }
  }
}

function hasProcfs(): boolean {
  try {
    return Deno.statSync(`/proc/${Deno.pid}`).isDirectory;
  } catch {
    return false;
  }
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
