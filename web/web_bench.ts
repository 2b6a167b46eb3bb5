/**
 * Per-request costs of the web tier, next to the costs of the embedded adapters it calls, so the
 * share that is the web tier's own code is visible. Concurrency effects (100 at once) are measured
 * by `bench/web_overhead.ts`.
 *
 * `deno bench -A web/web_bench.ts`
 */
import { join } from "node:path";
import { systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { REQUEST_IMAGE_BYTES_MAX, REQUEST_MESSAGE_BYTES_MAX } from "../protocol/mod.ts";
import { createApp } from "./app.ts";
import { parseUploadName } from "./file_name.ts";
import { multipartBoundary, openFilePart } from "./multipart.ts";
import { ResponseRouter } from "./response_router.ts";

const root = await Deno.makeTempDir({ prefix: "fr-web-bench-" });
const blobs = await LocalBlobStore.open(join(root, "blobs"), { syncData: false });
const queue = await SqliteMessageQueue.open(join(root, "queues.db"));
await blobs.ensureBucket("b-in-bucket");
await queue.ensureQueue("b-req-queue", { messageBytesMax: REQUEST_MESSAGE_BYTES_MAX });
await queue.ensureQueue("b-resp-queue");
// Not started: these benches measure accepting, not answering.
const router = new ResponseRouter({ queue, blobs, clock: systemClock }, {
  responseQueue: "b-resp-queue",
  pendingRequestsMax: 10_000_000,
});
const app = createApp({ blobs, requestQueue: queue, responses: router, clock: systemClock }, {
  inBucket: "b-in-bucket",
  requestQueue: "b-req-queue",
});

async function encoded(name: string, bytes: Uint8Array) {
  const form = new FormData();
  form.append("inputFile", new Blob([bytes as BlobPart]), name);
  const request = new Request("http://bench/", { method: "POST", body: form });
  return {
    bytes: new Uint8Array(await request.arrayBuffer()),
    contentType: request.headers.get("content-type")!,
  };
}

/** About the size of a course image (64×64 JPEG). */
const small = await encoded("test_00.jpg", new Uint8Array(1_600).fill(7));
/** About a phone photo. */
const large = await encoded("photo.jpg", new Uint8Array(5 * 1024 * 1024).fill(9));
const boundary = multipartBoundary(small.contentType)!;

function chunks(bytes: Uint8Array, chunkBytes: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

let n = 0;

Deno.bench("POST /requests: accept a 1.6 KB upload (store + enqueue)", {
  group: "accept",
  baseline: true,
}, async () => {
  const res = await app.request(
    new Request("http://bench/requests", {
      method: "POST",
      body: small.bytes as BodyInit,
      headers: { "content-type": small.contentType },
    }),
  );
  await res.body?.cancel();
  if (res.status !== 202) throw new Error(`status ${res.status}`);
});

Deno.bench("adapter only: LocalBlobStore.put 1.6 KB", { group: "accept" }, async () => {
  await blobs.put("b-in-bucket", `direct_${n++}.jpg`, new Uint8Array(1_600));
});

Deno.bench("adapter only: SqliteMessageQueue.send 200 B", { group: "accept" }, async () => {
  await queue.send("b-req-queue", "x".repeat(200));
});

Deno.bench(
  "web code only: multipart parse 1.6 KB upload",
  { group: "parse", baseline: true },
  async () => {
    const part = await openFilePart(chunks(small.bytes, 65_536), boundary, "inputFile", {
      fileBytesMax: REQUEST_IMAGE_BYTES_MAX,
      bodyBytesMax: REQUEST_IMAGE_BYTES_MAX + 65_536,
    });
    parseUploadName(part.fileName);
    await new Response(part.body).arrayBuffer();
    await part.finish();
  },
);

Deno.bench(
  "web code only: multipart parse 5 MiB upload in 64 KiB chunks",
  { group: "parse" },
  async () => {
    const b = multipartBoundary(large.contentType)!;
    const part = await openFilePart(chunks(large.bytes, 65_536), b, "inputFile", {
      fileBytesMax: REQUEST_IMAGE_BYTES_MAX,
      bodyBytesMax: REQUEST_IMAGE_BYTES_MAX + 65_536,
    });
    const reader = part.body.getReader();
    while (!(await reader.read()).done) { /* drain */ }
    await part.finish();
  },
);

globalThis.addEventListener("unload", () => {
  queue.close();
  Deno.removeSync(root, { recursive: true });
});
