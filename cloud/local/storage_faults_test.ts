/**
 * A full disk and a read-only data directory, for real: each scenario runs in a child process in
 * a private mount namespace (`unshare -m`) on a tmpfs of a few KiB, so ENOSPC and EROFS come
 * from the kernel, and the host's file systems never fill up. The child
 * (testdata/storage_fault_scenario.ts) reports what it saw; the assertions are here.
 *
 * Needs `unshare` and the right to mount: root, or unprivileged user namespaces (`unshare -r`).
 * Where neither works each test is reported as ignored, with the reason in its name.
 */
import assert from "node:assert/strict";
import { mountNamespacePrefix } from "../../testing/mount_namespace.ts";

const SCENARIO = new URL("./testdata/storage_fault_scenario.ts", import.meta.url).pathname;
/** Too small for even an empty SQLite database (used by the queue's open-on-a-full-disk scenario). */
const TOO_SMALL_FOR_SQLITE_KIB = 64;
/**
 * What the blob store gets: its empty database (objects.db, its write-ahead log and 32 KiB
 * shared-memory index) and a few objects fit; the scenario fills the rest itself.
 */
const BLOB_STORE_TMPFS_KIB = 1024;
/**
 * What the queue gets. An empty queue database already needs about 100 KiB (its write-ahead log
 * and 32 KiB shared-memory index), so it cannot even open in 64 KiB (a scenario of its own).
 */
const QUEUE_TMPFS_KIB = 512;

interface Failure {
  name: string;
  code?: string;
  message: string;
}
type Outcome = { ok: true; value?: unknown } | { ok: false; error: Failure };

/** How to enter a private mount namespace here, or why it cannot be done. */
const namespace = await mountNamespacePrefix();
const unavailable = typeof namespace === "string" ? namespace : undefined;

async function runScenario(scenario: string, tmpfsKiB: number): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "fault-" });
  try {
    const out = await new Deno.Command("unshare", {
      args: [
        ...namespace as string[],
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs -o size="$1" tmpfs "$2" && exec "$3" run -A --quiet "$4" "$2" "$5"',
        "sh",
        `${tmpfsKiB}k`,
        dir,
        Deno.execPath(),
        SCENARIO,
        scenario,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(
      out.success,
      `scenario ${scenario} crashed:\n${new TextDecoder().decode(out.stderr)}${stdout}`,
    );
    return JSON.parse(stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function faultTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: unavailable ? `${name} (ignored: ${unavailable})` : name,
    ignore: unavailable !== undefined,
    fn,
  });
}

/** A typed StorageError whose message names the cause and says what to do. */
function assertStorageError(outcome: unknown, cause: RegExp, what: string): void {
  const o = outcome as Outcome;
  assert.equal(o.ok, false, `${what} should have failed, got ${JSON.stringify(o)}`);
  const { error } = o as { ok: false; error: Failure };
  assert.equal(error.name, "StorageError", `${what}: ${JSON.stringify(error)}`);
  assert.equal(error.code, "storage", what);
  assert.match(error.message, cause, what);
  assert.match(error.message, /free space|writable|read-only file system|choose/, what);
}

const DISK_FULL = /ENOSPC|disk is full/;
const READ_ONLY = /EROFS|read-only|readonly/i;

faultTest(
  "LocalBlobStore on a full disk throws StorageError for an inline and a file put and leaves no partial object or temp file",
  async () => {
    const seen = await runScenario("blob-disk-full", BLOB_STORE_TMPFS_KIB);
    assertStorageError(seen.inline, DISK_FULL, "a 200 KiB put (inline) into 64 KiB");
    assertStorageError(seen.overwriteInline, DISK_FULL, "overwriting with a 200 KiB put (inline)");
    assertStorageError(seen.file, DISK_FULL, "a 1 MiB put (a file) into 64 KiB");
    assertStorageError(seen.overwriteFile, DISK_FULL, "overwriting with a 1 MiB put (a file)");
    assert.deepEqual(
      (seen.heads as { error: Failure }[]).map((h) => h.error.name),
      ["NotFoundError", "NotFoundError"],
    );
    assert.deepEqual(seen.listed, [["keep-large.bin", 300 * 1024], ["keep.txt", 1000]]);
    assert.equal(seen.keepIntact, true, "an object a failed overwrite aimed at changed");
    assert.deepEqual(seen.tempFiles, []);
    assert.equal(seen.dataFileCount, 1, "a failed file put left its file (or took keep's)");
    assert.equal(
      (seen.small as Outcome).ok,
      true,
      `small put on the full disk: ${JSON.stringify(seen.small)}`,
    );
    assert.equal(
      (seen.fileAfterFreeing as Outcome).ok,
      true,
      `file put once space was freed: ${JSON.stringify(seen.fileAfterFreeing)}`,
    );
  },
);

faultTest(
  "LocalBlobStore.open on a read-only data directory throws StorageError",
  async () => {
    const seen = await runScenario("blob-read-only", BLOB_STORE_TMPFS_KIB);
    // SQLite opens its database for writing (WAL needs its -shm index): a read-only store
    // cannot even serve reads, so it must say why at open, not fail later.
    assertStorageError(seen.reopen, READ_ONLY, "reopening a store");
    assertStorageError(seen.openElsewhere, READ_ONLY, "opening a new data directory");
  },
);

faultTest(
  "SqliteMessageQueue.open on a full disk throws StorageError instead of crashing",
  async () => {
    const seen = await runScenario("queue-disk-full-at-open", TOO_SMALL_FOR_SQLITE_KIB);
    assertStorageError(seen.open, DISK_FULL, "opening a queue database in 64 KiB");
  },
);

faultTest(
  "SqliteMessageQueue.send on a full disk throws StorageError and keeps exactly the acknowledged messages",
  async () => {
    const seen = await runScenario("queue-disk-full", QUEUE_TMPFS_KIB);
    assert.ok((seen.acknowledgedCount as number) > 0, "not one message fitted");
    assertStorageError(seen.send, DISK_FULL, "a send into a full disk");
    // Reads go on while the disk is full; a receive must write (to claim), so it fails clearly.
    assert.deepEqual(seen.countsWhileFull, {
      ok: true,
      value: { visible: seen.acknowledgedCount, inFlight: 0, delayed: 0 },
    });
    assertStorageError(seen.receiveWhileFull, DISK_FULL, "a receive on a full disk");
    assert.equal((seen.sendAfterFreeing as Outcome).ok, true, "no send once space was freed");
    assert.equal(seen.deliveredExactlyAcknowledged, true, `delivered ${seen.deliveredCount}`);
  },
);

faultTest(
  "SqliteMessageQueue.send fails cleanly when another program fills the disk",
  async () => {
    const seen = await runScenario("queue-filled-by-others", QUEUE_TMPFS_KIB);
    assertStorageError(seen.send, DISK_FULL, "a send after the disk filled up");
    assert.deepEqual(seen.bodies, ["before"]);
  },
);

faultTest(
  "SqliteMessageQueue.open on a read-only data directory throws StorageError",
  async () => {
    const seen = await runScenario("queue-read-only", QUEUE_TMPFS_KIB);
    assertStorageError(seen.reopen, READ_ONLY, "reopening a queue database");
    assertStorageError(seen.openNew, READ_ONLY, "creating a queue database");
  },
);
