/**
 * The worker loop on a disk that fills up while it recognises, for worker_storage_test.ts. Runs
 * inside a private mount namespace where `<dir>` is a small tmpfs (a real ENOSPC); prints one JSON
 * line of what it observed.
 * Usage: full_disk_worker.ts <dir>
 */
import { LocalBlobStore } from "../../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../../cloud/local/sqlite_message_queue.ts";
import { decodeResponse, encodeRequest } from "../../protocol/mod.ts";
import { runWorker } from "../worker_loop.ts";

const [dir] = Deno.args;
const routes = {
  requestQueue: "t-req-queue",
  responseQueue: "t-resp-queue",
  inBucket: "t-in-bucket",
  outBucket: "t-out-bucket",
  deadLetterQueue: "t-req-dlq",
};
/** How long the disk stays full once recognition filled it. */
const FULL_FOR_MS = 1_500;

const queue = await SqliteMessageQueue.open(`${dir}/cloud.db`);
const blobs = await LocalBlobStore.open(`${dir}/blobs`, { syncData: false });
await queue.ensureQueue(routes.deadLetterQueue);
await queue.ensureQueue(routes.requestQueue, {
  messageBytesMax: 1024,
  deadLetter: { queue: routes.deadLetterQueue, receiveCountMax: 2 },
});
await queue.ensureQueue(routes.responseQueue);
await blobs.ensureBucket(routes.inBucket);
await blobs.ensureBucket(routes.outBucket);
await blobs.put(routes.inBucket, "p.jpg", new Uint8Array(500).fill(1));
await queue.send(
  routes.requestQueue,
  encodeRequest({ v: 1, id: "req-1", key: "p.jpg", stem: "p", acceptedAtMs: Date.now() }),
);

/** Fills the file system to the last byte; the filler is removed FULL_FOR_MS later. */
async function fillDisk(): Promise<void> {
  const path = `${dir}/filler`;
  const file = await Deno.open(path, { write: true, create: true });
  try {
    for (;;) await file.write(new Uint8Array(4096));
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    file.close();
  }
  setTimeout(() => Deno.removeSync(path), FULL_FOR_MS);
}

const events: Record<string, unknown>[] = [];
const report = await runWorker({
  queue,
  blobs,
  recognize: async () => {
    await fillDisk();
    return { label: "Paul", faces: [], timingsMs: {} };
  },
}, {
  routes,
  workerName: "w1",
  visibilityTimeoutMs: 3_000,
  storageRetryMs: 100,
  log: (line) => events.push({ ...line }),
});
const responses = (await queue.receive(routes.responseQueue, { messagesMax: 10 }))
  .map((m) => decodeResponse(m.body));
const label = new TextDecoder().decode(
  new Uint8Array(await new Response((await blobs.get(routes.outBucket, "p")).body).arrayBuffer()),
);
console.log(JSON.stringify({
  report,
  events,
  responses,
  label,
  requestCounts: await queue.counts(routes.requestQueue),
  deadLetterCounts: await queue.counts(routes.deadLetterQueue),
}));
await queue.close();
await blobs.close();
