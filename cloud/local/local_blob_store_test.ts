import assert from "node:assert/strict";
import { blobStoreContract } from "../contract/blob_store_contract.ts";
import { LocalBlobStore } from "./local_blob_store.ts";

Deno.test("LocalBlobStore keeps the blob store contract", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "blobs-" });
  try {
    await blobStoreContract(t, {
      name: "LocalBlobStore",
      objectBytesMax: 8 * 1024 * 1024,
      open: () => LocalBlobStore.open(root, { objectBytesMax: 8 * 1024 * 1024 }),
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("LocalBlobStore.open sweeps temp files left by an interrupted put", async () => {
  const root = await Deno.makeTempDir({ prefix: "blobs-" });
  try {
    await Deno.mkdir(`${root}/.tmp`, { recursive: true });
    await Deno.writeFile(`${root}/.tmp/old.part`, new Uint8Array(10));
    await Deno.utime(`${root}/.tmp/old.part`, 0, 0);
    await Deno.writeFile(`${root}/.tmp/fresh.part`, new Uint8Array(10));
    const store = await LocalBlobStore.open(root);
    const left = [...Deno.readDirSync(`${root}/.tmp`)].map((e) => e.name);
    assert.deepEqual(left, ["fresh.part"]);
    await store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
