/**
 * The embedded message queue: SQS semantics over one SQLite database (WAL), safe for many
 * processes at once. Long polls sleep on file-change notifications, not on a spinning loop.
 * @module
 */
import type { StatementSync } from "node:sqlite";
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
import { Waker } from "./_wake.ts";

/** Options for {@linkcode SqliteMessageQueue.open}. */
export interface SqliteMessageQueueOptions {
  /** Every process sharing the file must use the same (real) clock. @default {systemClock} */
  clock?: Clock;
  /** How long to wait for another process's write lock. @default {10000} */
  busyTimeoutMs?: number;
  /**
   * With change notification working, the longest a long poll sleeps before re-checking anyway
   * (guards against a lost event). @default {1000}
   */
  pollIntervalMsMax?: number;
  /** Without change notification (some network file systems), how often long polls re-check. @default {20} */
  fallbackPollMs?: number;
}

/** Rows moved to a dead-letter queue per receive, at most; keeps one transaction short. */
const DEAD_LETTER_MOVES_PER_RECEIVE_MAX = 100;

interface MessageRow {
  seq: number;
  message_id: string;
  body: string;
  receive_count: number;
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
  readonly #fallbackPollMs: number;
  readonly #configs = new Map<string, ResolvedQueueConfig>();
  readonly #statements = new Map<string, StatementSync>();
  #closed = false;

  private constructor(database: Database, clock: Clock, waker: Waker, fallbackPollMs: number) {
    this.#database = database;
    this.#clock = clock;
    this.#waker = waker;
    this.#fallbackPollMs = fallbackPollMs;
  }

  /**
   * Opens (creating if needed) the queue database at `path`.
   *
   * @param path the SQLite file; wake files go in `<path>-wake/`
   * @param options clock and lock waiting
   * @returns the queue
   * @throws {CorruptStoreError} when the file is not a usable database
   * @throws {StorageError} when it cannot be created or written
   */
  // deno-lint-ignore require-await -- async so every failure arrives as a rejection
  static async open(
    path: string,
    options: SqliteMessageQueueOptions = {},
  ): Promise<SqliteMessageQueue> {
    const clock = options.clock ?? systemClock;
    const database = openDatabase(path, { clock, busyTimeoutMs: options.busyTimeoutMs });
    const waker = new Waker(`${path}-wake`, clock, options.pollIntervalMsMax ?? 1000);
    try {
      waker.start();
    } catch (error) {
      database.close();
      throw classify(error, `${path}-wake`);
    }
    return new SqliteMessageQueue(database, clock, waker, options.fallbackPollMs ?? 20);
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
      this.#stmt(
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
    const wake = await this.#database.write(() => {
      const nowMs = this.#clock.nowMs();
      // Waiters only sleep on an empty queue, so only the first visible message needs to wake
      // them; under load this keeps sends from broadcasting to every consumer.
      const hadVisible = this.#stmt(
        "SELECT 1 AS x FROM messages WHERE queue = ? AND visible_at_ms <= ? LIMIT 1",
      ).get(queue, nowMs) !== undefined;
      this.#stmt(
        `INSERT INTO messages (queue, message_id, body, sent_ms, visible_at_ms)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(queue, messageId, body, nowMs, nowMs + delayMs);
      // A delayed message changes when waiters should next look, so tell them too.
      return !hadVisible || delayMs > 0;
    });
    if (wake) await this.#waker.notify(queue);
    return { messageId };
  }

  async receive(queue: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> {
    const config = this.#config(queue);
    const { messagesMax, waitMs, visibilityTimeoutMs, signal } = resolveReceiveOptions(options);
    const deadlineMs = this.#clock.nowMs() + waitMs;
    for (;;) {
      const seen = this.#waker.generation(queue);
      // Look before taking the write lock: WAL readers never wait, so idle and woken-but-late
      // consumers do not queue up behind the one writer that matters.
      const received = this.#anyVisible(queue)
        ? await this.#database.write(() =>
          this.#take(queue, config, messagesMax, visibilityTimeoutMs ?? config.visibilityTimeoutMs)
        )
        : [];
      const nowMs = this.#clock.nowMs();
      if (received.length > 0 || nowMs >= deadlineMs || signal?.aborted || this.#closed) {
        return received;
      }
      const nextVisibleMs = this.#nextVisibleMs(queue, nowMs);
      const sleepMs = Math.min(deadlineMs, nextVisibleMs ?? Infinity) - nowMs;
      await this.#waker.wait(queue, seen, Math.max(1, sleepMs), this.#fallbackPollMs, signal);
    }
  }

  async delete(queue: string, receipt: string): Promise<void> {
    this.#config(queue);
    const { seq, token } = parseReceipt(receipt);
    await this.#database.write(() =>
      this.#stmt("DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?")
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
      return this.#stmt(
        `UPDATE messages SET visible_at_ms = ?
         WHERE seq = ? AND queue = ? AND receipt = ? AND visible_at_ms > ?`,
      ).run(nowMs + visibilityTimeoutMs, seq, queue, token, nowMs).changes;
    });
    if (Number(changed) === 0) {
      throw new StaleReceiptError(queue, "not in flight under this receipt");
    }
    await this.#waker.notify(queue);
  }

  counts(queue: string): Promise<QueueCounts> {
    this.#config(queue);
    const row = this.#read(() =>
      this.#stmt(
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
    await this.#database.write(() => this.#stmt("DELETE FROM messages WHERE queue = ?").run(queue));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#waker.close();
    this.#statements.clear();
    this.#database.close();
  }

  /** Claims up to `messagesMax` visible messages; runs inside a write transaction. */
  #take(
    queue: string,
    config: ResolvedQueueConfig,
    messagesMax: number,
    visibilityTimeoutMs: number,
  ): ReceivedMessage[] {
    const nowMs = this.#clock.nowMs();
    const select = this.#stmt(
      `SELECT seq, message_id, body, receive_count FROM messages
       WHERE queue = ? AND visible_at_ms <= ? ORDER BY visible_at_ms, seq LIMIT ?`,
    );
    const claim = this.#stmt(
      `UPDATE messages SET receipt = ?, visible_at_ms = ?, receive_count = receive_count + 1
       WHERE seq = ?`,
    );
    const deadLetter = this.#stmt(
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
      if (movedNow === 0 || full || moved >= DEAD_LETTER_MOVES_PER_RECEIVE_MAX) return out;
    }
  }

  #anyVisible(queue: string): boolean {
    return this.#read(() =>
      this.#stmt("SELECT 1 AS x FROM messages WHERE queue = ? AND visible_at_ms <= ? LIMIT 1")
        .get(queue, this.#clock.nowMs()) !== undefined
    );
  }

  #nextVisibleMs(queue: string, nowMs: number): number | undefined {
    const row = this.#read(() =>
      this.#stmt(
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
    const config = this.#read(() => this.#readConfig(queue));
    if (!config) {
      throw new NotFoundError("queue", queue, "create it with ensureQueue first");
    }
    // A queue's config never changes after creation, so caching it per process is safe.
    this.#configs.set(queue, config);
    return config;
  }

  #readConfig(queue: string): ResolvedQueueConfig | undefined {
    const row = this.#stmt(
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

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw classify(error, this.#database.path);
    }
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#database.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
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
