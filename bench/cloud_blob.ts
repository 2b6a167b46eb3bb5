/**
 * Embedded blob store throughput (issue 3): put from a stream and get as a stream, in MB/s,
 * for photo-sized (200 KB) and large (16 MiB) objects, with fsync on (the default).
 * Usage: deno run -A bench/cloud_blob.ts [--repeats R]
 */
import { parseArgs } from "node:util";
import { readAll } from "../cloud/blob_store.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";

const { values } = parseArgs({ options: { repeats: { type: "string", default: "15" } } });
const repeats = Number(values.repeats);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function stream(bytes: Uint8Array, chunkBytes = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

const dir = await Deno.makeTempDir({ prefix: "bench-blob-" });
const store = await LocalBlobStore.open(dir);
await store.ensureBucket("bench-bucket");
console.log(`embedded blob store, median of ${repeats} runs, ${Deno.build.target}`);
for (const sizeBytes of [200 * 1024, 16 * 1024 * 1024]) {
  const bytes = crypto.getRandomValues(new Uint8Array(65536));
  const body = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 65536) {
    body.set(bytes.subarray(0, Math.min(65536, sizeBytes - i)), i);
  }
  const putMs: number[] = [];
  const getMs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    await store.put("bench-bucket", `obj-${r}`, stream(body));
    putMs.push(performance.now() - t);
    t = performance.now();
    const got = await readAll((await store.get("bench-bucket", `obj-${r}`)).body);
    getMs.push(performance.now() - t);
    if (got.length !== sizeBytes) throw new Error("short read");
  }
  const mb = sizeBytes / 1e6;
  console.log(
    `${(sizeBytes / 1024).toFixed(0)} KiB  put=${(mb / (median(putMs) / 1000)).toFixed(0)} MB/s ` +
      `(${median(putMs).toFixed(2)} ms)  get=${(mb / (median(getMs) / 1000)).toFixed(0)} MB/s ` +
      `(${median(getMs).toFixed(2)} ms)`,
  );
}
await store.close();
await Deno.remove(dir, { recursive: true });
