/**
 * LocalBlobStore before and after objects moved into SQLite, in `deno bench` groups: a burst of
 * 100 concurrent 1.6 KB puts (the web tier under the course grader), a 1.6 KB get (the worker),
 * and a 16 MiB put + get. "before" is `cloud/` at `BLOB_BASELINE_REV` (default: the last
 * revision with one file per object), exported with `git archive`; both use `syncData` on, the
 * service's default. Data goes under `BLOB_BENCH_DIR` (default: the working directory, a real
 * disk; a tmpfs would hide the file-system costs that made the change worth doing).
 *
 * Usage: deno bench -A cloud/local/local_blob_store_bench.ts
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type BlobStore, readAll } from "../blob_store.ts";
import { LocalBlobStore } from "./local_blob_store.ts";

const BASELINE_REV = Deno.env.get("BLOB_BASELINE_REV") ?? "686c2af";
const BUCKET = "bench-bucket";
const SMALL_BYTES = 1_600;
const BURST_PUTS = 100;
const LARGE_BYTES = 16 * 1024 * 1024;

async function loadBaseline(rev: string, into: string): Promise<typeof LocalBlobStore> {
  const repo = new URL("../..", import.meta.url).pathname;
  const archive = await new Deno.Command("git", {
    args: ["-C", repo, "archive", "--format=tar", rev, "cloud"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!archive.success) {
    throw new Error(`git archive ${rev} failed: ${new TextDecoder().decode(archive.stderr)}`);
  }
  const tar = new Deno.Command("tar", { args: ["-x", "-C", into], stdin: "piped" }).spawn();
  const writer = tar.stdin.getWriter();
  await writer.write(archive.stdout);
  await writer.close();
  if (!(await tar.status).success) throw new Error("tar -x of the baseline failed");
  const url = pathToFileURL(resolve(into, "cloud/local/local_blob_store.ts"));
  return (await import(url.href)).LocalBlobStore;
}

function bytesOf(byteCount: number): Uint8Array {
  const out = new Uint8Array(byteCount);
  for (let i = 0; i < byteCount; i++) out[i] = (i * 2654435761) >>> 24;
  return out;
}

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

const root = await Deno.makeTempDir({
  dir: Deno.env.get("BLOB_BENCH_DIR") ?? ".",
  prefix: "bench-blob-store-",
});
const Baseline = await loadBaseline(BASELINE_REV, await Deno.makeTempDir({ dir: root }));
const small = bytesOf(SMALL_BYTES);
const large = bytesOf(LARGE_BYTES);
const stores: BlobStore[] = [];
globalThis.addEventListener("unload", () => {
  for (const s of stores) s.close();
  Deno.removeSync(root, { recursive: true });
});

for (
  const [name, open] of [
    [`before (${BASELINE_REV})`, (dir: string) => Baseline.open(dir)],
    ["after", (dir: string) => LocalBlobStore.open(dir)],
  ] as const
) {
  const store: BlobStore = await open(join(root, name.split(" ")[0]));
  stores.push(store);
  await store.ensureBucket(BUCKET);
  await store.put(BUCKET, "small.jpg", small);
  let n = 0;
  Deno.bench(`${name}: ${BURST_PUTS} concurrent puts of 1.6 KB`, {
    group: "burst of small puts",
    baseline: name === "after",
  }, async () => {
    const round = n++;
    await Promise.all(
      Array.from(
        { length: BURST_PUTS },
        (_, i) => store.put(BUCKET, `r${round}/p${i}.jpg`, stream(small)),
      ),
    );
  });
  Deno.bench(`${name}: get of 1.6 KB`, {
    group: "small get",
    baseline: name === "after",
  }, async () => {
    if ((await readAll((await store.get(BUCKET, "small.jpg")).body)).length !== SMALL_BYTES) {
      throw new Error("short read");
    }
  });
  Deno.bench(`${name}: put + get of 16 MiB`, {
    group: "large put + get",
    baseline: name === "after",
    n: 20,
  }, async () => {
    await store.put(BUCKET, "large.bin", stream(large));
    if ((await readAll((await store.get(BUCKET, "large.bin")).body)).length !== LARGE_BYTES) {
      throw new Error("short read");
    }
  });
}
