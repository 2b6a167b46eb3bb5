/**
 * Embedded blob store, before and after, side by side in one run: 100 concurrent puts of a
 * 1.6 KB photo (what the web tier does under the course grader's burst), a get of one, and a
 * put and a get of 200 KiB and of 16 MiB. "before" is `cloud/` at `--baseline` (a git revision, exported to a
 * temp dir with `git archive`, so the old store runs with the ports it was written against);
 * "after" is the working tree. Each is measured with `syncData` on (the service's default) and
 * off; the repeats alternate between the stores so a busy machine slows them alike.
 * Prints medians.
 *
 * Usage: deno task bench:cloud:blob [--baseline REV] [--repeats R] [--dir DIR]
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type BlobStore, readAll } from "../cloud/blob_store.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { commandLineOrExit, integerFlag } from "../internal/cli.ts";
import { median } from "../internal/mod.ts";
import { exportRevision } from "./_baseline.ts";

/** The last revision with the one-file-per-object store. */
const BASELINE_REV_DEFAULT = "686c2af";
const SMALL_BYTES = 1_600;
const BURST_PUTS = 100;
const MID_BYTES = 200 * 1024;
const LARGE_BYTES = 16 * 1024 * 1024;

/** Most repeats one run makes. */
const REPEATS_MAX = 1_000;

const USAGE = `Usage: deno task bench:cloud:blob [--baseline REV] [--repeats R] [--dir DIR]

The embedded blob store before (at git revision REV) and after (the working tree), side by side:
100 concurrent puts of a 1.6 KB photo, a get of one, a put and a get of 200 KiB and of 16 MiB,
with syncData on and off. Prints medians.

  --baseline REV         the "before" revision (default ${BASELINE_REV_DEFAULT})
  --repeats R            repeats, alternating the stores (default 9; 1..${REPEATS_MAX})
  --dir DIR              where the data lands (default .; a tmpfs hides file-system costs)
  -h, --help             this help`;

const { values, repeats } = commandLineOrExit(
  {
    name: "bench:cloud:blob",
    usage: USAGE,
    options: {
      baseline: { type: "string" },
      repeats: { type: "string" },
      dir: { type: "string" },
    },
  },
  Deno.args,
  ({ values }) => ({
    values: { baseline: values.baseline ?? BASELINE_REV_DEFAULT, dir: values.dir ?? "." },
    repeats: integerFlag("--repeats", values.repeats ?? "9", 1, REPEATS_MAX),
  }),
);

type Open = (root: string, options: { syncData: boolean }) => Promise<BlobStore>;

/** Exports `cloud/` at `rev` into a temp dir and imports its LocalBlobStore from there. */
async function loadBaseline(rev: string): Promise<{ open: Open; dir: string }> {
  const dir = await exportRevision(rev, ["cloud"]);
  const module = await import(
    pathToFileURL(resolve(dir, "cloud/local/local_blob_store.ts")).href
  );
  return { open: (root, options) => module.LocalBlobStore.open(root, options), dir };
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

function pattern(byteCount: number): Uint8Array {
  const out = new Uint8Array(byteCount);
  for (let i = 0; i < byteCount; i++) out[i] = (i * 2654435761) >>> 24;
  return out;
}

interface Subject {
  readonly name: string;
  readonly store: BlobStore;
  readonly ms: Record<string, number[]>;
}

async function timed(ms: number[], fn: () => Promise<unknown>): Promise<void> {
  const startMs = performance.now();
  await fn();
  ms.push(performance.now() - startMs);
}

async function round(
  s: Subject,
  r: number,
  [small, mid, large]: Uint8Array[],
): Promise<void> {
  const bucket = "bench-bucket";
  const m = (name: string) => s.ms[name] ??= [];
  await timed(m(`${BURST_PUTS} concurrent puts of 1.6 KB`), () =>
    Promise.all(
      Array.from({ length: BURST_PUTS }, (_, i) =>
        s.store.put(bucket, `r${r}/p${i}.jpg`, stream(small))),
    ));
  await timed(m("get of 1.6 KB"), async () => {
    const got = await readAll((await s.store.get(bucket, `r${r}/p7.jpg`)).body);
    if (got.length !== SMALL_BYTES) throw new Error("short read");
  });
  await timed(m(`${BURST_PUTS} concurrent gets of 1.6 KB`), () =>
    Promise.all(
      Array.from({ length: BURST_PUTS }, async (_, i) =>
        await readAll((await s.store.get(bucket, `r${r}/p${i}.jpg`)).body)),
    ));
  // The size DEVELOPERS.md's earlier figures used (a large photo, still inline).
  await timed(m("put of 200 KiB"), () => s.store.put(bucket, `r${r}/mid.jpg`, stream(mid)));
  await timed(m("get of 200 KiB"), async () => {
    const got = await readAll((await s.store.get(bucket, `r${r}/mid.jpg`)).body);
    if (got.length !== MID_BYTES) throw new Error("short read");
  });
  await timed(m("put of 16 MiB"), () => s.store.put(bucket, `r${r}/large.bin`, stream(large)));
  await timed(m("get of 16 MiB"), async () => {
    const got = await readAll((await s.store.get(bucket, `r${r}/large.bin`)).body);
    if (got.length !== LARGE_BYTES) throw new Error("short read");
  });
  // Keep the disk from filling over the repeats.
  await s.store.delete(bucket, `r${r}/large.bin`);
}

const baseline = await loadBaseline(values.baseline);
const root = await Deno.makeTempDir({ dir: values.dir, prefix: "bench-blob-" });
const subjects: Subject[] = [];
try {
  for (const syncData of [true, false]) {
    for (
      const [name, open] of [["before", baseline.open], ["after", LocalBlobStore.open]] as const
    ) {
      const label = `${name} (syncData ${syncData ? "on" : "off"})`;
      const store = await open(join(root, `${name}-${syncData}`), { syncData });
      await store.ensureBucket("bench-bucket");
      subjects.push({ name: label, store, ms: {} });
    }
  }
  const small = pattern(SMALL_BYTES);
  const mid = pattern(MID_BYTES);
  const large = pattern(LARGE_BYTES);
  console.log(
    `embedded blob store, before = ${values.baseline}, after = working tree; median of ` +
      `${repeats} rounds, ${Deno.build.target}, data in ${root}, load ${Deno.loadavg()[0]}`,
  );
  for (let r = 0; r < repeats; r++) {
    for (const s of subjects) await round(s, r, [small, mid, large]);
  }
  const steps = Object.keys(subjects[0].ms);
  const width = Math.max(...steps.map((s) => s.length));
  console.log(`${"".padEnd(width)}  ${subjects.map((s) => s.name.padStart(24)).join("")}`);
  for (const step of steps) {
    const cells = subjects.map((s) => `${median(s.ms[step]).toFixed(2)} ms`.padStart(24));
    console.log(`${step.padEnd(width)}  ${cells.join("")}`);
  }
  console.log(`load average after: ${Deno.loadavg()[0]}`);
} finally {
  for (const s of subjects) await s.store.close();
  await Deno.remove(root, { recursive: true });
  await Deno.remove(baseline.dir, { recursive: true });
}
