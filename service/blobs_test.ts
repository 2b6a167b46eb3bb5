import assert from "node:assert/strict";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { type BlobsOutput, runBlobs } from "./blobs.ts";

function capture() {
  const lines: string[] = [];
  const errors: string[] = [];
  const chunks: Uint8Array[] = [];
  const out: BlobsOutput = {
    line: (text) => lines.push(text),
    bytes: (data) => Promise.resolve(void chunks.push(data)),
    error: (text) => errors.push(text),
  };
  return { out, lines, errors, chunks };
}

async function withDeployment(fn: (dataDir: string) => Promise<void>) {
  const dataDir = await Deno.makeTempDir({ prefix: "blobs_cli_test_" });
  try {
    const store = await LocalBlobStore.open(`${dataDir}/blobs`);
    await store.ensureBucket("fr-in-bucket");
    await store.ensureBucket("fr-out-bucket");
    await store.put("fr-in-bucket", "test_00.jpg", new Uint8Array([0xff, 0xd8, 1, 2]));
    await store.put("fr-in-bucket", "other.jpg", new Uint8Array([3]));
    await store.put("fr-out-bucket", "test_00", new TextEncoder().encode("Paul"));
    await store.close();
    await fn(dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("runBlobs lists a bucket (with --prefix) and gets an object to stdout or --output", async () => {
  await withDeployment(async (dataDir) => {
    const listed = capture();
    assert.equal(await runBlobs(["list", "in", "--data", dataDir], listed.out), 0);
    assert.deepEqual(listed.lines.map((l) => l.split("\t").slice(0, 2)), [
      ["other.jpg", "1"],
      ["test_00.jpg", "4"],
    ]);
    assert.ok(!Number.isNaN(Date.parse(listed.lines[0].split("\t")[2])));
    const prefixed = capture();
    assert.equal(
      await runBlobs(["list", "in", "--prefix", "test", "--data", dataDir], prefixed.out),
      0,
    );
    assert.equal(prefixed.lines.length, 1);
    const label = capture();
    assert.equal(await runBlobs(["get", "out", "test_00", "--data", dataDir], label.out), 0);
    assert.equal(new TextDecoder().decode(label.chunks[0]), "Paul");
    const file = `${dataDir}/copy.jpg`;
    assert.equal(
      await runBlobs(["get", "in", "test_00.jpg", "--output", file, "--data", dataDir]),
      0,
    );
    assert.deepEqual(await Deno.readFile(file), new Uint8Array([0xff, 0xd8, 1, 2]));
  });
});

Deno.test("runBlobs says what is missing: a key, a data dir or another --id's bucket (1), bad usage (2)", async () => {
  await withDeployment(async (dataDir) => {
    const missing = capture();
    assert.equal(await runBlobs(["get", "in", "nope.jpg", "--data", dataDir], missing.out), 1);
    assert.match(
      missing.errors[0],
      /object "fr-in-bucket\/nope.jpg" does not exist; try "deno task blobs list in"/,
    );
    const nowhere = capture();
    assert.equal(await runBlobs(["list", "in", "--data", `${dataDir}/nope`], nowhere.out), 1);
    assert.match(nowhere.errors[0], /no data directory at .*nope; pass the service's --data/);
    assert.throws(() => Deno.statSync(`${dataDir}/nope`), "nothing was created there");
    const otherId = capture();
    assert.equal(await runBlobs(["list", "out", "--id", "zz", "--data", dataDir], otherId.out), 1);
    assert.match(otherId.errors[0], /bucket "zz-out-bucket" does not exist/);
    for (
      const args of [["list"], ["list", "sideways"], ["get", "in"], ["list", "in", "--prefix"], [
        "list",
        "in",
        "--bogus",
      ]]
    ) {
      const bad = capture();
      assert.equal(await runBlobs(args, bad.out), 2, args.join(" "));
      assert.equal(bad.errors.length + bad.lines.length, 1, args.join(" "));
    }
  });
});

Deno.test("runBlobs get refuses to write a photo to a terminal unless --output -, but writes text", async () => {
  await withDeployment(async (dataDir) => {
    const onTerminal = () => {
      const c = capture();
      return { ...c, out: { ...c.out, isTerminal: () => true } };
    };
    const refused = onTerminal();
    assert.equal(await runBlobs(["get", "in", "test_00.jpg", "--data", dataDir], refused.out), 2);
    assert.deepEqual(refused.chunks, []);
    assert.equal(refused.errors.length, 1);
    assert.match(refused.errors[0], /binary data; not writing it to a terminal.*--output -/);
    const forced = onTerminal();
    assert.equal(
      await runBlobs(["get", "in", "test_00.jpg", "--output", "-", "--data", dataDir], forced.out),
      0,
    );
    assert.deepEqual(forced.chunks, [new Uint8Array([0xff, 0xd8, 1, 2])]);
    const label = onTerminal();
    assert.equal(await runBlobs(["get", "out", "test_00", "--data", dataDir], label.out), 0);
    assert.equal(new TextDecoder().decode(label.chunks[0]), "Paul");
    const piped = capture();
    assert.equal(await runBlobs(["get", "in", "test_00.jpg", "--data", dataDir], piped.out), 0);
    assert.deepEqual(piped.chunks, [new Uint8Array([0xff, 0xd8, 1, 2])]);
  });
});

Deno.test("runBlobs list --json prints one parsable object per object; --help is the usage, exit 0", async () => {
  await withDeployment(async (dataDir) => {
    const listed = capture();
    assert.equal(await runBlobs(["list", "in", "--json", "--data", dataDir], listed.out), 0);
    const objects = listed.lines.map((l) => JSON.parse(l));
    assert.deepEqual(objects.map((o) => [o.key, o.bytes]), [["other.jpg", 1], ["test_00.jpg", 4]]);
    assert.ok(!Number.isNaN(Date.parse(objects[0].lastModified)));
    for (const flag of ["--help", "-h"]) {
      const help = capture();
      assert.equal(await runBlobs(["list", flag], help.out), 0);
      assert.match(help.lines[0], /^Usage:\n {2}deno task blobs list/);
      assert.deepEqual(help.errors, []);
    }
  });
});
