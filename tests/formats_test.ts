/**
 * Every photo format through the recognizer: the course's ten distinct faces, enrolled from
 * their JPEGs under the course's labels, are each re-encoded as PNG, WebP, GIF, BMP, TIFF, HEIC
 * and AVIF, and `Recognizer.recognize(bytes)` must give each one its CSV label.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../model/image/decode.ts";
import { hasHeifEnc, PHOTO_ENCODERS } from "../testing/photo_encoders.ts";
import { Recognizer } from "../model/recognizer.ts";
import { ensureModels } from "../testing/models.ts";
import {
  COURSE_DATA_DIR,
  HAS_COURSE_DATA,
  readCourseLabels,
  unzipCourseImages,
} from "../testing/datasets.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DISTINCT_IMAGES = 10;

Deno.test({
  name: "Recognizer labels each course face with its CSV label in every photo format",
  ignore: !HAS_COURSE_DATA || !hasHeifEnc(),
  async fn() {
    await ensureModels();
    const dir = await Deno.makeTempDir();
    let recognizer: Recognizer | undefined;
    try {
      await Deno.mkdir(`${dir}/images`);
      const all = await unzipCourseImages("face_images_100.zip", `${dir}/images`);
      const expected = await readCourseLabels("labels_100.csv");
      const enrolled = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-ffi",
          `${ROOT}model/cli/enroll.ts`,
          "--gallery",
          `${dir}/g.gallery`,
          "--csv",
          new URL("labels_100.csv", COURSE_DATA_DIR).pathname,
          "--images",
          `${dir}/images`,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(enrolled.code, 0, new TextDecoder().decode(enrolled.stderr));
      recognizer = await Recognizer.load({ galleryPath: `${dir}/g.gallery`, threshold: "none" });

      const wrong: string[] = [];
      let checked = 0;
      for (const path of all.slice(0, DISTINCT_IMAGES)) {
        const stem = path.slice(path.lastIndexOf("/") + 1).replace(/\.jpg$/, "");
        const jpeg = await Deno.readFile(path);
        const pixels = await decodeImage(jpeg);
        const want = expected.get(stem);
        assert.ok(want, `${stem} has a CSV label`);
        const asJpeg = await recognizer.recognize(jpeg);
        if (asJpeg.label !== want) wrong.push(`${stem}.jpg: ${asJpeg.label}, not ${want}`);
        for (const [format, encode] of PHOTO_ENCODERS) {
          const result = await recognizer.recognize(await encode(pixels));
          checked++;
          if (result.label !== want) wrong.push(`${stem}.${format}: ${result.label}, not ${want}`);
        }
      }
      assert.equal(checked, DISTINCT_IMAGES * PHOTO_ENCODERS.length);
      assert.deepEqual(wrong, []);
    } finally {
      await recognizer?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
