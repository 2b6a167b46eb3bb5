import assert from "node:assert/strict";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { decode, Image } from "imagescript";
import { type EmbedFn, enrollFromCsv, enrollFromFolders, type EnrollResult } from "./enroll.ts";
import { createGallery } from "./gallery.ts";
import { matchEmbedding } from "./match.ts";
import { datasetFile } from "../../testing/datasets.ts";

/**
 * A real, model-free embedder: decodes the image (so non-images throw as a real embedder's
 * decoder would) and returns its mean R, G, B in [0, 1]. "No face" is an all-black image.
 */
const meanColourEmbed: EmbedFn = async (bytes) => {
  const image = await decode(bytes);
  if (!(image instanceof Image)) throw new TypeError("animated images are not supported");
  const sums = [0, 0, 0];
  for (let i = 0; i < image.bitmap.length; i += 4) {
    for (let c = 0; c < 3; c++) sums[c] += image.bitmap[i + c];
  }
  const pixels = image.width * image.height;
  const mean = sums.map((s) => s / pixels / 255);
  return mean.every((v) => v === 0) ? null : mean;
};

async function png(rgba: number, width = 3, height = 2): Promise<Uint8Array> {
  const image = new Image(width, height);
  image.fill(rgba);
  return await image.encode();
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gallery_enroll_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function put(dir: string, path: string, bytes: Uint8Array | string): Promise<void> {
  const full = join(dir, path);
  await Deno.mkdir(join(full, ".."), { recursive: true });
  if (typeof bytes === "string") await Deno.writeTextFile(full, bytes);
  else await Deno.writeFile(full, bytes);
}

function kinds(result: EnrollResult): Record<string, string> {
  return Object.fromEntries(result.failures.map((f) => [f.file, f.kind]));
}

Deno.test("enrollFromFolders enrolls each person folder and reports every other file", async () => {
  await withTempDir(async (dir) => {
    await put(dir, "Paul/a.jpg.png", await png(0xff0000ff));
    await put(dir, "Paul/b.PNG", await png(0xee1111ff));
    await put(dir, "Mary-Kate/1.png", await png(0x00ff00ff));
    await put(dir, "Mary-Kate/black.png", await png(0x000000ff));
    await put(dir, "Mary-Kate/broken.jpg", "not an image");
    await put(dir, "Mary-Kate/notes.txt", "hello");
    await put(dir, "Mary-Kate/nested/x.png", await png(0x0000ffff));
    await put(dir, "bad:name/x.png", await png(0x0000ffff));
    await put(dir, "Unknown/x.png", await png(0x0000ffff));
    await put(dir, ".hidden/x.png", await png(0x0000ffff));
    await put(dir, "loose.png", await png(0x0000ffff));
    await Deno.symlink(join(dir, "Paul", "b.PNG"), join(dir, "Paul", "link.png"));
    await Deno.symlink(join(dir, "Paul"), join(dir, "Linked"));

    const progress: [number, number, string][] = [];
    const result = await enrollFromFolders(dir, meanColourEmbed, (done, total, file) => {
      progress.push([done, total, file]);
    });

    assert.deepEqual(result.enrolled.map((e) => [e.name, e.file]), [
      ["Mary-Kate", "Mary-Kate/1.png"],
      ["Paul", "Paul/a.jpg.png"],
      ["Paul", "Paul/b.PNG"],
    ]);
    assert.deepEqual([...result.enrolled[0].embedding], [0, 1, 0]);
    assert.deepEqual(kinds(result), {
      ".hidden/": "bad_name",
      "Linked": "not_followed",
      "Mary-Kate/black.png": "no_face",
      "Mary-Kate/broken.jpg": "image_error",
      "Mary-Kate/nested/": "misplaced",
      "Mary-Kate/notes.txt": "not_image",
      "Paul/link.png": "not_followed",
      "Unknown/": "bad_name",
      "bad:name/": "bad_name",
      "loose.png": "misplaced",
    });
    assert.match(
      result.failures.find((f) => f.file === "Mary-Kate/broken.jpg")!.message,
      /Unsupported image type/,
    );
    assert.deepEqual(progress.map(([d, t]) => [d, t]), [[1, 5], [2, 5], [3, 5], [4, 5], [5, 5]]);
    assert.deepEqual(progress.map(([, , f]) => f), [
      "Mary-Kate/1.png",
      "Mary-Kate/black.png",
      "Mary-Kate/broken.jpg",
      "Paul/a.jpg.png",
      "Paul/b.PNG",
    ]);
  });
});

Deno.test("enrollFromFolders embeds identical bytes once per person and refuses them for another", async () => {
  await withTempDir(async (dir) => {
    const red = await png(0xff0000ff);
    await put(dir, "Ann/1.png", red);
    await put(dir, "Ann/2.png", red);
    await put(dir, "Bob/same.png", red);
    let calls = 0;
    const result = await enrollFromFolders(dir, (bytes, name) => {
      calls++;
      return meanColourEmbed(bytes, name);
    });
    assert.equal(calls, 1);
    assert.deepEqual(result.enrolled.map((e) => e.file), ["Ann/1.png"]);
    assert.deepEqual(result.duplicates, [{ file: "Ann/2.png", sameAs: "Ann/1.png" }]);
    assert.deepEqual(kinds(result), { "Bob/same.png": "conflict" });
    const noDedupe = await enrollFromFolders(dir, meanColourEmbed, undefined, { dedupe: false });
    assert.equal(noDedupe.enrolled.length, 3);
  });
});

Deno.test("enrollFromFolders refuses oversized images unread and aborts on inconsistent dims", async () => {
  await withTempDir(async (dir) => {
    const small = await png(0x00ff00ff, 1, 1);
    await put(dir, "Ann/big.png", new Uint8Array([...small, ...new Uint8Array(1000)]));
    await put(dir, "Ann/small.png", small);
    const result = await enrollFromFolders(dir, meanColourEmbed, undefined, {
      imageBytesMax: small.length,
    });
    assert.deepEqual(kinds(result), { "Ann/big.png": "too_large" });
    assert.equal(result.enrolled.length, 1);
    let n = 0;
    const growing: EmbedFn = () => Promise.resolve(new Array(++n).fill(0.5));
    await assert.rejects(
      () => enrollFromFolders(dir, growing),
      /returned 2 values for Ann\/small.png but 1 before/,
    );
    await assert.rejects(
      () => enrollFromFolders(dir, meanColourEmbed, undefined, { dims: 128 }),
      /returned 3 values .* but 128/,
    );
    await assert.rejects(
      () => enrollFromFolders(join(dir, "nope"), meanColourEmbed),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("enrollFromCsv finds each stem with any image extension and reports the rest", async () => {
  await withTempDir(async (dir) => {
    const images = join(dir, "images");
    await put(images, "test_00.jpg.png", await png(0xff0000ff)); // stem "test_00.jpg"
    await put(images, "test_01.png", await png(0x00ff00ff));
    await put(images, "test_02.PNG", await png(0x0000ffff));
    await put(images, "test_03.png", await png(0x0000ffff));
    await put(images, "test_03.jpeg", await png(0x0000ffff));
    await put(images, "test_05.png", "garbage");
    await put(images, "test_06.png", await png(0x0000ffff));
    await Deno.symlink(join(images, "test_01.png"), join(images, "test_07.png"));
    const csv = join(dir, "labels.csv");
    await put(
      dir,
      "labels.csv",
      "\ufeffImage,Results\r\n" + [
        "test_01,Emily",
        "test_02.PNG,Bob",
        "test_03,German",
        "test_04,Paul",
        "test_05,Paul",
        "../images/test_01,Eve",
        "test_06,Bad:Name",
        "test_07,Eve",
        "test_01,Emily",
        "test_00.jpg,Ann",
      ].join("\r\n") + "\r\n",
    );
    const progress: number[] = [];
    const result = await enrollFromCsv(csv, images, meanColourEmbed, (done) => progress.push(done));
    assert.deepEqual(result.enrolled.map((e) => [e.name, e.file]), [
      ["Emily", "test_01.png"],
      ["Bob", "test_02.PNG"],
      ["Ann", "test_00.jpg.png"],
    ]);
    assert.deepEqual(kinds(result), {
      "labels.csv:4": "ambiguous_image",
      "labels.csv:5": "missing_image",
      "test_05.png": "image_error",
      "labels.csv:7": "csv_row",
      "labels.csv:8": "csv_row",
      "labels.csv:9": "not_followed",
    });
    assert.deepEqual(result.duplicates, [{ file: "labels.csv:10", sameAs: "labels.csv:2" }]);
    assert.deepEqual(progress, [1, 2, 3, 4]);
  });
});

Deno.test("enrollFromCsv refuses a CSV that is not UTF-8 Image,Results", async () => {
  await withTempDir(async (dir) => {
    await put(
      dir,
      "latin1.csv",
      new Uint8Array([...new TextEncoder().encode("Image,Results\nt,"), 0xe9]),
    );
    await assert.rejects(
      () => enrollFromCsv(join(dir, "latin1.csv"), dir, meanColourEmbed),
      /not UTF-8/,
    );
    await put(dir, "wrong.csv", "name,label\n");
    await assert.rejects(
      () => enrollFromCsv(join(dir, "wrong.csv"), dir, meanColourEmbed),
      /expected the header/,
    );
  });
});

const IMAGES_100 = datasetFile("face_images_100.zip");
const LABELS_100 = datasetFile("labels_100.csv");

Deno.test({
  name:
    "enrollFromCsv on the course's 100 images embeds the 10 distinct ones and matches them back",
  ignore: !IMAGES_100 || !LABELS_100,
}, async () => {
  const zip = await Deno.readFile(IMAGES_100!);
  await withTempDir(async (dir) => {
    for (const [name, bytes] of Object.entries(unzipSync(zip))) {
      if (name.endsWith(".jpg") && !name.startsWith("__MACOSX")) {
        await put(dir, name.split("/").pop()!, bytes);
      }
    }
    let calls = 0;
    const result = await enrollFromCsv(LABELS_100!, dir, (bytes, name) => {
      calls++;
      return meanColourEmbed(bytes, name);
    });
    assert.deepEqual(result.failures, []);
    assert.equal(result.enrolled.length, 10);
    assert.equal(result.duplicates.length, 90);
    assert.equal(calls, 10);
    const gallery = createGallery({ modelId: "mean-colour", dims: 3 }, result.enrolled);
    const labels = new Map(
      (await Deno.readTextFile(LABELS_100!)).trim().split("\n").slice(1).map((l) =>
        l.split(",") as [string, string]
      ),
    );
    for (const e of result.enrolled) {
      const { label } = matchEmbedding(gallery, e.embedding, { threshold: "none" });
      assert.equal(label, labels.get(e.file.replace(/\.jpg$/, "")));
    }
  });
});
