/**
 * The embedded {@linkcode RecordStore}: rows of the queue database (`cloud.db`), written through
 * the queue's own connection. A record put in the same turn of the event loop as a send joins the
 * send's transaction (group commit), so the web tier's durable request record costs one more row,
 * not one more transaction.
 * @module
 */
import type { Clock } from "../clock.ts";
import { checkRecord, type RecordStore } from "../record_store.ts";
import { validateKey } from "../blob_store.ts";
import type { Database } from "./_database.ts";
import { queueDatabase, type SqliteMessageQueue } from "./sqlite_message_queue.ts";

const RECORDS_SQL = `
CREATE TABLE IF NOT EXISTS records (
  space TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  written_ms INTEGER NOT NULL,
  PRIMARY KEY (space, key)
) STRICT`;

/**
 * Records of one `space` (a name, e.g. the deployment's `<id>-requests-bucket`) in the queue's
 * database.
 *
 * @example
 * ```ts
 * const queue = await SqliteMessageQueue.open("data/cloud.db");
 * const records = await SqliteRecordStore.open(queue, "fr-requests-bucket");
 * await records.put("01a2…", "{}");
 * ```
 */
export class SqliteRecordStore implements RecordStore {
  readonly #database: Database;
  readonly #clock: Clock;
  readonly #space: string;

  private constructor(database: Database, clock: Clock, space: string) {
    this.#database = database;
    this.#clock = clock;
    this.#space = space;
  }

  /**
   * Opens the records of `space` on an open queue (creating the table when missing; the table
   * needs no schema version: older code never reads it).
   * @param queue the queue whose database and clock to share (close the queue, not this)
   * @param space the records' namespace
   * @throws {StorageError} when the table cannot be created
   */
  static async open(queue: SqliteMessageQueue, space: string): Promise<SqliteRecordStore> {
    if (typeof space !== "string" || space === "") {
      throw new TypeError(`space must be a non-empty name, got ${JSON.stringify(space)}`);
    }
    const { database, clock } = queueDatabase(queue);
    const exists = database.read(() =>
      database.prepare("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?")
        .get("records")
    );
    if (exists === undefined) await database.write(() => database.db.exec(RECORDS_SQL));
    return new SqliteRecordStore(database, clock, space);
  }

  async put(key: string, value: string): Promise<void> {
    checkRecord(key, value);
    await this.#database.write(() => {
      this.#database.prepare(
        "INSERT OR REPLACE INTO records (space, key, value, written_ms) VALUES (?, ?, ?, ?)",
      ).run(this.#space, key, value, this.#clock.nowMs());
    });
  }

  get(key: string): Promise<string | undefined> {
    try {
      validateKey(key);
      const row = this.#database.read(() =>
        this.#database.prepare("SELECT value FROM records WHERE space = ? AND key = ?")
          .get(this.#space, key)
      ) as { value: string } | undefined;
      return Promise.resolve(row?.value);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    await this.#database.write(() => {
      this.#database.prepare("DELETE FROM records WHERE space = ? AND key = ?")
        .run(this.#space, key);
    });
  }

  async prune(beforeMs: number, countMax: number): Promise<number> {
    return await this.#database.write(() => {
      const rows = this.#database.prepare(
        "SELECT key, written_ms FROM records WHERE space = ? ORDER BY key LIMIT ?",
      ).all(this.#space, countMax) as unknown as { key: string; written_ms: number }[];
      const remove = this.#database.prepare("DELETE FROM records WHERE space = ? AND key = ?");
      let deleted = 0;
      for (const row of rows) {
        if (row.written_ms >= beforeMs) break;
        remove.run(this.#space, row.key);
        deleted++;
      }
      return deleted;
    });
  }
}
