import assert from "node:assert/strict";
import { coursePickle, PickleWriter, torchZip } from "./_pickle_writer.ts";
import { GalleryMismatchError, TorchFileError } from "./errors.ts";
import { decodeGallery, encodeGallery, readGallery } from "./gallery.ts";
import { FACENET_MODEL_ID, FACENET_WARNING, importTorchGallery } from "./import_torch.ts";
import { matchEmbedding } from "./match.ts";
import { datasetFile } from "../../testing/datasets.ts";

const DATA_PT = datasetFile("data.pt");
const FACE_API_128 = { modelId: "face-api/face_recognition@1.7.15", dims: 128 };

Deno.test({
  name: "importTorchGallery reads the course's data.pt: 90 people, 512-d facenet embeddings",
  ignore: !DATA_PT,
}, async () => {
  const bytes = await Deno.readFile(DATA_PT!);
  const { gallery, refused, warning } = importTorchGallery(bytes);
  assert.deepEqual(refused, []);
  assert.equal(gallery.modelId, FACENET_MODEL_ID);
  assert.equal(gallery.dims, 512);
  assert.equal(gallery.entryCount, 90);
  assert.equal(gallery.personCount, 90);
  assert.deepEqual(gallery.names.slice(0, 3), ["Ainsworth", "Alex", "Alexander"]);
  assert.ok(gallery.names.includes("Paul") && gallery.names.includes("Mary-Kate"));
  // archive/data/0 read independently (Python struct.unpack('<512f')): its first values.
  assert.deepEqual([...gallery.embeddingAt(0).subarray(0, 4)], [
    0.03565385192632675,
    -0.03588089346885681,
    -0.04821375757455826,
    0.020604506134986877,
  ]);
  // facenet embeddings are L2-normalised.
  for (let i = 0; i < gallery.entryCount; i++) {
    const norm = Math.hypot(...gallery.embeddingAt(i));
    assert.ok(Math.abs(norm - 1) < 1e-4, `entry ${i} norm ${norm}`);
  }
  assert.match(warning, /only mean something with the facenet embedder/);
  assert.match(warning, /refused by the 128-d embedder/);
  // Closed-set matching of each stored embedding finds its own name at distance 0.
  for (let i = 0; i < gallery.entryCount; i++) {
    assert.deepEqual(matchEmbedding(gallery, gallery.embeddingAt(i), { threshold: "none" }), {
      label: gallery.nameAt(i),
      distance: 0,
    });
  }
});

Deno.test({
  name: "a gallery imported from data.pt is refused by the 128-d face-api embedder",
  ignore: !DATA_PT,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/course.gallery`;
    const command = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-R",
        "-W",
        new URL("./import_torch.ts", import.meta.url).pathname,
        DATA_PT!,
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout } = await command.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out);
    assert.match(out, /imported 90 embeddings of 90 people \(512-d, model facenet-vggface2\)/);
    assert.ok(out.includes(FACENET_WARNING));
    await assert.rejects(() => readGallery(path, FACE_API_128), (error: unknown) => {
      assert.ok(error instanceof GalleryMismatchError);
      assert.match(error.message, /"facenet-vggface2" \(512-d embeddings\)/);
      assert.match(error.message, /"face-api\/face_recognition@1\.7\.15" \(128-d\)/);
      return true;
    });
    const back = await readGallery(path, { modelId: FACENET_MODEL_ID, dims: 512 });
    assert.equal(back.entryCount, 90);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importTorchGallery reads a synthetic data.pt of [1, D] rows, names in order", () => {
  const storages = [{ key: "0", values: [1, 0, 0] }, { key: "1", values: [0, 1, 0] }, {
    key: "2",
    values: [0, 0.5, 0.5],
  }];
  const pickle = coursePickle(
    storages.map((s) => ({ storage: s.values, key: s.key, size: [1, 3], stride: [3, 1] })),
    ["Ann", "Bob", "Ann"],
  );
  const { gallery, refused } = importTorchGallery(torchZip(pickle, storages));
  assert.deepEqual(refused, []);
  assert.equal(gallery.dims, 3);
  assert.deepEqual(gallery.names, ["Ann", "Bob"]);
  assert.deepEqual([...gallery.entries()].map((e) => [e.name, [...e.embedding]]), [
    ["Ann", [1, 0, 0]],
    ["Bob", [0, 1, 0]],
    ["Ann", [0, 0.5, 0.5]],
  ]);
  const back = decodeGallery(encodeGallery(gallery));
  assert.deepEqual(back.vectors, gallery.vectors);
});

Deno.test("importTorchGallery reports unusable names and refuses a wrong structure", () => {
  const storages = [{ key: "0", values: [1, 2, 3, 4] }];
  const rows = [
    { storage: storages[0].values, key: "0", size: [2], stride: [1] },
    { storage: storages[0].values, key: "0", offset: 2, size: [2], stride: [1] },
  ];
  const { gallery, refused } = importTorchGallery(
    torchZip(coursePickle(rows, ["Ok", "Bad:Name"]), storages),
  );
  assert.equal(gallery.entryCount, 1);
  assert.deepEqual(refused.map((r) => [r.index, r.name]), [[1, "Bad:Name"]]);
  const wrong: [Uint8Array, RegExp][] = [
    [torchZip(coursePickle(rows, ["One"]), storages), /2 embeddings but 1 names/],
    [
      torchZip(coursePickle([{ ...rows[0], size: [2, 1, 1], stride: [1, 1, 1] }], ["A"]), storages),
      /embedding 0 is a tensor of shape \[2, 1, 1\]/,
    ],
    [torchZip(coursePickle([], []), storages), /holds no embeddings/],
  ];
  for (const [bytes, message] of wrong) {
    assert.throws(() => importTorchGallery(bytes), (error: unknown) => {
      assert.ok(error instanceof TorchFileError);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("importTorchGallery reads one [N, D] tensor with the names listed first", () => {
  const values = [1, 2, 3, 4, 5, 6];
  const w = new PickleWriter(4);
  w.op(0x28).op(0x5d).put().op(0x28).str("Ann").str("Bob").op(0x65); // (["Ann", "Bob"],
  w.tensor({ storage: values, key: "s", size: [2, 3], stride: [3, 1] }).op(0x74); // tensor)
  const { gallery } = importTorchGallery(torchZip(w.stop(), [{ key: "s", values }]));
  assert.deepEqual([...gallery.entries()].map((e) => [e.name, [...e.embedding]]), [
    ["Ann", [1, 2, 3]],
    ["Bob", [4, 5, 6]],
  ]);
});
