/**
 * The acceptance over HTTP: the course's photos, enrolled from their JPEGs, posted to the
 * running service as JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC and AVIF each answer
 * `<stem>:<the CSV label>` (the worker sniffs the bytes; the name's extension is not trusted).
 */
import assert from "node:assert/strict";
import { hasHeifEnc, PHOTO_ENCODERS } from "../testing/photo_encoders.ts";
import {
  courseData,
  courseUploadsInFormats,
  E2E_READY,
  E2E_SKIP_NOTE,
  startTestStack,
} from "../testing/e2e.ts";

const DISTINCT_IMAGES = 10;

Deno.test({
  name: "the service answers each course photo with its CSV label in all eight photo formats" +
    (hasHeifEnc() ? E2E_SKIP_NOTE : " (skipped: heif-enc is missing, see .ci/run)"),
  ignore: !E2E_READY || !hasHeifEnc(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const uploads = await courseUploadsInFormats(course, DISTINCT_IMAGES, PHOTO_ENCODERS);
    // The CSV labels are a closed-set nearest-neighbour answer (the dataset's README), so the
    // service runs as the course's did. Under the open-set default (0.6) a lossy re-encode of a
    // 64x64 crop can drift past the threshold: measured, WebP q90 of test_00 is at 0.62.
    const test = await startTestStack([
      "--gallery",
      course.gallery,
      "--max",
      "2",
      "--threshold",
      "none",
    ]);
    try {
      const answers = await Promise.all(uploads.map(async ({ name, bytes, want }) => {
        const form = new FormData();
        form.append("inputFile", new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
        const response = await fetch(`${test.stack.url}/`, { method: "POST", body: form });
        return { name, status: response.status, body: await response.text(), want };
      }));
      const wrong = answers.filter((a) => a.status !== 200 || a.body !== a.want);
      assert.equal(answers.length, DISTINCT_IMAGES * 8);
      assert.deepEqual(wrong, []);
    } finally {
      await test.dispose();
    }
  },
});
