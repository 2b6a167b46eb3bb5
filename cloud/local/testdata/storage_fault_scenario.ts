/**
 * One storage-fault scenario against the embedded adapters, for storage_faults_test.ts. It runs
 * inside a private mount namespace where `<dir>` is a tiny tmpfs (so a full disk is a real
 * ENOSPC and a remount a real EROFS, and nothing outside the namespace sees either), and prints
 * one JSON line of what it observed; the test asserts on it.
 * Usage: storage_fault_scenario.ts <dir> <scenario>
 */
import { LocalBlobStore } from "../local_blob_store.ts";
import { SqliteMessageQueue } from "../sqlite_message_queue.ts";

const [dir, scenario] = Deno.args;

type Outcome = { ok: true; value?: unknown } | {
  ok: false;
  error: { name: string; code?: string; message: string };
};

async function attempt(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    const value = await fn();
    return { ok: true, value: value === undefined ? undefined : JSON.parse(JSON.stringify(value)) };
  } catch (error) {
    const e = error as Error & { code?: string };
    return { ok: false, error: { name: e.name, code: e.code, message: e.message } };
  }
}

function filled(byteCount: number, byte: number): Uint8Array {
  return new Uint8Array(byteCount).fill(byte);
}

/** A body that arrives in pieces, as an upload does: the store must not need it all at once. */
function streamOf(byteCount: number, byte: number): ReadableStream<Uint8Array> {
  const chunkBytes = 16 * 1024;
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= byteCount) return controller.close();
      const n = Math.min(chunkBytes, byteCount - sent);
      controller.enqueue(filled(n, byte));
      sent += n;
    },
  });
}

async function readAll(store: LocalBlobStore, bucket: string, key: string): Promise<Uint8Array> {
  const { body } = await store.get(bucket, key);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function remountReadOnly(): Promise<void> {
  // A bind remount flips the read-only flag of this mount point, which also works inside an
  // unprivileged user namespace (a plain remount of the tmpfs does not).
  const out = await new Deno.Command("mount", { args: ["-o", "remount,bind,ro", dir] }).output();
  if (!out.success) {
    throw new Error(`remount read-only failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Fills the file system to the last byte with `path`; returns how many bytes that took. */
async function fillDisk(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  let bytes = 0;
  try {
    for (;;) bytes += await file.write(filled(4096, 0));
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    file.close();
  }
  return bytes;
}

/** Room left on the disk for the full-disk puts: less than any of them needs. */
const ROOM_BYTES = 64 * 1024;

async function blobDiskFull(): Promise<unknown> {
  const root = `${dir}/blobs`;
  const store = await LocalBlobStore.open(root);
  await store.ensureBucket("in-bucket");
  const keep = filled(1000, 107);
  const keepLarge = filled(300 * 1024, 108);
  await store.put("in-bucket", "keep.txt", keep);
  await store.put("in-bucket", "keep-large.bin", keepLarge);
  // Another program takes all but ROOM_BYTES: the puts below are the ones that hit the wall.
  const filler = `${dir}/filler`;
  await Deno.truncate(filler, (await fillDisk(filler)) - ROOM_BYTES);
  // 200 KiB goes in the database (inlineBytesMax is 256 KiB), 1 MiB in a file.
  const inlineBytes = 200 * 1024;
  const fileBytes = 1024 * 1024;
  const inline = await attempt(() =>
    store.put("in-bucket", "inline.bin", streamOf(inlineBytes, 98))
  );
  const overwriteInline = await attempt(() =>
    store.put("in-bucket", "keep.txt", filled(inlineBytes, 111))
  );
  const file = await attempt(() => store.put("in-bucket", "big.bin", streamOf(fileBytes, 99)));
  const overwriteFile = await attempt(() =>
    store.put("in-bucket", "keep-large.bin", streamOf(fileBytes, 112))
  );
  const heads = await Promise.all(
    ["inline.bin", "big.bin"].map((key) => attempt(() => store.head("in-bucket", key))),
  );
  const listed = (await store.list("in-bucket")).items.map((i) => [i.key, i.sizeBytes]);
  const keepIntact = sameBytes(await readAll(store, "in-bucket", "keep.txt"), keep) &&
    sameBytes(await readAll(store, "in-bucket", "keep-large.bin"), keepLarge);
  const tempFiles = [...Deno.readDirSync(`${root}/.tmp`)].map((e) => e.name);
  const dataFileCount = [...Deno.readDirSync(`${root}/.data`)].length;
  // Still on the nearly full disk: what the failed puts wrote was given back or is reused.
  const small = await attempt(() => store.put("in-bucket", "small.txt", filled(1000, 115)));
  await Deno.remove(filler);
  const fileAfterFreeing = await attempt(() =>
    store.put("in-bucket", "big.bin", streamOf(300 * 1024, 99))
  );
  await store.close();
  return {
    inline,
    overwriteInline,
    file,
    overwriteFile,
    heads,
    listed,
    keepIntact,
    tempFiles,
    dataFileCount,
    small,
    fileAfterFreeing,
  };
}

async function blobReadOnly(): Promise<unknown> {
  const root = `${dir}/blobs`;
  const writable = await LocalBlobStore.open(root);
  await writable.ensureBucket("in-bucket");
  await writable.put("in-bucket", "keep.txt", filled(1000, 107));
  // A remount to read-only needs every file on it closed for writing (the database is).
  await writable.close();
  await remountReadOnly();
  const reopen = await attempt(() => LocalBlobStore.open(root));
  const openElsewhere = await attempt(() => LocalBlobStore.open(`${dir}/other-blobs`));
  return { reopen, openElsewhere };
}

async function queueDiskFullAtOpen(): Promise<unknown> {
  const open = await attempt(async () => {
    const mq = await SqliteMessageQueue.open(`${dir}/queue/cloud.db`);
    await mq.close();
  });
  return { open };
}

async function queueDiskFull(): Promise<unknown> {
  const mq = await SqliteMessageQueue.open(`${dir}/queue/cloud.db`);
  await mq.ensureQueue("req");
  // Held back so the scenario can free room afterwards: the rest of the disk is the queue's.
  await Deno.writeFile(`${dir}/reserve`, filled(64 * 1024, 0));
  const acknowledged: string[] = [];
  let send: Outcome = { ok: true };
  for (let i = 0; i < 1000 && send.ok; i++) {
    const body = `m${i}:${"x".repeat(900)}`;
    send = await attempt(() => mq.send("req", body));
    if (send.ok) acknowledged.push(body);
  }
  const countsWhileFull = await attempt(() => mq.counts("req"));
  const receiveWhileFull = await attempt(() => mq.receive("req"));
  await Deno.remove(`${dir}/reserve`);
  const sendAfterFreeing = await attempt(() => mq.send("req", "after"));
  // Held, not deleted: each write grows the write-ahead log, and the freed room is finite.
  const bodies: string[] = [];
  for (;;) {
    const got = await mq.receive("req", { messagesMax: 10, visibilityTimeoutMs: 600_000 });
    if (got.length === 0) break;
    bodies.push(...got.map((m) => m.body));
  }
  await mq.close();
  return {
    acknowledgedCount: acknowledged.length,
    send,
    countsWhileFull,
    receiveWhileFull,
    sendAfterFreeing,
    // Every acknowledged message exactly once, nothing half-written, nothing unacknowledged.
    deliveredExactlyAcknowledged: JSON.stringify([...bodies].sort()) ===
      JSON.stringify([...acknowledged, "after"].sort()),
    deliveredCount: bodies.length,
  };
}

async function queueFilledByOthers(): Promise<unknown> {
  const mq = await SqliteMessageQueue.open(`${dir}/queue/cloud.db`);
  await mq.ensureQueue("req");
  await mq.send("req", "before");
  const filledBytes = await fillDisk(`${dir}/filler`);
  const send = await attempt(() => mq.send("req", `${"y".repeat(900)}`));
  await Deno.remove(`${dir}/filler`);
  const got = await mq.receive("req", { messagesMax: 10 });
  await mq.close();
  return { filledBytes, send, bodies: got.map((m) => m.body) };
}

async function queueReadOnly(): Promise<unknown> {
  const path = `${dir}/queue/cloud.db`;
  const mq = await SqliteMessageQueue.open(path);
  await mq.ensureQueue("req");
  await mq.send("req", "kept");
  // A remount to read-only needs every file on it closed for writing.
  await mq.close();
  await remountReadOnly();
  const reopen = await attempt(() => SqliteMessageQueue.open(path));
  const openNew = await attempt(() => SqliteMessageQueue.open(`${dir}/other/cloud.db`));
  return { reopen, openNew };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  "blob-disk-full": blobDiskFull,
  "blob-read-only": blobReadOnly,
  "queue-disk-full-at-open": queueDiskFullAtOpen,
  "queue-disk-full": queueDiskFull,
  "queue-filled-by-others": queueFilledByOthers,
  "queue-read-only": queueReadOnly,
};
const run = scenarios[scenario];
if (!run) throw new Error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios)}`);
console.log(JSON.stringify(await run()));
