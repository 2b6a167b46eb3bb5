import assert from "node:assert/strict";
import * as fc from "fast-check";
import {
  addToGallery,
  createGallery,
  decodeGallery,
  decodeGalleryHeader,
  encodeGallery,
  GALLERY_ENTRIES_MAX,
  type GalleryEntry,
  personNameProblem,
  readGallery,
  writeGallery,
} from "./gallery.ts";
import { GalleryFileError, GalleryMismatchError } from "./errors.ts";

const FACE_API = { modelId: "face-api/face_recognition@1.7.15", dims: 4 };

function sample(): GalleryEntry[] {
  return [
    { name: "Paul", embedding: [0.1, 0.2, 0.3, 0.4] },
    { name: "Mary-Kate", embedding: [1, -1, 0.5, 1e-8] },
    { name: "Paul", embedding: [0.11, 0.19, 0.31, 0.39] },
    { name: "Zoë O'Brien", embedding: [-3.5, 2, 0, 7] },
  ];
}

const nameArb = fc.stringMatching(/^[A-Za-z][A-Za-z .'_-]{0,10}[A-Za-z]$/).filter((n) =>
  personNameProblem(n) === undefined
);
const entriesArb = (dims: number) =>
  fc.array(
    fc.record({
      name: nameArb,
      embedding: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), {
        minLength: dims,
        maxLength: dims,
      }),
    }),
    { maxLength: 20 },
  );

Deno.test("encodeGallery and decodeGallery round-trip every name and float32 bit for bit", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }).chain((d) => fc.tuple(fc.constant(d), entriesArb(d))),
      ([dims, entries]) => {
        const gallery = createGallery({ modelId: "m@1", dims, source: "prop" }, entries);
        const back = decodeGallery(encodeGallery(gallery));
        assert.equal(back.modelId, "m@1");
        assert.equal(back.dims, dims);
        assert.equal(back.source, "prop");
        assert.deepEqual([...back.names], [...gallery.names]);
        assert.deepEqual(back.personOfEntry, gallery.personOfEntry);
        assert.deepEqual(
          new Uint8Array(back.vectors.buffer),
          new Uint8Array(gallery.vectors.buffer),
        );
        assert.deepEqual(
          [...back.entries()].map((e) => e.name),
          entries.map((e) => e.name),
        );
      },
    ),
  );
});

Deno.test("createGallery keeps several embeddings per person, in order, unaveraged", () => {
  const g = createGallery(FACE_API, sample());
  assert.equal(g.entryCount, 4);
  assert.equal(g.personCount, 3);
  assert.deepEqual(g.names, ["Paul", "Mary-Kate", "Zoë O'Brien"]);
  assert.deepEqual(g.embeddingsOf("Paul").map((e) => [...e]), [
    [...Float32Array.from([0.1, 0.2, 0.3, 0.4])],
    [...Float32Array.from([0.11, 0.19, 0.31, 0.39])],
  ]);
  assert.deepEqual(g.embeddingsOf("Nobody"), []);
});

Deno.test("createGallery refuses hostile names, wrong lengths and non-finite values", () => {
  for (
    const name of [
      "a:b",
      "Paul\nx",
      "",
      "../etc",
      "tab\there",
      "Unknown",
      "noface",
      " Paul",
      "x".repeat(65),
      "a/b",
      "a\u0007",
    ]
  ) {
    assert.throws(
      () => createGallery(FACE_API, [{ name, embedding: [0, 0, 0, 0] }]),
      RangeError,
      `name ${JSON.stringify(name)} should be refused`,
    );
  }
  assert.throws(
    () => createGallery(FACE_API, [{ name: "Paul", embedding: [0, 0, 0] }]),
    /has 3 values, the gallery's dims are 4/,
  );
  assert.throws(
    () => createGallery(FACE_API, [{ name: "Paul", embedding: [0, NaN, 0, 0] }]),
    /value 1 is NaN/,
  );
  assert.throws(
    () => createGallery(FACE_API, [{ name: "Paul", embedding: [0, 0, 1e39, 0] }]),
    /finite float32/,
  );
  assert.throws(() => createGallery({ modelId: "has space", dims: 4 }), /printable ASCII/);
  assert.throws(() => createGallery({ modelId: "m", dims: 0 }), /dims 0/);
  assert.throws(() => createGallery({ modelId: "m", dims: 5000 }), /GALLERY_DIMS_MAX/);
});

Deno.test("createGallery enforces GALLERY_ENTRIES_MAX", () => {
  function* many() {
    for (let i = 0; i <= GALLERY_ENTRIES_MAX; i++) yield { name: "P", embedding: [i] };
  }
  assert.throws(() => createGallery({ modelId: "m", dims: 1 }, many()), /more than 100000 entries/);
});

Deno.test("addToGallery appends to a copy and leaves the original unchanged", () => {
  const g = createGallery(FACE_API, sample().slice(0, 2));
  const more = addToGallery(g, [{ name: "Paul", embedding: [9, 9, 9, 9] }, {
    name: "Ann",
    embedding: [1, 2, 3, 4],
  }]);
  assert.equal(g.entryCount, 2);
  assert.equal(more.entryCount, 4);
  assert.deepEqual(more.names, ["Paul", "Mary-Kate", "Ann"]);
  assert.equal(more.embeddingsOf("Paul").length, 2);
  assert.equal(more.modelId, g.modelId);
});

Deno.test("readGallery refuses a gallery of another model or size, naming both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/course.gallery`;
    await writeGallery(path, createGallery({ modelId: "facenet-vggface2", dims: 4 }, sample()));
    await assert.rejects(
      () => readGallery(path, { modelId: "face-api/face_recognition@1.7.15", dims: 4 }),
      (error: unknown) => {
        assert.ok(error instanceof GalleryMismatchError);
        assert.match(error.message, /"facenet-vggface2" \(4-d/);
        assert.match(error.message, /"face-api\/face_recognition@1\.7\.15" \(4-d\)/);
        return true;
      },
    );
    await assert.rejects(
      () => readGallery(path, { modelId: "facenet-vggface2", dims: 128 }),
      /made for model "facenet-vggface2" \(4-d embeddings\).*"facenet-vggface2" \(128-d\)/,
    );
    const ok = await readGallery(path, { modelId: "facenet-vggface2", dims: 4 });
    assert.equal(ok.entryCount, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeGallery replaces atomically and leaves no temporary file behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/g.gallery`;
    await writeGallery(path, createGallery(FACE_API, sample()));
    await writeGallery(path, createGallery(FACE_API, sample().slice(0, 1)));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["g.gallery"]);
    assert.equal((await readGallery(path, FACE_API)).entryCount, 1);
    await assert.rejects(
      () => writeGallery(`${dir}/missing/g.gallery`, createGallery(FACE_API)),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function corrupt(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = value;
  return copy;
}

Deno.test("decodeGallery refuses corrupt files with a message saying what is wrong", () => {
  const good = encodeGallery(createGallery(FACE_API, sample()));
  const bodyOffset = decodeGalleryHeader(good).bodyOffset;
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(), /too short/],
    ["text file", new TextEncoder().encode("Image,Results\ntest_00,Paul\n"), /magic bytes/],
    ["truncated header", good.subarray(0, 40), /truncated/],
    ["truncated body", good.subarray(0, good.length - 3), /body has .* bytes, expected/],
    ["appended", new Uint8Array([...good, 0, 0, 0, 0]), /appended/],
    ["flipped float bit", corrupt(good, good.length - 2, good[good.length - 2] ^ 0x10), /checksum/],
    ["header not JSON", corrupt(good, 12, 0x78), /not UTF-8 JSON/],
    ["header not UTF-8", corrupt(good, 14, 0xff), /not UTF-8 JSON/],
    ["header without format", corrupt(good, 14, 0x7b), /header format is undefined/],
    ["huge header length", corrupt(good, 11, 0x7f), /GALLERY_HEADER_BYTES_MAX/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeGallery(bytes, { path: "x.gallery" }), (error: unknown) => {
      assert.ok(error instanceof GalleryFileError, what);
      assert.match(error.message, /^gallery x\.gallery is not a usable gallery file/, what);
      assert.match(error.message, message, what);
      assert.match(error.message, /deno task enroll/, what);
      return true;
    });
  }
  assert.ok(bodyOffset % 4 === 0, "body starts 4-byte aligned");
});

Deno.test("decodeGallery refuses a header that lies about names, counts or version", () => {
  const gallery = createGallery(FACE_API, sample());
  const rewrite = (edit: (h: Record<string, unknown>) => void) => {
    const bytes = encodeGallery(gallery);
    const header = decodeGalleryHeader(bytes);
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(12, header.bodyOffset)));
    edit(json);
    const text = new TextEncoder().encode(JSON.stringify(json));
    const out = new Uint8Array(12 + text.length + bytes.length - header.bodyOffset);
    out.set(bytes.subarray(0, 12));
    new DataView(out.buffer).setUint32(8, text.length, true);
    out.set(text, 12);
    out.set(bytes.subarray(header.bodyOffset), 12 + text.length);
    return out;
  };
  const cases: [string, (h: Record<string, unknown>) => void, RegExp][] = [
    ["version", (h) => (h.version = 2), /format version 2 is not 1/],
    ["colon name", (h) => ((h.people as string[])[0] = "Pa:ul"), /may only contain/],
    ["duplicate name", (h) => ((h.people as string[])[1] = "Paul"), /listed twice/],
    ["fewer people", (h) => (h.people as string[]).pop(), /names person 2 of 2/],
    ["extra person", (h) => (h.people as string[]).push("Extra"), /"Extra" has no embedding/],
    ["entries", (h) => (h.entries = 5), /body has/],
    ["negative entries", (h) => (h.entries = -1), /not a count/],
    ["dims", (h) => (h.dims = 2), /body has/],
    ["model id", (h) => (h.modelId = "a\nb"), /printable ASCII/],
  ];
  for (const [what, edit, message] of cases) {
    assert.throws(() => decodeGallery(rewrite(edit)), message, what);
  }
});

Deno.test("decodeGallery refuses non-finite floats even with a matching checksum", () => {
  const gallery = createGallery({ modelId: "m", dims: 1 }, [{ name: "A", embedding: [1] }]);
  gallery.vectors[0] = NaN; // bypasses createGallery's check, as a foreign writer could
  assert.throws(() => decodeGallery(encodeGallery(gallery)), /non-finite value/);
});

Deno.test("readGallery says when the file is missing", async () => {
  await assert.rejects(() => readGallery("/nonexistent/x.gallery", FACE_API), /does not exist/);
});
