/**
 * The embedded SQLite database shared by the local queue and fleet: one file, WAL mode, so a web
 * tier, a controller and a dozen workers can use it at once.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { mkdirSync } from "node:fs";
import { checkInteger } from "../../internal/mod.ts";
import { type Clock, systemClock } from "../clock.ts";
import { CorruptStoreError, StorageError } from "../errors.ts";
import { toStorageError } from "./_fs_errors.ts";

/** What a database file holds and how an older file is brought up to date. */
export interface Schema {
  /** The version this code writes (`PRAGMA user_version`); a newer file is refused. */
  readonly version: number;
  /** Idempotent DDL (`CREATE ... IF NOT EXISTS`) that creates the current schema. */
  readonly create: string;
  /**
   * Brings a file at `fromVersion` (>= 1, < version) up to the point where `create` completes
   * it; runs inside the migration's write transaction.
   */
  readonly upgrade?: (db: DatabaseSync, fromVersion: number) => void;
}

/** The queue and fleet database's schema version; a newer file is refused rather than misread. */
export const SCHEMA_VERSION = 3;

/**
 * What an instance's runs left behind (version 3): its last start, when its worker said it was
 * ready, the reason a worker gave for not getting ready (this run), and how the last run ended.
 */
const INSTANCE_RUN_COLUMNS = [
  "started_ms INTEGER",
  "ready_ms INTEGER",
  "run_reason TEXT",
  "exit_ms INTEGER",
  "exit_kind TEXT",
  "exit_reason TEXT",
];

const QUEUE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS queues (
  name TEXT PRIMARY KEY,
  message_bytes_max INTEGER NOT NULL,
  visibility_timeout_ms INTEGER NOT NULL,
  dead_letter_queue TEXT,
  receive_count_max INTEGER,
  -- When a consumer last received from it (version 2): recent means its consumers are busy
  -- and coming back, so a send need not wake a sleeping one.
  last_receive_ms INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  body TEXT NOT NULL,
  sent_ms INTEGER NOT NULL,
  visible_at_ms INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  receipt TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at_ms, seq);
-- Long polls waiting on an empty queue (version 2). A sender that finds no waiter about to look
-- pops one row and wakes just that waiter; a row is live until expires_ms, when its waiter looks
-- by itself anyway. state: 0 asleep, 1 lingering (looks every millisecond or so, needs no
-- wake-up).
CREATE TABLE IF NOT EXISTS waiters (
  process TEXT NOT NULL,
  slot INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  queue TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (process, slot)
) STRICT;
CREATE INDEX IF NOT EXISTS waiters_by_queue ON waiters (queue, expires_ms);
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY,
  fleet TEXT NOT NULL,
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_changed_ms INTEGER NOT NULL,
  pid INTEGER,
  pid_started TEXT,
  ${INSTANCE_RUN_COLUMNS.map((c) => `${c},`).join("\n  ")}
  UNIQUE (fleet, number)
) STRICT;
`;

/** The queues' and the fleet's database (one file, shared by every process of a stack). */
export const QUEUE_SCHEMA: Schema = {
  version: SCHEMA_VERSION,
  create: QUEUE_SCHEMA_SQL,
  upgrade: (db, fromVersion) => {
    if (fromVersion === 1) {
      db.exec("ALTER TABLE queues ADD COLUMN last_receive_ms INTEGER NOT NULL DEFAULT 0");
    }
    if (fromVersion <= 2) {
      const hasInstances = db.prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances'",
      ).get();
      if (hasInstances) {
        for (const column of INSTANCE_RUN_COLUMNS) {
          db.exec(`ALTER TABLE instances ADD COLUMN ${column}`);
        }
      }
    }
  },
};

/** Options for {@linkcode openDatabase}. */
export interface DatabaseOptions {
  /**
   * How long to wait for another process's write lock before giving up.
   * @default {10000}
   */
  busyTimeoutMs?: number;
  /** @default {systemClock} */
  clock?: Clock;
  /** @default {QUEUE_SCHEMA} */
  schema?: Schema;
  /**
   * How long a write may block the event loop in SQLite's own busy handler when another process
   * holds the write lock, before the wait goes on asynchronously (backing off 0–8 ms). 1 suits a
   * process doing one thing at a time: it takes the lock the moment it frees. A process serving
   * many requests at once (the web tier) should pass 0, so one lock wait does not stall the rest:
   * measured on the web-tier bench (`--web-busy-block-ms 0|1`, alternating), p99 107/94/105 ms
   * with 0 against 115/115/112 ms with 1. 0..100.
   * @default {1}
   */
  busyBlockMs?: number;
}

/** An open database and the policy for waiting on other processes' locks. */
export interface Database {
  readonly db: DatabaseSync;
  readonly path: string;
  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE), waiting for other writers without
   * blocking the event loop for long. Writes asked for together share one transaction (group
   * commit), each in its own savepoint: a throwing `fn` undoes only its own changes.
   */
  write<T>(fn: () => T): Promise<T>;
  /** Runs a read, turning SQLite's errors into typed ones (corrupt file, full disk, ...). */
  read<T>(fn: () => T): T;
  /** A prepared statement for `sql`, prepared once per open database. */
  prepare(sql: string): StatementSync;
  close(): void;
}

/**
 * The synchronous part of a lock wait by default: SQLite's busy handler sleeps inside the call
 * and so blocks the event loop; keep that short and do the rest of the wait asynchronously.
 */
const BUSY_BLOCK_MS_DEFAULT = 1;

/**
 * Opens (creating if needed) the embedded database at `path`.
 *
 * @param path the database file
 * @param options lock waiting
 * @returns the database
 * @throws {CorruptStoreError} when the file is not a SQLite database or was written by a newer
 *   version of this code
 * @throws {StorageError} when the file or its directory cannot be created
 */
export function openDatabase(path: string, options: DatabaseOptions = {}): Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  const busyBlockMs = options.busyBlockMs ?? BUSY_BLOCK_MS_DEFAULT;
  checkInteger("busyBlockMs", busyBlockMs, 0, 100);
  const clock = options.clock ?? systemClock;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw toStorageError(error, dirname(path), "creating the database directory");
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: busyBlockMs });
  } catch (error) {
    throw diagnoseDirectory(path) ??
      new StorageError(path, `cannot open the database: ${(error as Error).message}`, {
        cause: error,
      });
  }
  try {
    migrate(db, path, options.schema ?? QUEUE_SCHEMA);
  } catch (error) {
    db.close();
    const classified = classify(error, path);
    throw classified instanceof CorruptStoreError
      ? classified
      : diagnoseDirectory(path) ?? classified;
  }
  const statements = new Map<string, StatementSync>();
  const writer = new GroupWriter(db, path, clock, busyTimeoutMs, busyBlockMs === 0);
  return {
    db,
    path,
    write: (fn) => writer.write(fn),
    read: (fn) => {
      try {
        return fn();
      } catch (error) {
        throw classify(error, path);
      }
    },
    prepare: (sql) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = db.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close: () => {
      statements.clear();
      db.close();
    },
  };
}

/**
 * SQLite reports a read-only or full directory only as "unable to open database file" (it
 * creates the -wal and -shm files beside the database): write a probe file there to learn the
 * real cause, so the error says what to do. Undefined when the directory takes writes.
 */
function diagnoseDirectory(path: string): StorageError | undefined {
  const probe = join(dirname(path), `.write-probe-${Deno.pid}-${crypto.randomUUID()}`);
  try {
    Deno.writeFileSync(probe, new Uint8Array(1), { createNew: true });
    Deno.removeSync(probe);
    return undefined;
  } catch (error) {
    const storage = toStorageError(error, dirname(path), "writing to the database directory");
    return storage instanceof StorageError ? storage : undefined;
  }
}

function migrate(db: DatabaseSync, path: string, schema: Schema): void {
  // journal_mode is the first statement that reads the file header: a non-database fails here.
  db.exec("PRAGMA journal_mode = WAL");
  // NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last
  // few, which at-least-once delivery tolerates (senders retry on no answer).
  db.exec("PRAGMA synchronous = NORMAL");
  const readVersion = () =>
    (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  let version = readVersion();
  if (version > schema.version) {
    throw new CorruptStoreError(
      path,
      `database schema version ${version} is newer than this code's ${schema.version}; ` +
        "run the matching version or move the file aside",
    );
  }
  if (version === schema.version) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    // Another process may have migrated between the look above and the lock.
    version = readVersion();
    if (version >= 1 && version < schema.version) schema.upgrade?.(db, version);
    db.exec(schema.create);
    db.exec(`PRAGMA user_version = ${schema.version}`);
    db.exec("COMMIT");
  } catch (error) {
    // SQLite rolls back by itself on some errors (a full disk): a second ROLLBACK would throw
    // "no transaction is active" and hide the real cause.
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function isBusy(error: unknown): boolean {
  return /database is locked|database table is locked|SQLITE_BUSY/i.test(
    (error as Error)?.message ?? "",
  );
}

/** Maps SQLite's messages to our typed errors (node:sqlite in Deno exposes only the message). */
export function classify(error: unknown, path: string): unknown {
  if (error instanceof CorruptStoreError || error instanceof StorageError) return error;
  const message = (error as Error)?.message ?? String(error);
  if (/file is not a database|malformed|corrupt/i.test(message)) {
    return new CorruptStoreError(
      path,
      `the embedded database is damaged or not a SQLite file (${message}); ` +
        "move it aside (the service then starts with empty queues) or restore a backup",
      { cause: error },
    );
  }
  if (/disk is full|database or disk is full/i.test(message)) {
    return new StorageError(path, "the disk is full: free space for the database", {
      cause: error,
      reason: "disk_full",
    });
  }
  if (/disk I\/O error/i.test(message)) {
    return new StorageError(path, `the disk reported an I/O error (${message}): check the device`, {
      cause: error,
      reason: "io",
    });
  }
  if (/readonly|read-only|unable to open/i.test(message)) {
    return new StorageError(
      path,
      `the database cannot be written (${message}): make its directory writable`,
      { cause: error, reason: /unable to open/i.test(message) ? "other" : "read_only" },
    );
  }
  return error;
}

interface PendingWrite {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: every write asked for in the same turn of the event loop, or while this process
 * waits for another's lock, runs in one `BEGIN IMMEDIATE` … `COMMIT`, each inside its own
 * savepoint. One lock acquisition and one WAL commit then serve a whole burst (a hundred uploads'
 * sends, a batch of deletes) instead of each taking its turn against the other processes.
 * A write whose `fn` throws is rolled back alone; callers hear of success only after COMMIT.
 */
class GroupWriter {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #clock: Clock;
  readonly #busyTimeoutMs: number;
  /** No blocking wait in SQLite: retry at once (next turn), then back off. */
  readonly #retrySoon: boolean;
  #pending: PendingWrite[] = [];
  #flushing = false;

  constructor(
    db: DatabaseSync,
    path: string,
    clock: Clock,
    busyTimeoutMs: number,
    retrySoon: boolean,
  ) {
    this.#db = db;
    this.#path = path;
    this.#clock = clock;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#retrySoon = retrySoon;
  }

  write<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.#flushing) return;
      this.#flushing = true;
      // After the current microtasks, so writes asked for in this same turn join the batch.
      queueMicrotask(() => this.#flush());
    });
  }

  /**
   * Never rejects: it runs detached (from a microtask), so an error escaping it would be an
   * unhandled rejection that kills the process. Every write it took settles, and the connection
   * is left outside any transaction, whatever SQLite throws (a full disk, an I/O error).
   */
  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        try {
          await this.#begin();
        } catch (error) {
          for (const w of this.#pending.splice(0)) w.reject(error);
          return;
        }
        // Writes that arrived while waiting for the lock join this transaction.
        const batch = this.#pending.splice(0);
        try {
          this.#commitBatch(batch);
        } catch (error) {
          // A statement of the batch's own bookkeeping failed (SAVEPOINT, RELEASE, ROLLBACK):
          // close the transaction and fail whatever the batch left unsettled.
          this.#rollbackQuietly();
          const cause = classify(error, this.#path);
          for (const w of batch) w.reject(cause);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Ends the open transaction, if any; a failing ROLLBACK must not hide the real cause. */
  #rollbackQuietly(): void {
    try {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    } catch {
      // SQLite ends the transaction itself on the errors that make ROLLBACK fail.
    }
  }

  async #begin(): Promise<void> {
    const startMs = this.#clock.nowMs();
    for (let attempt = 0;; attempt++) {
      try {
        this.#db.exec("BEGIN IMMEDIATE");
        return;
      } catch (error) {
        if (!isBusy(error)) throw classify(error, this.#path);
        if (this.#clock.nowMs() - startMs >= this.#busyTimeoutMs) {
          throw new StorageError(
            this.#path,
            `the database stayed locked for busyTimeoutMs = ${this.#busyTimeoutMs}: ` +
              "another process holds a write transaction; check for a hung process",
            { cause: error, reason: "locked" },
          );
        }
        // Yield to the event loop; back off a little more each time, up to 8 ms.
        await this.#clock.sleepMs(Math.min(8, (this.#retrySoon ? 0 : 1) + attempt));
      }
    }
  }

  /**
   * Runs `batch` inside the open transaction and commits; settles every write in it. Settling a
   * promise twice is a no-op, so the caller may reject the whole batch if this throws midway.
   */
  #commitBatch(batch: PendingWrite[]): void {
    const db = this.#db;
    if (batch.length === 1) {
      // Alone, a write needs no savepoint: its failure rolls back the whole transaction.
      const [w] = batch;
      let value: unknown;
      try {
        value = w.fn();
        db.exec("COMMIT");
      } catch (error) {
        this.#rollbackQuietly();
        w.reject(classify(error, this.#path));
        return;
      }
      w.resolve(value);
      return;
    }
    const done: { w: PendingWrite; value: unknown }[] = [];
    const failed: { w: PendingWrite; error: unknown }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i];
      try {
        db.exec("SAVEPOINT w");
        const value = w.fn();
        db.exec("RELEASE w");
        done.push({ w, value });
      } catch (error) {
        if (!db.isTransaction) {
          // SQLite rolled the whole transaction back by itself (a full disk, an I/O error):
          // the writes before this one are undone too, and the rest are not run.
          const cause = classify(error, this.#path);
          for (const d of done) d.w.reject(cause);
          for (const f of failed) f.w.reject(f.error);
          for (const rest of batch.slice(i)) rest.reject(cause);
          return;
        }
        db.exec("ROLLBACK TO w");
        db.exec("RELEASE w");
        failed.push({ w, error: classify(error, this.#path) });
      }
    }
    try {
      db.exec("COMMIT");
    } catch (error) {
      // A COMMIT refused for a full disk leaves the transaction open: roll it back, or every
      // later BEGIN would fail even after space is freed.
      this.#rollbackQuietly();
      const cause = classify(error, this.#path);
      for (const w of batch) w.reject(cause);
      return;
    }
    for (const d of done) d.w.resolve(d.value);
    for (const f of failed) f.w.reject(f.error);
  }
}
