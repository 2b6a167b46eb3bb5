/**
 * The model commands as a user runs them: `enroll`, `recognize` and `embed` in subprocesses,
 * with real models, real images and the exit codes and output formats of DESIGN.md.
 */
import assert from "node:assert/strict";
import { encodePng } from "../testing/image_fixtures.ts";
import { ensureModels } from "../testing/models.ts";
import {
  COURSE_DATA_DIR,
  HAS_COURSE_DATA,
  readCourseLabels,
  unzipCourseImages,
} from "../testing/datasets.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function cli(command: "enroll" | "recognize" | "embed", args: string[]) {
  await ensureModels();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      `${ROOT}model/cli/${command}.ts`,
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function blankPng(): Uint8Array {
  return encodePng({ width: 120, height: 90, colorType: 2, bitDepth: 8, sample: () => 128 });
}

Deno.test({
  name: "enroll --csv then recognize labels all 100 course images as the course expects",
  ignore: !HAS_COURSE_DATA,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/images`);
      await unzipCourseImages("face_images_100.zip", `${dir}/images`);
      const csv = new URL("labels_100.csv", COURSE_DATA_DIR).pathname;
      const enrolled = await cli("enroll", [
        "--gallery",
        `${dir}/g.gallery`,
        "--csv",
        csv,
        "--images",
        `${dir}/images`,
      ]);
      assert.equal(enrolled.code, 0, enrolled.stderr);
      assert.match(enrolled.stderr, /10 images of 8 people enrolled, 90 duplicate images skipped/);

      const result = await cli("recognize", ["--gallery", `${dir}/g.gallery`, `${dir}/images`]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trim().split("\n");
      const expected = await readCourseLabels("labels_100.csv");
      assert.equal(lines.length, expected.size);
      for (const line of lines) {
        const [stem, label] = line.split(":");
        assert.equal(label, expected.get(stem), line);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("recognize answers NoFace for a blank image and reports a corrupt one without stopping", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/blank.png`, blankPng());
    await Deno.writeTextFile(`${dir}/notes.jpg`, "this is not a photo\n");
    const result = await cli("recognize", [`${dir}/notes.jpg`, `${dir}/blank.png`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "blank:NoFace\n");
    assert.match(result.stderr, /notes\.jpg: .*text/i);
    assert.match(result.stderr, /1 of 2 images failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recognize --json lists every face with box, score, label and distance", async () => {
  const sample = `${ROOT}node_modules/@vladmandic/face-api/demo/sample1.jpg`;
  const result = await cli("recognize", ["--json", sample]);
  assert.equal(result.code, 0, result.stderr);
  const answer = JSON.parse(result.stdout);
  assert.equal(answer.file, sample);
  assert.ok(answer.faces.length >= 2, `found ${answer.faces.length} faces`);
  for (const face of answer.faces) {
    assert.deepEqual(Object.keys(face).sort(), ["box", "distance", "label", "score"]);
    assert.equal(face.label, "Unknown");
  }
});

Deno.test("embed prints one JSON object per image with 128-d embeddings, largest face first", async () => {
  const sample = `${ROOT}node_modules/@vladmandic/face-api/demo/sample2.jpg`;
  const result = await cli("embed", [sample]);
  assert.equal(result.code, 0, result.stderr);
  const { faces } = JSON.parse(result.stdout);
  assert.ok(faces.length >= 1);
  for (const face of faces) assert.equal(face.embedding.length, 128);
  const areas = faces.map((f: { box: { width: number; height: number } }) =>
    f.box.width * f.box.height
  );
  assert.deepEqual(areas, [...areas].sort((a, b) => b - a));
});

Deno.test({
  name: "a gallery imported from the course's data.pt is refused by our 128-d embedder",
  ignore: !HAS_COURSE_DATA,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const pt = new URL("data.pt", COURSE_DATA_DIR).pathname;
      const imported = await cli("enroll", [
        "--gallery",
        `${dir}/facenet.gallery`,
        "--import-pt",
        pt,
      ]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(
        imported.stderr,
        /WARNING: data\.pt's names only mean something with the facenet/,
      );
      await Deno.writeFile(`${dir}/blank.png`, blankPng());
      const result = await cli("recognize", [
        "--gallery",
        `${dir}/facenet.gallery`,
        `${dir}/blank.png`,
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /facenet-vggface2/);
      assert.match(result.stderr, /512/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("commands refuse bad flags with one line naming the flag and exit code 2", async () => {
  const bad = await cli("recognize", ["--backend", "gpu", "x.jpg"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^recognize: --backend must be one of web, native, got "gpu"\n$/);
  const none = await cli("enroll", ["--csv", "labels.csv"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^enroll: --csv and --images go together\n$/);
});
