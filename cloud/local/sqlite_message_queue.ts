/**
 * The embedded message queue: SQS semantics over one SQLite database (WAL), safe for many
 * processes at once.
 *
 * Long polls register in the database and sleep; a sender wakes at most one of them, and only
 * when no consumer will come for the message anyway (one is lingering, or busy ones come back
 * within `lingerMs`). Every consumer process awake costs the one write lock, so waking them all
 * per send (as a broadcast would) collapses throughput as consumers are added; see DEVELOPERS.md.
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { InvalidNameError, NotFoundError, StaleReceiptError } from "../errors.ts";
import {
  checkBodySize,
  type MessageQueue,
  type QueueConfig,
  type QueueCounts,
  type ReceivedMessage,
  type ReceiveOptions,
  type ResolvedQueueConfig,
  resolveQueueConfig,
  resolveReceiveOptions,
  resolveSendOptions,
  type SendOptions,
  validateQueueName,
  validateVisibilityTimeoutMs,
} from "../message_queue.ts";
import { classify, type Database, openDatabase } from "./_database.ts";
import { toStorageError } from "./_fs_errors.ts";
import { Waker, type WakeTarget } from "./_wake.ts";

/** Options for {@linkcode SqliteMessageQueue.open}. */
export interface SqliteMessageQueueOptions {
  /** Every process sharing the file must use the same (real) clock. @default {systemClock} */
  clock?: Clock;
  /** How long to wait for another process's write lock. @default {10000} */
  busyTimeoutMs?: number;
  /** See `DatabaseOptions.busyBlockMs`: 0 for a process serving many requests. @default {1} */
  busyBlockMs?: number;
  /**
   * With change notification working, the longest a long poll sleeps before re-checking anyway
   * (guards against a lost event). @default {1000}
   */
  pollIntervalMsMax?: number;
  /** Without change notification (some network file systems), how often long polls re-check. @default {20} */
  fallbackPollMs?: number;
  /**
   * How long a long poll looks for a message (a read every millisecond) before it goes to
   * sleep, and how long a send gives busy consumers to come back before it wakes a sleeping one.
   * Keeps as few consumer processes awake as the work needs. A message may wait this long for a
   * busy consumer while another sleeps; 0 wakes a sleeper for every send into an empty queue.
   * @default {5}
   */
  lingerMs?: number;
  /**
   * Wake long polls by file-change notification. False makes them poll every `fallbackPollMs`
   * (what happens anyway where notification is unavailable). @default {true}
   */
  changeNotification?: boolean;
}

/** Rows moved to a dead-letter queue per receive, at most; keeps one transaction short. */
const DEAD_LETTER_MOVES_PER_RECEIVE_MAX = 100;
/**
 * Times a sender picks another waiter when the one it popped belonged to a process that has
 * exited; beyond that the message waits for a waiter's own re-check (≤ `pollIntervalMsMax`).
 */
const WAKE_ATTEMPTS_MAX = 3;
/** How often a lingering long poll looks (a read) for a message; see `lingerMs`. */
const LINGER_POLL_MS = 1;
/** `waiters.state`: asleep until woken or expires_ms. */
const SLEEPING = 0;
/** `waiters.state`: looking every LINGER_POLL_MS until expires_ms; needs no wake-up. */
const LINGERING = 1;
/**
 * A receive from a queue within this many lingerMs means its consumers are making progress
 * (a loaded machine stretches a consumer's round trip well past one lingerMs).
 */
const PROGRESS_LINGERS = 4;
/** Sleepers woken by one backlog look, at most (the next send or look wakes more). */
const BACKLOG_WAKES_MAX = 16;

interface WaiterRow {
  id: number;
  process: string;
  slot: number;
  generation: number;
}

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  receive_count: number;
}

/** Each open queue's database and clock, for other stores of this folder that share them. */
const QUEUE_DATABASES = new WeakMap<SqliteMessageQueue, { database: Database; clock: Clock }>();

/**
 * The database (and clock) an open queue writes through, so another embedded store can write in
 * the same group commit as its sends (`SqliteRecordStore`). Folder-internal: not in `mod.ts`.
 */
export function queueDatabase(queue: SqliteMessageQueue): { database: Database; clock: Clock } {
  const shared = QUEUE_DATABASES.get(queue);
  if (!shared) throw new TypeError("not an open SqliteMessageQueue");
  return shared;
}

/**
 * A {@linkcode MessageQueue} in a SQLite file.
 *
 * @example
 * ```ts
 * const mq = await SqliteMessageQueue.open("./data/cloud.db");
 * await mq.ensureQueue("demo-req-queue", { messageBytesMax: 1024 });
 * await mq.send("demo-req-queue", JSON.stringify({ id: "1", key: "test_000.jpg" }));
 * const [m] = await mq.receive("demo-req-queue", { waitMs: 20_000 });
 * await mq.delete("demo-req-queue", m.receipt);
 * ```
 */
export class SqliteMessageQueue implements MessageQueue {
  readonly #database: Database;
  readonly #clock: Clock;
  readonly #waker: Waker;
  readonly #pollIntervalMsMax: number;
  readonly #lingerMs: number;
  readonly #fallbackPollMs: number;
  readonly #configs = new Map<string, ResolvedQueueConfig>();
  readonly #backlogChecks = new Map<string, { stop: AbortController; done: Promise<void> }>();
  /** When this process last received from each queue (to withdraw that signal on sleeping). */
  readonly #lastReceiveMs = new Map<string, number>();
  #closed = false;
  #closing = false;

  private constructor(
    database: Database,
    clock: Clock,
    waker: Waker,
    pollIntervalMsMax: number,
    lingerMs: number,
    fallbackPollMs: number,
  ) {
    this.#database = database;
    QUEUE_DATABASES.set(this, { database, clock });
    this.#clock = clock;
    this.#waker = waker;
    this.#pollIntervalMsMax = pollIntervalMsMax;
    this.#lingerMs = lingerMs;
    this.#fallbackPollMs = fallbackPollMs;
  }

  /**
   * Opens (creating if needed) the queue database at `path`.
   *
   * @param path the SQLite file; wake files go in `<path>-wake/`
   * @param options clock, lock waiting and how long polls wait
   * @returns the queue
   * @throws {CorruptStoreError} when the file is not a usable database
   * @throws {StorageError} when it cannot be created or written
   */
  static async open(
    path: string,
    options: SqliteMessageQueueOptions = {},
  ): Promise<SqliteMessageQueue> {
    const clock = options.clock ?? systemClock;
    const pollIntervalMsMax = options.pollIntervalMsMax ?? 1000;
    const fallbackPollMs = options.fallbackPollMs ?? 20;
    checkPositive("pollIntervalMsMax", pollIntervalMsMax);
    checkPositive("fallbackPollMs", fallbackPollMs);
    const lingerMs = options.lingerMs ?? 5;
    if (!(lingerMs >= 0) || !Number.isFinite(lingerMs)) {
      throw new RangeError(
        `lingerMs must be a finite number of milliseconds >= 0, got ${lingerMs}`,
      );
    }
    const database = openDatabase(path, {
      clock,
      busyTimeoutMs: options.busyTimeoutMs,
      busyBlockMs: options.busyBlockMs,
    });
    const wakeDir = `${path}-wake`;
    const waker = new Waker(wakeDir, clock, options.changeNotification ?? true);
    try {
      waker.start();
      await sweepExpiredWaiters(database, clock.nowMs());
    } catch (error) {
      await waker.close();
      database.close();
      throw classify(toStorageError(error, wakeDir, "creating the wake directory"), wakeDir);
    }
    return new SqliteMessageQueue(
      database,
      clock,
      waker,
      pollIntervalMsMax,
      lingerMs,
      fallbackPollMs,
    );
  }

  /** True when long polls are woken by change notification (false: they poll). */
  get notified(): boolean {
    return this.#waker.watching;
  }

  async ensureQueue(queue: string, config?: QueueConfig): Promise<void> {
    validateQueueName(queue);
    const resolved = resolveQueueConfig(config);
    await this.#database.write(() => {
      if (resolved.deadLetter && !this.#readConfig(resolved.deadLetter.queue)) {
        throw new NotFoundError(
          "queue",
          resolved.deadLetter.queue,
          "create the dead-letter queue before the queue that uses it",
        );
      }
      this.#database.prepare(
        `INSERT OR IGNORE INTO queues (name, message_bytes_max, visibility_timeout_ms,
           dead_letter_queue, receive_count_max) VALUES (?, ?, ?, ?, ?)`,
      ).run(
        queue,
        resolved.messageBytesMax,
        resolved.visibilityTimeoutMs,
        resolved.deadLetter?.queue ?? null,
        resolved.deadLetter?.receiveCountMax ?? null,
      );
    });
  }

  async send(queue: string, body: string, options?: SendOptions): Promise<{ messageId: string }> {
    const config = this.#config(queue);
    checkBodySize(queue, body, config.messageBytesMax);
    const { delayMs } = resolveSendOptions(options);
    const messageId = crypto.randomUUID();
    const wakes = await this.#database.write(() => {
      const nowMs = this.#clock.nowMs();
      this.#database.prepare(
        `INSERT INTO messages (queue, message_id, body, sent_ms, visible_at_ms)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(queue, messageId, body, nowMs, nowMs + delayMs);
      return [this.#wakeFor(queue, nowMs + delayMs, nowMs)];
    });
    if (wakes[0] !== undefined) await this.#wakeAll(wakes);
    return { messageId };
  }

  async receive(queue: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> {
    const config = this.#config(queue);
    const { messagesMax, waitMs, visibilityTimeoutMs, signal } = resolveReceiveOptions(options);
    const take: Take = {
      queue,
      config,
      messagesMax,
      visibilityTimeoutMs: visibilityTimeoutMs ?? config.visibilityTimeoutMs,
      deadlineMs: this.#clock.nowMs() + waitMs,
      signal,
    };
    if (waitMs === 0 || signal?.aborted || !this.#waker.watching) return await this.#poll(take);
    // Under load there is usually something to take: no registration needed.
    if (this.#anyVisible(queue)) {
      const taken = await this.#database.write(() => this.#take(take));
      await this.#wakeAll(taken.wakes);
      if (taken.received.length > 0) return taken.received;
    }
    const slot = this.#waker.acquire();
    let registered = false;
    try {
      const lingerUntilMs = this.#clock.nowMs() + this.#lingerMs;
      for (let waitedOnly = false;;) {
        const generation = this.#waker.arm(slot);
        const step = await this.#database.write(() =>
          this.#takeOrRegister(take, slot, generation, lingerUntilMs, waitedOnly)
        );
        registered = step.wakeAtMs !== undefined;
        await this.#wakeAll(step.wakes);
        if (step.wakeAtMs === undefined) return step.received;
        if (step.lingering) await this.#linger(take.queue, slot, generation, step.wakeAtMs, signal);
        else await this.#waker.wait(slot, generation, step.wakeAtMs - this.#clock.nowMs(), signal);
        if (this.#closed) return [];
        waitedOnly = step.recheck === true && !this.#waker.woken(slot, generation);
      }
    } finally {
      this.#waker.release(slot);
      // Left registered only by an abort or an error: drop the row so it swallows no wake.
      if (registered && !this.#closed) await this.#unregister(slot).catch(() => {});
    }
  }

  async delete(queue: string, receipt: string): Promise<void> {
    this.#config(queue);
    const { seq, token } = parseReceipt(receipt);
    await this.#database.write(() =>
      this.#database.prepare("DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?")
        .run(seq, queue, token)
    );
  }

  async changeVisibility(
    queue: string,
    receipt: string,
    visibilityTimeoutMs: number,
  ): Promise<void> {
    this.#config(queue);
    validateVisibilityTimeoutMs(visibilityTimeoutMs);
    const { seq, token } = parseReceipt(receipt);
    const changed = await this.#database.write(() => {
      const nowMs = this.#clock.nowMs();
      const visibleAtMs = nowMs + visibilityTimeoutMs;
      const { changes } = this.#database.prepare(
        `UPDATE messages SET visible_at_ms = ?
         WHERE seq = ? AND queue = ? AND receipt = ? AND visible_at_ms > ?`,
      ).run(visibleAtMs, seq, queue, token, nowMs);
      if (Number(changes) === 0) return undefined;
      return { wakes: [this.#wakeFor(queue, visibleAtMs, nowMs)] };
    });
    if (changed === undefined) {
      throw new StaleReceiptError(queue, "not in flight under this receipt");
    }
    await this.#wakeAll(changed.wakes);
  }

  counts(queue: string): Promise<QueueCounts> {
    this.#config(queue);
    const row = this.#database.read(() =>
      this.#database.prepare(
        `SELECT
           COALESCE(SUM(visible_at_ms <= ?1), 0) AS visible,
           COALESCE(SUM(visible_at_ms > ?1 AND receipt IS NOT NULL), 0) AS in_flight,
           COALESCE(SUM(visible_at_ms > ?1 AND receipt IS NULL), 0) AS delayed
         FROM messages WHERE queue = ?2`,
      ).get(this.#clock.nowMs(), queue) as { visible: number; in_flight: number; delayed: number }
    );
    return Promise.resolve({
      visible: row.visible,
      inFlight: row.in_flight,
      delayed: row.delayed,
    });
  }

  async purge(queue: string): Promise<void> {
    this.#config(queue);
    await this.#database.write(() =>
      this.#database.prepare("DELETE FROM messages WHERE queue = ?").run(queue)
    );
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    // Pending backlog looks run now rather than never: their messages may still need a consumer.
    for (const { stop } of this.#backlogChecks.values()) stop.abort();
    await Promise.all([...this.#backlogChecks.values()].map((check) => check.done));
    this.#closed = true;
    // Best effort: registrations left behind expire within pollIntervalMsMax anyway.
    await this.#database.write(() =>
      this.#database.prepare("DELETE FROM waiters WHERE process = ?").run(this.#waker.token)
    ).catch(() => {});
    await this.#waker.close();
    this.#database.close();
  }

  /**
   * Receives without registering (a short poll, or no change notification): look first (WAL
   * readers never wait), take the write lock only to claim, and without notification sleep
   * `fallbackPollMs` between looks.
   */
  async #poll(take: Take): Promise<ReceivedMessage[]> {
    for (;;) {
      let received: ReceivedMessage[] = [];
      if (this.#anyVisible(take.queue)) {
        const taken = await this.#database.write(() => this.#take(take));
        await this.#wakeAll(taken.wakes);
        received = taken.received;
      }
      const nowMs = this.#clock.nowMs();
      if (
        received.length > 0 || nowMs >= take.deadlineMs || take.signal?.aborted || this.#closed
      ) {
        return received;
      }
      const wakeAtMs = Math.min(
        take.deadlineMs,
        this.#nextVisibleMs(take.queue, nowMs) ?? Infinity,
        nowMs + this.#fallbackPollMs,
      );
      await this.#clock.sleepMs(wakeAtMs - nowMs, take.signal);
    }
  }

  /**
   * One step of a long poll, in one write transaction so no send can slip between the look and
   * the registration: claim what is visible, or register and say until when to wait (the
   * deadline, the next message turning visible, the end of lingering, the re-check interval).
   */
  #takeOrRegister(
    take: Take,
    slot: number,
    generation: number,
    lingerUntilMs: number,
    waitedOnly: boolean,
  ): Step {
    // Unregister first: a waiter that leaves work behind must not count itself as the one who
    // will look for it.
    const previous = this.#database.prepare(
      "DELETE FROM waiters WHERE process = ? AND slot = ? RETURNING rowid AS id",
    ).get(this.#waker.token, slot) as { id: number } | undefined;
    const nowMs = this.#clock.nowMs();
    // A sleeper's own periodic re-check is there for lost wakes: it leaves messages that have
    // not waited out lingerMs to the consumers already awake, or every sleeper would join in
    // under load and all of them would fight for the write lock.
    const leave = waitedOnly &&
      (!this.#anyVisibleSince(take.queue, nowMs - this.#lingerMs) ||
        this.#progressing(take.queue, nowMs));
    const { received, wakes } = leave ? { received: [], wakes: [] } : this.#take(take);
    if (received.length > 0 || nowMs >= take.deadlineMs || take.signal?.aborted || this.#closed) {
      return { received, wakes };
    }
    const lingering = lingerUntilMs > nowMs;
    const lastReceiveMs = this.#lastReceiveMs.get(take.queue);
    if (!lingering && lastReceiveMs !== undefined) {
      // Going to sleep: if nobody received after this process did, that receive no longer
      // means a consumer is coming back, and a send must wake a sleeper at once.
      this.#database.prepare(
        "UPDATE queues SET last_receive_ms = 0 WHERE name = ? AND last_receive_ms <= ?",
      )
        .run(take.queue, lastReceiveMs);
      this.#lastReceiveMs.delete(take.queue);
    }
    const recheckMs = lingering ? lingerUntilMs : nowMs + this.#pollIntervalMsMax;
    const wakeAtMs = Math.min(
      take.deadlineMs,
      this.#nextVisibleMs(take.queue, nowMs) ?? Infinity,
      recheckMs,
    );
    // Back in its old place (rowid) if it had one: senders wake the consumer that worked last,
    // not the one whose idle re-check happened last.
    this.#database.prepare(
      `INSERT INTO waiters (rowid, process, slot, generation, queue, expires_ms, state)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      previous?.id ?? null,
      this.#waker.token,
      slot,
      generation,
      take.queue,
      wakeAtMs,
      lingering ? LINGERING : SLEEPING,
    );
    return { received, wakeAtMs, lingering, recheck: !lingering && wakeAtMs === recheckMs, wakes };
  }

  /**
   * Lingering: look for a visible message every `LINGER_POLL_MS` (a read: no lock, nobody
   * disturbed) until `untilMs`, a wake, or an abort. Bounded, so an idle consumer still sleeps.
   */
  async #linger(
    queue: string,
    slot: number,
    generation: number,
    untilMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (;;) {
      const leftMs = untilMs - this.#clock.nowMs();
      if (leftMs <= 0) return;
      await this.#waker.wait(slot, generation, Math.min(LINGER_POLL_MS, leftMs), signal);
      if (this.#waker.woken(slot, generation) || signal?.aborted || this.#closed) return;
      if (this.#anyVisible(queue)) return;
    }
  }

  /**
   * Decides what a message visible at `visibleAtMs` needs; runs inside the write transaction
   * that made it visible (so each registration is popped at most once), and the caller acts
   * after committing:
   *
   * - nothing, when some waiter will look by then anyway (a lingering one looks every
   *   millisecond or so; a sleeping one may be due);
   * - a look later, when consumers are busy (messages in flight, or received lately): they
   *   usually come back within `lingerMs`, and waking a sleeper for every send would keep every
   *   consumer process awake and fighting for the one write lock. If the message still waits
   *   then, sleepers are woken (see {@linkcode #wakeForBacklog});
   * - a sleeping waiter popped to be woken now, when nobody else will come: the one registered
   *   last (the likeliest to be warm; rows keep their place across idle re-checks).
   */
  #wakeFor(queue: string, visibleAtMs: number, nowMs: number): Wake | undefined {
    const soonMs = Math.max(visibleAtMs, nowMs + this.#lingerMs);
    // One look covers the common cases: nobody waiting (consumers busy or none), or someone
    // about to look anyway.
    const { waiting, looking } = this.#database.prepare(
      `SELECT count(*) AS waiting,
         COALESCE(MAX(state = ${LINGERING} OR expires_ms <= ?), 0) AS looking
       FROM waiters WHERE queue = ? AND expires_ms > ?`,
    ).get(soonMs, queue, nowMs) as { waiting: number; looking: number };
    if (waiting === 0 || looking === 1) return undefined;
    if (visibleAtMs <= nowMs && this.#lingerMs > 0) {
      const busy = this.#progressing(queue, nowMs) ||
        this.#database.prepare(
            `SELECT 1 AS x FROM messages
             WHERE queue = ? AND visible_at_ms > ? AND receipt IS NOT NULL LIMIT 1`,
          ).get(queue, nowMs) !== undefined;
      if (busy) return { queue };
    }
    const [target] = this.#popSleepers(queue, nowMs, 1);
    return target && { queue, target };
  }

  /** Removes up to `count` live registrations (the last registered first) for waking. */
  #popSleepers(queue: string, nowMs: number, count: number): WakeTarget[] {
    const rows = this.#database.prepare(
      `SELECT rowid AS id, process, slot, generation FROM waiters
       WHERE queue = ? AND expires_ms > ? ORDER BY rowid DESC LIMIT ?`,
    ).all(queue, nowMs, count) as unknown as WaiterRow[];
    const remove = this.#database.prepare("DELETE FROM waiters WHERE rowid = ?");
    for (const row of rows) remove.run(row.id);
    return rows.map((row) => ({
      process: row.process,
      slot: row.slot,
      generation: row.generation,
    }));
  }

  /**
   * A look `lingerMs` after a send found every consumer busy: messages still visible then
   * (beyond what lingering waiters will take) mean the consumers awake are not enough, so one
   * sleeper is woken per such message. One look per queue at a time per process.
   */
  #scheduleBacklogCheck(queue: string): void {
    if (this.#backlogChecks.has(queue) || this.#closing) return;
    const stop = new AbortController();
    const done = (async () => {
      await this.#clock.sleepMs(this.#lingerMs, stop.signal);
      this.#backlogChecks.delete(queue);
      await this.#wakeForBacklog(queue).catch(() => {
        // The database failed (full, read-only): sleepers still re-check within
        // pollIntervalMsMax, and the sender has already had its answer.
      });
    })();
    this.#backlogChecks.set(queue, { stop, done });
  }

  async #wakeForBacklog(queue: string): Promise<void> {
    if (!this.#anyVisible(queue)) return;
    // While consumers keep receiving, another awake one would add contention for the one write
    // lock rather than throughput (consumers that take long over each message do not receive
    // often, so for them this does not hold back waking). Look again later.
    if (this.#database.read(() => this.#progressing(queue, this.#clock.nowMs()))) {
      this.#scheduleBacklogCheck(queue);
      return;
    }
    const targets = await this.#database.write(() => {
      const nowMs = this.#clock.nowMs();
      // Only messages that waited out a whole lingerMs say the busy consumers are not enough;
      // younger ones get their grace from a later look.
      const { n: waited } = this.#database.prepare(
        `SELECT count(*) AS n FROM (SELECT 1 FROM messages
           WHERE queue = ? AND visible_at_ms <= ? LIMIT ?)`,
      ).get(queue, nowMs - this.#lingerMs, BACKLOG_WAKES_MAX) as { n: number };
      return waited > 0 ? this.#popSleepers(queue, nowMs, waited) : undefined;
    });
    if (targets === undefined) this.#scheduleBacklogCheck(queue);
    else await this.#wakeAll(targets.map((target) => ({ queue, target })));
  }

  /** Whether a consumer received from the queue lately, or is lingering on it. */
  #progressing(queue: string, nowMs: number): boolean {
    return this.#database.prepare(
      `SELECT 1 AS x FROM queues WHERE name = ? AND last_receive_ms > ?
       UNION ALL SELECT 1 AS x FROM waiters
       WHERE queue = ? AND expires_ms > ? AND state = ${LINGERING} LIMIT 1`,
    ).get(queue, nowMs - this.#lingerMs * PROGRESS_LINGERS, queue, nowMs) !== undefined;
  }

  /**
   * Acts on what {@linkcode #wakeFor} decided: wakes popped waiters (for one whose process has
   * exited, decides again, bounded) and schedules backlog looks. Never throws: it runs after the
   * operation committed, and a wake that cannot be delivered (the disk refuses the wake file or
   * the database write) only leaves the message to a waiter's own re-check.
   */
  async #wakeAll(wakes: (Wake | undefined)[]): Promise<void> {
    try {
      await this.#wakeEach(wakes);
    } catch {
      // See above: bounded by pollIntervalMsMax.
    }
  }

  async #wakeEach(wakes: (Wake | undefined)[]): Promise<void> {
    for (let wake of wakes) {
      for (let attempt = 1; wake && attempt <= WAKE_ATTEMPTS_MAX; attempt++) {
        if (!wake.target) {
          this.#scheduleBacklogCheck(wake.queue);
          break;
        }
        if (await this.#waker.notify(wake.target)) break;
        const queue = wake.queue;
        wake = await this.#database.write(() => {
          const nowMs = this.#clock.nowMs();
          return this.#wakeFor(queue, nowMs, nowMs);
        });
      }
    }
  }

  #unregister(slot: number): Promise<unknown> {
    return this.#database.write(() =>
      this.#database.prepare("DELETE FROM waiters WHERE process = ? AND slot = ?").run(
        this.#waker.token,
        slot,
      )
    );
  }
  /**
   * Claims up to `messagesMax` visible messages; runs inside a write transaction. Returns the
   * dead-letter queue's waiter to wake when it moved messages there.
   */
  #take(take: Take): { received: ReceivedMessage[]; wakes: (Wake | undefined)[] } {
    const { queue, config, messagesMax, visibilityTimeoutMs } = take;
    const nowMs = this.#clock.nowMs();
    const select = this.#database.prepare(
      `SELECT seq, message_id, body, receive_count FROM messages
       WHERE queue = ? AND visible_at_ms <= ? ORDER BY visible_at_ms, seq LIMIT ?`,
    );
    const claim = this.#database.prepare(
      `UPDATE messages SET receipt = ?, visible_at_ms = ?, receive_count = receive_count + 1
       WHERE seq = ?`,
    );
    const deadLetter = this.#database.prepare(
      `UPDATE messages SET queue = ?, visible_at_ms = ?, receive_count = 0, receipt = NULL
       WHERE seq = ?`,
    );
    const out: ReceivedMessage[] = [];
    // With a visibility timeout of 0 a claimed message is still visible to the next select in
    // this transaction; it must not be delivered twice in one receive.
    const claimed = new Set<number>();
    let moved = 0;
    for (;;) {
      const limit = messagesMax - out.length + claimed.size;
      const rows = select.all(queue, nowMs, limit) as unknown as MessageRow[];
      let movedNow = 0;
      for (const row of rows) {
        if (out.length >= messagesMax) break;
        if (claimed.has(row.seq)) continue;
        const dl = config.deadLetter;
        if (dl && row.receive_count >= dl.receiveCountMax) {
          // SQS moves a message on the receive that would exceed maxReceiveCount.
          deadLetter.run(dl.queue, nowMs, row.seq);
          movedNow++;
          continue;
        }
        const token = randomToken();
        claim.run(token, nowMs + visibilityTimeoutMs, row.seq);
        claimed.add(row.seq);
        out.push({
          messageId: row.message_id,
          body: row.body,
          receipt: `${row.seq}.${token}`,
          receiveCount: row.receive_count + 1,
        });
      }
      moved += movedNow;
      const full = out.length >= messagesMax;
      if (movedNow === 0 || full || moved >= DEAD_LETTER_MOVES_PER_RECEIVE_MAX) {
        if (out.length > 0) {
          // At most once per lingerMs, so a busy queue does not rewrite the row on every take.
          this.#database.prepare(
            "UPDATE queues SET last_receive_ms = ? WHERE name = ? AND last_receive_ms <= ?",
          ).run(nowMs, queue, nowMs - this.#lingerMs);
          this.#lastReceiveMs.set(queue, nowMs);
        }
        const wakes = [
          moved > 0 && config.deadLetter
            ? this.#wakeFor(config.deadLetter.queue, nowMs, nowMs)
            : undefined,
        ];
        return { received: out, wakes };
      }
    }
  }

  /** Whether a message has been visible since `sinceMs` or earlier. */
  #anyVisibleSince(queue: string, sinceMs: number): boolean {
    return this.#database.prepare(
      "SELECT 1 AS x FROM messages WHERE queue = ? AND visible_at_ms <= ? LIMIT 1",
    )
      .get(queue, sinceMs) !== undefined;
  }

  #anyVisible(queue: string): boolean {
    return this.#database.read(() =>
      this.#database.prepare(
        "SELECT 1 AS x FROM messages WHERE queue = ? AND visible_at_ms <= ? LIMIT 1",
      )
        .get(queue, this.#clock.nowMs()) !== undefined
    );
  }

  #nextVisibleMs(queue: string, nowMs: number): number | undefined {
    const row = this.#database.read(() =>
      this.#database.prepare(
        "SELECT MIN(visible_at_ms) AS t FROM messages WHERE queue = ? AND visible_at_ms > ?",
      ).get(queue, nowMs) as { t: number | null }
    );
    return row.t ?? undefined;
  }

  #config(queue: string): ResolvedQueueConfig {
    if (this.#closed) throw new TypeError("the message queue was closed; open a new one");
    validateQueueName(queue);
    const cached = this.#configs.get(queue);
    if (cached) return cached;
    const config = this.#database.read(() => this.#readConfig(queue));
    if (!config) {
      throw new NotFoundError("queue", queue, "create it with ensureQueue first");
    }
    // A queue's config never changes after creation, so caching it per process is safe.
    this.#configs.set(queue, config);
    return config;
  }

  #readConfig(queue: string): ResolvedQueueConfig | undefined {
    const row = this.#database.prepare(
      `SELECT message_bytes_max, visibility_timeout_ms, dead_letter_queue, receive_count_max
       FROM queues WHERE name = ?`,
    ).get(queue) as {
      message_bytes_max: number;
      visibility_timeout_ms: number;
      dead_letter_queue: string | null;
      receive_count_max: number | null;
    } | undefined;
    if (!row) return undefined;
    return {
      messageBytesMax: row.message_bytes_max,
      visibilityTimeoutMs: row.visibility_timeout_ms,
      deadLetter: row.dead_letter_queue === null
        ? undefined
        : { queue: row.dead_letter_queue, receiveCountMax: row.receive_count_max ?? 1 },
    };
  }
}

/** What one receive asks for. */
interface Take {
  queue: string;
  config: ResolvedQueueConfig;
  messagesMax: number;
  visibilityTimeoutMs: number;
  deadlineMs: number;
  signal?: AbortSignal;
}

/** The outcome of one long-poll step: messages, or when to look again (and who to wake). */
interface Step {
  received: ReceivedMessage[];
  /** Registered: wait until then and look again; undefined: return `received`. */
  wakeAtMs?: number;
  /** Until `wakeAtMs`, look now and then instead of sleeping (see `lingerMs`). */
  lingering?: boolean;
  /** `wakeAtMs` is only the periodic re-check (not a deadline or a message turning visible). */
  recheck?: boolean;
  /** Waiters to wake once the transaction committed. */
  wakes: (Wake | undefined)[];
}

/**
 * A popped waiter to wake and the queue it waited on (to decide again if its process is gone);
 * without a target: look at the queue's backlog a little later.
 */
interface Wake {
  queue: string;
  target?: WakeTarget;
}

function checkPositive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a finite number of milliseconds > 0, got ${value}`);
  }
}

/** Registrations of processes that died are never popped; drop them at open (reads first). */
async function sweepExpiredWaiters(database: Database, nowMs: number): Promise<void> {
  const stale = database.db.prepare("SELECT 1 AS x FROM waiters WHERE expires_ms <= ? LIMIT 1");
  if (stale.get(nowMs) === undefined) return;
  await database.write(() =>
    database.db.prepare("DELETE FROM waiters WHERE expires_ms <= ?").run(nowMs)
  );
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function parseReceipt(receipt: string): { seq: number; token: string } {
  const match = typeof receipt === "string" ? /^(\d{1,15})\.([0-9a-f]{24})$/.exec(receipt) : null;
  if (!match) {
    throw new InvalidNameError(
      "receipt",
      String(receipt),
      "pass the receipt exactly as receive returned it",
    );
  }
  return { seq: Number(match[1]), token: match[2] };
}
