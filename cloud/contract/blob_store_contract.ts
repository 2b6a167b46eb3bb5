/**
 * The blob store contract: the behaviour every {@linkcode BlobStore} adapter must show. Each
 * adapter's test file runs it against its own target (local files, S3 adapter on s3rver).
 * @module
 */
import assert from "node:assert/strict";
import { type BlobStore, readAll } from "../blob_store.ts";
import { InvalidNameError, LimitExceededError, NotFoundError } from "../errors.ts";
import {
  assertSameBytes,
  chunkedStream,
  failingStream,
  patternBytes,
  uniqueName,
} from "./helpers.ts";

/** How to get a store under test. */
export interface BlobStoreTarget {
  /** Shown in step names. */
  readonly name: string;
  /** The `objectBytesMax` the opened store enforces (keep it small: tests write past it). */
  readonly objectBytesMax: number;
  /** Behaviours this target cannot show, each with the reason (the step is then ignored). */
  readonly lacks?: { byteOrderListing?: string };
  /** Opens a store; the contract closes it. */
  open(): Promise<BlobStore>;
}

/** Big enough to need several chunks and, on S3, a multipart upload (parts are 5 MiB). */
const LARGE_BYTES = 6 * 1024 * 1024 + 123;

/**
 * Runs the contract as steps of `t`.
 * @param t the enclosing test
 * @param target the store under test; `objectBytesMax` must exceed {@linkcode LARGE_BYTES}
 */
export async function blobStoreContract(t: Deno.TestContext, target: BlobStoreTarget) {
  assert.ok(target.objectBytesMax > LARGE_BYTES, "objectBytesMax must fit the large object test");
  const step = (
    name: string,
    fn: (store: BlobStore, bucket: string) => Promise<void>,
    gap?: string,
  ) =>
    t.step({
      name: `${target.name} ${name}${gap ? ` (not shown by this target: ${gap})` : ""}`,
      ignore: gap !== undefined,
      fn: async () => {
        const store = await target.open();
        try {
          const bucket = uniqueName("bk");
          await store.ensureBucket(bucket);
          await fn(store, bucket);
        } finally {
          await store.close();
        }
      },
    });

  await step("put streams a multi-chunk object that get returns byte for byte", async (s, b) => {
    const bytes = patternBytes(LARGE_BYTES, 7);
    const info = await s.put(b, "photos/test_000.jpg", chunkedStream(bytes, 256 * 1024));
    assert.equal(info.key, "photos/test_000.jpg");
    assert.equal(info.sizeBytes, bytes.length);
    const head = await s.head(b, "photos/test_000.jpg");
    assert.equal(head.sizeBytes, bytes.length);
    assert.ok(head.lastModifiedMs > 0);
    const got = await s.get(b, "photos/test_000.jpg");
    assert.equal(got.info.sizeBytes, bytes.length);
    assertSameBytes(await readAll(got.body), bytes, "object read back");
  });

  await step("put accepts bytes and an empty object", async (s, b) => {
    await s.put(b, "label/test_000", new TextEncoder().encode("Paul"));
    assert.equal(
      new TextDecoder().decode(await readAll((await s.get(b, "label/test_000")).body)),
      "Paul",
    );
    await s.put(b, "empty", new Uint8Array(0));
    assert.equal((await s.head(b, "empty")).sizeBytes, 0);
    assert.equal((await readAll((await s.get(b, "empty")).body)).length, 0);
  });

  await step("put never shows a partial object while an overwrite is in flight", async (s, b) => {
    const v1 = patternBytes(300_000, 1);
    const v2 = patternBytes(400_000, 2);
    await s.put(b, "k", v1);
    let release!: () => void;
    const paused = new Promise<void>((resolve) => release = resolve);
    const writing = s.put(b, "k", chunkedStream(v2, 100_000, { at: 2, until: paused }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assertSameBytes(await readAll((await s.get(b, "k")).body), v1, "old object during overwrite");
    assert.equal((await s.head(b, "k")).sizeBytes, v1.length);
    release();
    await writing;
    assertSameBytes(await readAll((await s.get(b, "k")).body), v2, "new object after overwrite");
  });

  await step(
    "put over objectBytesMax fails naming the limit and keeps the old object",
    async (s, b) => {
      const old = patternBytes(1000, 3);
      await s.put(b, "big", old);
      const tooBig = patternBytes(target.objectBytesMax + 1, 4);
      const error = await s.put(b, "big", chunkedStream(tooBig, 512 * 1024)).then(
        () => assert.fail("an oversize put succeeded"),
        (e) => e,
      );
      assert.ok(error instanceof LimitExceededError, `got ${error}`);
      assert.equal(error.limitName, "objectBytesMax");
      assert.match(error.message, /objectBytesMax/);
      assertSameBytes(await readAll((await s.get(b, "big")).body), old, "old object kept");
      await assert.rejects(s.put(b, "big2", chunkedStream(tooBig, 512 * 1024)), LimitExceededError);
      await assert.rejects(s.head(b, "big2"), NotFoundError);
    },
  );

  await step("put from a stream that fails leaves no object", async (s, b) => {
    await assert.rejects(s.put(b, "broken", failingStream(patternBytes(70_000, 5))));
    await assert.rejects(s.head(b, "broken"), NotFoundError);
    const page = await s.list(b);
    assert.deepEqual(page.items.map((i) => i.key), []);
  });

  await step(
    "hostile keys and bucket names are refused before anything is written",
    async (s, b) => {
      const hostile = [
        "",
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "a/./b",
        "a//b",
        "dir/",
        "nul\0byte",
        "back\\slash",
        "space name.jpg",
        "x".repeat(1025),
        `${"s".repeat(241)}/ok`,
      ];
      for (const key of hostile) {
        await assert.rejects(
          s.put(b, key, new Uint8Array(1)),
          InvalidNameError,
          JSON.stringify(key),
        );
        await assert.rejects(s.get(b, key), InvalidNameError);
      }
      for (const bucket of ["", "UPPER", "a", "../x", "has_underscore", "-dash"]) {
        await assert.rejects(s.put(bucket, "k", new Uint8Array(1)), InvalidNameError);
      }
      assert.deepEqual((await s.list(b)).items, []);
    },
  );

  await step("get, head and put on missing things fail with NotFoundError", async (s, b) => {
    await assert.rejects(s.get(b, "nope"), NotFoundError);
    await assert.rejects(s.head(b, "nope"), NotFoundError);
    await assert.rejects(s.put(uniqueName("nobucket"), "k", new Uint8Array(1)), NotFoundError);
  });

  await step("delete removes an object and is idempotent", async (s, b) => {
    await s.put(b, "d/x", new Uint8Array([1]));
    await s.delete(b, "d/x");
    await assert.rejects(s.head(b, "d/x"), NotFoundError);
    await s.delete(b, "d/x");
    await s.delete(b, "never-was");
  });

  await step("list pages through a prefix in key order, each key once", async (s, b) => {
    const keys = ["p/a", "p/b", "p/c/d", "p/c/e", "p/d", "p0", "q/a", "pa"];
    for (const [i, key] of keys.entries()) await s.put(b, key, patternBytes(i + 1, i + 1));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s.list(b, { prefix: "p/", token, pageKeysMax: 2 });
      assert.ok(page.items.length <= 2);
      for (const item of page.items) {
        seen.push(item.key);
        assert.equal(item.sizeBytes, keys.indexOf(item.key) + 1);
      }
      token = page.nextToken;
      pages++;
    } while (token !== undefined && pages < 10);
    assert.deepEqual(seen, ["p/a", "p/b", "p/c/d", "p/c/e", "p/d"]);
    const all = await s.list(b);
    assert.deepEqual(all.items.map((i) => i.key), [...keys].sort());
    assert.equal(all.nextToken, undefined);
    await assert.rejects(s.list(b, { pageKeysMax: 1001 }), RangeError);
  });

  await step(
    "list orders keys by byte value, even where a segment ends ('c-f' < 'c/d')",
    async (s, b) => {
      const keys = ["p/c/d", "p/c-f", "p/c.g", "p/c/e"];
      for (const key of keys) await s.put(b, key, new Uint8Array([1]));
      const seen: string[] = [];
      let token: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await s.list(b, { prefix: "p/", token, pageKeysMax: 1 });
        seen.push(...page.items.map((i) => i.key));
        token = page.nextToken;
        if (token === undefined) break;
      }
      assert.deepEqual(seen, ["p/c-f", "p/c.g", "p/c/d", "p/c/e"]);
    },
    target.lacks?.byteOrderListing,
  );
}
