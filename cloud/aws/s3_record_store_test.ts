import assert from "node:assert/strict";
import { BlobRecordStore } from "../record_store.ts";
import { startEmulators } from "../../testing/aws_emulators.ts";
import { S3BlobStore } from "./s3_blob_store.ts";

Deno.test("BlobRecordStore over S3BlobStore (s3rver) puts, gets, deletes and prunes the oldest keys first", async () => {
  const emulators = await startEmulators();
  const s3 = new S3BlobStore({
    endpoint: emulators.s3Endpoint,
    credentials: emulators.credentials,
    forcePathStyle: true,
    checksums: "when_required",
  });
  try {
    const bucket = `t-requests-${crypto.randomUUID().slice(0, 8)}`;
    await s3.ensureBucket(bucket);
    const records = new BlobRecordStore(s3, bucket);
    assert.equal(await records.get("k1"), undefined);
    for (const key of ["k1", "k2", "k3", "k4"]) await records.put(key, `{"key":"${key}"}`);
    await records.put("k4", "replaced");
    assert.equal(await records.get("k4"), "replaced");
    assert.equal(await records.prune(0, 10), 0, "nothing was written before the epoch");
    assert.equal(await records.prune(Date.now() + 60_000, 2), 2, "countMax bounds one prune");
    assert.deepEqual(
      await Promise.all(["k1", "k2", "k3", "k4"].map((k) => records.get(k))),
      [undefined, undefined, '{"key":"k3"}', "replaced"],
    );
    await records.delete("k3");
    await records.delete("k3");
    assert.equal(await records.get("k3"), undefined);
  } finally {
    await s3.close();
    await emulators.stop();
  }
});
