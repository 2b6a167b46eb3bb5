/**
 * The default detector (`auto`: BlazeFace, the tiny cascade for images up to 160 px) against the
 * SSD path (face-api's, `--detector ssd`), with the real models: it finds the faces SSD finds and
 * those SSD misses (LFW 100/100, tight crops of any size), its descriptors agree with SSD's, and
 * the verification pairs of faces-public keep their answers. Full figures:
 * `bench/descriptor_agreement.ts`, `bench/detector_recall.ts`.
 * @module
 */
import assert from "node:assert/strict";
import { median } from "../internal/mod.ts";
import { iouBoxes } from "../model/detect/nms.ts";
import { decodeImage } from "../model/image/decode.ts";
import { descriptorDistance } from "../model/embed.ts";
import { Recognizer } from "../model/recognizer.ts";
import {
  courseZipEntries,
  FACES_PUBLIC_DIR,
  HAS_COURSE_DATA,
  HAS_FACES_PUBLIC,
} from "../testing/datasets.ts";
import { resizeSquare } from "../testing/resize_square.ts";
import { clipBox, cropImage, iou } from "../model/face_geometry.ts";
import { ensureModels } from "../testing/models.ts";

const OPENFACE = new URL("openface/", FACES_PUBLIC_DIR);
const SAMPLES = new URL("../node_modules/@vladmandic/face-api/demo/", import.meta.url);

async function withRecognizers(
  fn: (ssd: Recognizer, auto: Recognizer) => Promise<void>,
): Promise<void> {
  await ensureModels();
  const ssd = await Recognizer.load({ detector: "ssd" });
  const auto = await Recognizer.load();
  try {
    await fn(ssd, auto);
  } finally {
    await ssd.close();
    await auto.close();
  }
}

/** face-api's sample photos (always here), and faces-public's photos when it is. */
const PHOTOS: readonly URL[] = [
  ...[1, 2, 3, 4, 5, 6].map((i) => new URL(`sample${i}.jpg`, SAMPLES)),
  ...(HAS_FACES_PUBLIC
    ? [
      "facenet-pytorch/multiface.jpg",
      ...["angelina_jolie", "kate_siegel", "paul_rudd", "shea_whigham"].map((n) =>
        `facenet-pytorch/test_images/${n}.jpg`
      ),
      ...["adams", "carell", "clapton-1", "clapton-2", "lennon-1", "lennon-2", "longoria-cooper"]
        .map((n) => `openface/${n}.jpg`),
    ].map((name) => new URL(name, FACES_PUBLIC_DIR))
    : []),
];

Deno.test("the default detector finds every face SSD finds on face-api's samples and faces-public, with descriptors close to SSD's", async () => {
  await withRecognizers(async (ssd, auto) => {
    const distances: number[] = [];
    for (const url of PHOTOS) {
      const name = url.pathname.split("/").slice(-2).join("/");
      const image = await decodeImage(await Deno.readFile(url));
      const bySsd = (await ssd.analyzeImage(image)).faces;
      const byBlaze = (await auto.analyzeImage(image)).faces;
      for (const s of bySsd) {
        const match = byBlaze.find((b) => iouBoxes(s.alignedBox, b.alignedBox) >= 0.5);
        assert.ok(match, `${name}: the SSD face at ${JSON.stringify(s.box)} is not found`);
        distances.push(descriptorDistance(s.embedding, match.embedding));
      }
    }
    assert.ok(distances.length >= 10, `only ${distances.length} faces compared`);
    // Measured 0.094 median over 138 faces (bench/descriptor_agreement.ts); two photos of one
    // person are 0.4-0.5 apart, so agreement means well under that.
    assert.ok(median(distances) < 0.2, `median distance ${median(distances)}`);
  });
});

Deno.test({
  name:
    "the default detector keeps faces-public's verification answers: one person under 0.6, two over",
  ignore: !HAS_FACES_PUBLIC,
  async fn() {
    await withRecognizers(async (_ssd, auto) => {
      const descriptor = async (name: string) => {
        const image = await decodeImage(await Deno.readFile(new URL(name, OPENFACE)));
        const [face] = (await auto.analyzeImage(image)).faces;
        assert.ok(face, `${name}: no face`);
        return face.embedding;
      };
      // One at a time: onnxruntime-web runs one call of a session at a time.
      const found: Float32Array[] = [];
      for (const n of ["lennon-1", "lennon-2", "clapton-1", "clapton-2", "adams", "carell"]) {
        found.push(await descriptor(`${n}.jpg`));
      }
      const [l1, l2, c1, c2, adams, carell] = found;
      assert.ok(descriptorDistance(l1, l2) < 0.6, `Lennon pair ${descriptorDistance(l1, l2)}`);
      assert.ok(descriptorDistance(c1, c2) < 0.6, `Clapton pair ${descriptorDistance(c1, c2)}`);
      assert.ok(
        descriptorDistance(l1, c1) > 0.6,
        `Lennon vs Clapton ${descriptorDistance(l1, c1)}`,
      );
      assert.ok(
        descriptorDistance(adams, carell) > 0.6,
        `Adams vs Carell ${descriptorDistance(adams, carell)}`,
      );
    });
  },
});

Deno.test("the default detector finds a tight face crop at every side from 32 to 6000 px", async () => {
  await withRecognizers(async (ssd, auto) => {
    // The face SSD finds in face-api's sample1.jpg, cropped tight to SSD's box.
    const photo = await decodeImage(await Deno.readFile(new URL("sample1.jpg", SAMPLES)));
    const [face] = await ssd.detect(photo);
    const crop = cropImage(photo, clipBox(face.box, photo.width, photo.height));
    const missed: number[] = [], ssdMissed: number[] = [];
    for (const side of [32, 48, 64, 100, 160, 200, 256, 512, 1024, 2048, 6000]) {
      const tight = resizeSquare(crop, side);
      const whole = { x: 0, y: 0, width: side, height: side };
      if (!(await auto.detect(tight)).some((f) => iou(f.box, whole) >= 0.3)) missed.push(side);
      if ((await ssd.detect(tight)).length === 0) ssdMissed.push(side);
    }
    assert.deepEqual(missed, [], `auto missed the crop at ${missed} (SSD missed ${ssdMissed})`);
  });
});

Deno.test({
  name:
    "the default detector finds a face in each of the 100 LFW photos (SSD: 95) and the 10 course images, and multiface's 6",
  ignore: !HAS_COURSE_DATA || !HAS_FACES_PUBLIC,
  async fn() {
    await withRecognizers(async (_ssd, auto) => {
      const found = async (zip: string, keep: (name: string) => boolean) => {
        let n = 0;
        for (const [name, bytes] of courseZipEntries(zip)) {
          if (!name.endsWith(".jpg") || !keep(name)) continue;
          if ((await auto.detect(await decodeImage(bytes))).length > 0) n++;
        }
        return n;
      };
      const lfw = await found("lfw_gallery_100.zip", () => true);
      const course = await found("face_images_100.zip", (n) => /test_0\d\.jpg$/.test(n));
      const multiface = (await auto.detect(
        await decodeImage(
          await Deno.readFile(new URL("facenet-pytorch/multiface.jpg", FACES_PUBLIC_DIR)),
        ),
      )).length;
      assert.deepEqual({ lfw, course, multiface }, { lfw: 100, course: 10, multiface: 6 });
    });
  },
});
