import assert from "node:assert/strict";
import { join } from "node:path";
import { ManualClock } from "./clock.ts";
import { LimitExceededError } from "./errors.ts";
import { LocalBlobStore } from "./local/local_blob_store.ts";
import { SqliteMessageQueue } from "./local/sqlite_message_queue.ts";
import { SqliteRecordStore } from "./local/sqlite_record_store.ts";
import { BlobRecordStore, RECORD_BYTES_MAX, type RecordStore } from "./record_store.ts";

const SPACE = "t-requests-bucket";

/** Each adapter over a fresh temp dir, with a hand-moved clock stamping the writes. */
const targets: Record<
  string,
  (dir: string, clock: ManualClock) => Promise<{
    records: RecordStore;
    close(): Promise<void>;
  }>
> = {
  async sqlite(dir, clock) {
    const queue = await SqliteMessageQueue.open(join(dir, "q.db"), { clock });
    return { records: await SqliteRecordStore.open(queue, SPACE), close: () => queue.close() };
  },
  async blobs(dir, clock) {
    const blobs = await LocalBlobStore.open(join(dir, "blobs"), { clock, syncData: false });
    await blobs.ensureBucket(SPACE);
    return { records: new BlobRecordStore(blobs, SPACE), close: () => blobs.close() };
  },
};

for (const [name, open] of Object.entries(targets)) {
  Deno.test(`RecordStore (${name}) puts, replaces, gets, deletes and prunes the oldest keys first`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fr-records-test-" });
    const clock = new ManualClock(1_000);
    const { records, close } = await open(dir, clock);
    try {
      assert.equal(await records.get("a"), undefined);
      await records.put("a", "one");
      await records.put("a", "two");
      assert.equal(await records.get("a"), "two");
      await records.delete("a");
      await records.delete("a");
      assert.equal(await records.get("a"), undefined);
      await assert.rejects(
        records.put("big", "x".repeat(RECORD_BYTES_MAX + 1)),
        LimitExceededError,
      );
      await assert.rejects(records.put("../x", "y"), /invalid key/);
      for (const key of ["k1", "k2", "k3", "k4"]) {
        await records.put(key, key);
        clock.advanceMs(100);
      }
      // k1 at 1000, k2 at 1100, k3 at 1200, k4 at 1300: before 1250, three are old.
      assert.equal(await records.prune(1_250, 2), 2, "countMax bounds one prune");
      assert.equal(await records.prune(1_250, 10), 1);
      assert.equal(await records.prune(1_250, 10), 0);
      assert.deepEqual(
        await Promise.all(["k1", "k2", "k3", "k4"].map((k) => records.get(k))),
        [undefined, undefined, undefined, "k4"],
      );
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
