import assert from "node:assert/strict";
import { join } from "node:path";
import { listAll, readAll } from "../blob_store.ts";
import { blobStoreContract } from "../contract/blob_store_contract.ts";
import { assertSameBytes, chunkedStream, patternBytes } from "../contract/helpers.ts";
import { CorruptStoreError, NotFoundError } from "../errors.ts";
import {
  INLINE_BYTES_MAX_CEILING,
  INLINE_BYTES_MAX_DEFAULT,
  LocalBlobStore,
  type LocalBlobStoreOptions,
} from "./local_blob_store.ts";

const BUCKET = "in-bucket";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "blobs-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function withStore(
  options: LocalBlobStoreOptions,
  fn: (store: LocalBlobStore, root: string) => Promise<void>,
): Promise<void> {
  await withRoot(async (root) => {
    const store = await LocalBlobStore.open(root, { syncData: false, ...options });
    try {
      await store.ensureBucket(BUCKET);
      await fn(store, root);
    } finally {
      await store.close();
    }
  });
}

function dataFiles(root: string): string[] {
  return [...Deno.readDirSync(join(root, ".data"))].map((e) => e.name).sort();
}

async function bytesOf(store: LocalBlobStore, key: string): Promise<Uint8Array> {
  return await readAll((await store.get(BUCKET, key)).body);
}

/**
 * Reads key "k" once and checks it is exactly one of `versions`, with a size that agrees; then
 * yields a macrotask turn (an inline get never leaves the microtask queue, and the writers' file
 * I/O must run).
 */
async function readOneWholeVersion(reader: LocalBlobStore, versions: Uint8Array[]) {
  const got = await reader.get(BUCKET, "k");
  const bytes = await readAll(got.body);
  const match = versions.findIndex((v) =>
    v.length === bytes.length && v.every((x, i) => x === bytes[i])
  );
  assert.ok(match >= 0, `read ${bytes.length} bytes matching no version whole`);
  assert.equal(got.info.sizeBytes, bytes.length, "info and body disagree");
  await new Promise((resolve) => setTimeout(resolve, 0));
}

for (
  const [what, inlineBytesMax] of [
    ["default inlineBytesMax", undefined],
    ["inlineBytesMax 0 (every non-empty object a file)", 0],
    ["inlineBytesMax 1 MiB (the overwrite test inline)", 1024 * 1024],
  ] as const
) {
  Deno.test(`LocalBlobStore keeps the blob store contract with ${what}`, async (t) => {
    await withRoot(async (root) => {
      await blobStoreContract(t, {
        name: "LocalBlobStore",
        objectBytesMax: 8 * 1024 * 1024,
        open: () => LocalBlobStore.open(root, { objectBytesMax: 8 * 1024 * 1024, inlineBytesMax }),
      });
    });
  });
}

Deno.test("LocalBlobStore.open refuses an inlineBytesMax outside 0..INLINE_BYTES_MAX_CEILING", async () => {
  await withRoot(async (root) => {
    for (const bad of [-1, 1.5, INLINE_BYTES_MAX_CEILING + 1, Number.NaN]) {
      await assert.rejects(LocalBlobStore.open(root, { inlineBytesMax: bad }), (e: unknown) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, /inlineBytesMax/);
        assert.match(e.message, new RegExp(`got ${bad}`));
        return true;
      });
    }
  });
});

Deno.test("LocalBlobStore.put keeps exactly inlineBytesMax bytes in the database and one byte more in a file", async () => {
  const inlineBytesMax = 10_000;
  await withStore({ inlineBytesMax }, async (store, root) => {
    const fits = patternBytes(inlineBytesMax, 1);
    const over = patternBytes(inlineBytesMax + 1, 2);
    await store.put(BUCKET, "bytes-fit", fits);
    await store.put(BUCKET, "stream-fit", chunkedStream(fits, 3000));
    assert.deepEqual(dataFiles(root), [], "an object of inlineBytesMax went to a file");
    await store.put(BUCKET, "bytes-over", over);
    assert.equal(dataFiles(root).length, 1, "an object over inlineBytesMax stayed inline");
    await store.put(BUCKET, "stream-over", chunkedStream(over, 3000));
    assert.equal(dataFiles(root).length, 2);
    for (const [key, bytes] of [["bytes-fit", fits], ["stream-fit", fits]] as const) {
      assertSameBytes(await bytesOf(store, key), bytes, key);
    }
    for (const [key, bytes] of [["bytes-over", over], ["stream-over", over]] as const) {
      assertSameBytes(await bytesOf(store, key), bytes, key);
      assert.equal((await store.head(BUCKET, key)).sizeBytes, inlineBytesMax + 1);
    }
  });
});

Deno.test("LocalBlobStore.put over an object in a file, either way, and delete leave no orphan file", async () => {
  await withStore({ inlineBytesMax: 1000 }, async (store, root) => {
    const large = patternBytes(50_000, 3);
    const small = patternBytes(500, 4);
    await store.put(BUCKET, "k", large);
    const [first] = dataFiles(root);
    await store.put(BUCKET, "k", small);
    assert.deepEqual(dataFiles(root), [], "large -> small kept the large object's file");
    assertSameBytes(await bytesOf(store, "k"), small, "small after large");
    await store.put(BUCKET, "k", large);
    await store.put(BUCKET, "k", chunkedStream(large, 7000));
    const files = dataFiles(root);
    assert.equal(files.length, 1, "large -> large kept the first file");
    assert.notEqual(files[0], first, "a replacing put reused a published file name");
    assertSameBytes(await bytesOf(store, "k"), large, "large after large");
    await store.delete(BUCKET, "k");
    assert.deepEqual(dataFiles(root), [], "delete kept the object's file");
    await assert.rejects(store.head(BUCKET, "k"), NotFoundError);
    assert.deepEqual([...Deno.readDirSync(join(root, ".tmp"))], []);
  });
});

Deno.test("LocalBlobStore instances on one root see each other's buckets, puts, replacements and deletes", async () => {
  await withRoot(async (root) => {
    const a = await LocalBlobStore.open(root, { inlineBytesMax: 1000, syncData: false });
    const b = await LocalBlobStore.open(root, { inlineBytesMax: 1000, syncData: false });
    try {
      await a.ensureBucket("shared-bucket");
      const small = patternBytes(100, 5);
      const large = patternBytes(30_000, 6);
      await a.put("shared-bucket", "small", small);
      await a.put("shared-bucket", "large", large);
      assertSameBytes(
        await readAll((await b.get("shared-bucket", "small")).body),
        small,
        "b reads a's small",
      );
      assertSameBytes(
        await readAll((await b.get("shared-bucket", "large")).body),
        large,
        "b reads a's large",
      );
      await b.put("shared-bucket", "large", small);
      assertSameBytes(
        await readAll((await a.get("shared-bucket", "large")).body),
        small,
        "a reads b's replacement",
      );
      assert.deepEqual(dataFiles(root), [], "b's replacement kept a's file");
      await b.delete("shared-bucket", "small");
      await assert.rejects(a.head("shared-bucket", "small"), NotFoundError);
      assert.deepEqual((await a.list("shared-bucket")).items.map((i) => i.key), ["large"]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("LocalBlobStore get during puts of one key from two instances returns one whole version every time", async () => {
  await withRoot(async (root) => {
    const inlineBytesMax = 4096;
    const options = { inlineBytesMax, syncData: false };
    const writers = [
      await LocalBlobStore.open(root, options),
      await LocalBlobStore.open(root, options),
    ];
    const reader = await LocalBlobStore.open(root, options);
    try {
      await writers[0].ensureBucket(BUCKET);
      // Inline and file versions, the two sizes either side of the threshold among them.
      const versions = [100, inlineBytesMax, inlineBytesMax + 1, 200_000].map((n, i) =>
        patternBytes(n, 10 + i)
      );
      await writers[0].put(BUCKET, "k", versions[0]);
      let writing = true;
      const puts = (async () => {
        for (let round = 0; round < 40; round++) {
          const v = versions[round % versions.length];
          const body = round % 3 === 0 ? chunkedStream(v, 1500) : v;
          await Promise.all([
            writers[round % 2].put(BUCKET, "k", body),
            writers[(round + 1) % 2].put(BUCKET, "k", versions[(round + 1) % versions.length]),
          ]);
        }
        writing = false;
      })();
      let reads = 0;
      while (writing) {
        await readOneWholeVersion(reader, versions);
        reads++;
      }
      await puts;
      assert.ok(reads > 10, `only ${reads} reads overlapped the puts`);
      assert.ok(dataFiles(root).length <= 1, `orphans left: ${dataFiles(root)}`);
    } finally {
      for (const s of [...writers, reader]) await s.close();
    }
  });
});

Deno.test("LocalBlobStore.open indexes a root in the previous layout in place, once", async () => {
  await withRoot(async (root) => {
    // The previous layout: a folder per bucket, `<key>~obj` per object, folders for `/`.
    const legacy: Record<string, Uint8Array> = {
      "in-bucket/test_000.jpg~obj": patternBytes(1600, 20),
      "in-bucket/photos/2024/a.jpg~obj": patternBytes(300_000, 21),
      "out-bucket/test_000~obj": new TextEncoder().encode("Paul"),
    };
    for (const [rel, bytes] of Object.entries(legacy)) {
      await Deno.mkdir(join(root, rel, ".."), { recursive: true });
      await Deno.writeFile(join(root, rel), bytes);
    }
    await Deno.mkdir(join(root, "empty-bucket"));
    await Deno.utime(join(root, "in-bucket/test_000.jpg~obj"), 1_600_000_000, 1_600_000_000);
    await Deno.writeFile(join(root, "in-bucket/notes.txt"), new Uint8Array(3));
    await Deno.mkdir(join(root, ".tmp"));

    const store = await LocalBlobStore.open(root, { syncData: false });
    try {
      assert.deepEqual((await store.list("in-bucket")).items.map((i) => i.key), [
        "photos/2024/a.jpg",
        "test_000.jpg",
      ]);
      assert.deepEqual((await store.list("empty-bucket")).items, []);
      const head = await store.head("in-bucket", "test_000.jpg");
      assert.equal(head.sizeBytes, 1600);
      assert.equal(head.lastModifiedMs, 1_600_000_000_000, "mtime not kept as lastModifiedMs");
      assertSameBytes(
        await readAll((await store.get("in-bucket", "photos/2024/a.jpg")).body),
        legacy["in-bucket/photos/2024/a.jpg~obj"],
        "legacy nested object",
      );
      assert.equal(
        new TextDecoder().decode(await readAll((await store.get("out-bucket", "test_000")).body)),
        "Paul",
      );
      // Replacing an indexed object removes its old file and the folders it leaves empty.
      await store.put("in-bucket", "photos/2024/a.jpg", new Uint8Array([1, 2, 3]));
      await assert.rejects(Deno.stat(join(root, "in-bucket/photos")), Deno.errors.NotFound);
      await store.delete("in-bucket", "test_000.jpg");
      await assert.rejects(
        Deno.stat(join(root, "in-bucket/test_000.jpg~obj")),
        Deno.errors.NotFound,
      );
      assert.ok(
        (await Deno.stat(join(root, "in-bucket/notes.txt"))).isFile,
        "a stray file was touched",
      );
    } finally {
      await store.close();
    }
    // A file in the old place after indexing is not an object: the layout is read only once.
    await Deno.writeFile(join(root, "in-bucket/test_000.jpg~obj"), new Uint8Array(5));
    const again = await LocalBlobStore.open(root, { syncData: false });
    try {
      await assert.rejects(again.head("in-bucket", "test_000.jpg"), NotFoundError);
      assert.deepEqual((await again.head("in-bucket", "photos/2024/a.jpg")).sizeBytes, 3);
    } finally {
      await again.close();
    }
  });
});

Deno.test("LocalBlobStore.open sweeps stale temp files and stale object files no row points to", async () => {
  await withRoot(async (root) => {
    const first = await LocalBlobStore.open(root, { inlineBytesMax: 10, syncData: false });
    await first.ensureBucket(BUCKET);
    await first.put(BUCKET, "kept", patternBytes(100, 30));
    await first.close();
    const [keptFile] = dataFiles(root);
    // As a process killed between publishing a file and committing its row would leave them.
    await Deno.writeFile(join(root, ".data/orphan-old"), new Uint8Array(10));
    await Deno.writeFile(join(root, ".data/orphan-fresh"), new Uint8Array(10));
    await Deno.writeFile(join(root, ".tmp/old.part"), new Uint8Array(10));
    await Deno.writeFile(join(root, ".tmp/fresh.part"), new Uint8Array(10));
    for (const old of [".data/orphan-old", `.data/${keptFile}`, ".tmp/old.part"]) {
      await Deno.utime(join(root, old), 0, 0);
    }
    const store = await LocalBlobStore.open(root, { syncData: false });
    try {
      assert.deepEqual(dataFiles(root), [keptFile, "orphan-fresh"].sort());
      assert.deepEqual([...Deno.readDirSync(join(root, ".tmp"))].map((e) => e.name), [
        "fresh.part",
      ]);
      assertSameBytes(await bytesOf(store, "kept"), patternBytes(100, 30), "referenced old file");
    } finally {
      await store.close();
    }
  });
});

Deno.test("LocalBlobStore.get throws CorruptStoreError when an object's file was removed behind its back", async () => {
  await withStore({ inlineBytesMax: 10 }, async (store, root) => {
    await store.put(BUCKET, "k", patternBytes(100, 40));
    await Deno.remove(join(root, ".data", dataFiles(root)[0]));
    await assert.rejects(store.get(BUCKET, "k"), (e: unknown) => {
      assert.ok(e instanceof CorruptStoreError, `got ${e}`);
      assert.match(e.message, /in-bucket\/k.*missing: delete the object and put it again/);
      return true;
    });
  });
});

Deno.test("LocalBlobStore default inlineBytesMax keeps a photo-sized object out of the file system", async () => {
  await withStore({}, async (store, root) => {
    await store.put(BUCKET, "photo.jpg", patternBytes(INLINE_BYTES_MAX_DEFAULT, 50));
    assert.deepEqual(dataFiles(root), []);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !n.startsWith("objects.db"))
        .sort(),
      [".data", ".tmp"],
    );
  });
});

Deno.test("LocalBlobStore get in one process during another process's puts of the key returns one whole version every time", async () => {
  await withRoot(async (root) => {
    const inlineBytesMax = 4096;
    const sizes = [100, inlineBytesMax, inlineBytesMax + 1, 200_000];
    const versions = sizes.map((n, i) => patternBytes(n, 60 + i));
    const reader = await LocalBlobStore.open(root, { inlineBytesMax, syncData: false });
    try {
      await reader.ensureBucket(BUCKET);
      await reader.put(BUCKET, "k", versions[0]);
      const moduleUrl = new URL("./local_blob_store.ts", import.meta.url).href;
      const helpersUrl = new URL("../contract/helpers.ts", import.meta.url).href;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { LocalBlobStore } from ${JSON.stringify(moduleUrl)};
           import { patternBytes } from ${JSON.stringify(helpersUrl)};
           const sizes = ${JSON.stringify(sizes)};
           const store = await LocalBlobStore.open(${JSON.stringify(root)},
             { inlineBytesMax: ${inlineBytesMax}, syncData: false });
           for (let round = 0; round < 200; round++) {
             const i = round % sizes.length;
             await store.put(${JSON.stringify(BUCKET)}, "k", patternBytes(sizes[i], 60 + i));
           }
           await store.close();`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let running = true;
      const exited = child.output().finally(() => running = false);
      let reads = 0;
      while (running) {
        await readOneWholeVersion(reader, versions);
        reads++;
      }
      const out = await exited;
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.ok(reads > 0);
      // The last put (round 199) wrote the version at 199 % 4 = 3: a file, and the only one left.
      assertSameBytes(await bytesOf(reader, "k"), versions[3], "the other process's last put");
      assert.equal(dataFiles(root).length, 1, `orphans left: ${dataFiles(root)}`);
    } finally {
      await reader.close();
    }
  });
});

Deno.test("listAll walks every page of a listing in key order, under a prefix", async () => {
  await withRoot(async (root) => {
    const store = await LocalBlobStore.open(root);
    await store.ensureBucket(BUCKET);
    for (const key of ["b/3", "a/1", "b/1", "b/2", "c/1", "b/4", "b/5"]) {
      await store.put(BUCKET, key, new Uint8Array([1]));
    }
    const keys = [];
    for await (const item of listAll(store, BUCKET, { prefix: "b/", pageKeysMax: 2 })) {
      keys.push(item.key);
    }
    assert.deepEqual(keys, ["b/1", "b/2", "b/3", "b/4", "b/5"]);
    await store.close();
  });
});
