import assert from "node:assert/strict";
import { decodeImage } from "../image/decode.ts";
import { clipBox, cropImage, iou } from "../face_geometry.ts";
import type { RgbImage } from "../image/rgb_image.ts";
import type { BlazeFaceDetection } from "./blazeface.ts";
import {
  type BlazeFaceRun,
  detectFacesBlaze,
  mergeBlazeWindows,
  onnxBlazeFaceRun,
  planBlazeWindows,
  sampleBlazeWindow,
} from "./blazeface_multiscale.ts";
import { ensureModels } from "../../testing/models.ts";
import { loadModel } from "../model_store.ts";
import { createSession } from "../runtime/session.ts";
import { courseZipEntries, FACES_PUBLIC_DIR, HAS_COURSE_DATA } from "../../testing/datasets.ts";
import { resizeSquare } from "../../testing/resize_square.ts";

const near = (a: number, b: number, eps = 1e-4) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} is not within ${eps} of ${b}`);

Deno.test("planBlazeWindows looks at a 250×250 photo twice: whole, then zoomed out to half", () => {
  assert.deepEqual(planBlazeWindows(250, 250), [
    { x: 0, y: 0, side: 250, kind: "whole" },
    { x: -125, y: -125, side: 500, kind: "zoomOut" },
  ]);
  // A wide photo is centred in its square.
  assert.deepEqual(planBlazeWindows(300, 200)[0], { x: 0, y: -50, side: 300, kind: "whole" });
  assert.equal(planBlazeWindows(250, 250, { zoomOutFraction: 1 }).length, 1);
  assert.throws(() => planBlazeWindows(0, 10), RangeError);
  assert.throws(() => planBlazeWindows(10, 10, { zoomOutFraction: 0 }), RangeError);
});

Deno.test("planBlazeWindows tiles a large photo, when asked, with half-side tiles overlapping by half", () => {
  assert.equal(planBlazeWindows(2048, 1365).length, 2, "no tiles by default");
  const windows = planBlazeWindows(2048, 1365, { tileImageSideMin: 512 });
  const tiles = windows.filter((w) => w.kind === "tile");
  assert.equal(tiles.length, 6);
  for (const t of tiles) assert.equal(t.side, 1024);
  assert.deepEqual([...new Set(tiles.map((t) => t.x))], [0, 512, 1024]);
  assert.deepEqual([...new Set(tiles.map((t) => t.y))], [0, 341]);
  assert.equal(planBlazeWindows(500, 500, { tileImageSideMin: 512 }).length, 2);
});

Deno.test("sampleBlazeWindow maps pixels to [-1, 1], black past the photo, in either layout", () => {
  // 2×1 photo: white, black. Whole window (side 2, y from -0.5) sampled at 2×2.
  const image: RgbImage = { width: 2, height: 1, data: Uint8Array.from([255, 255, 255, 0, 0, 0]) };
  const window = planBlazeWindows(2, 1)[0];
  const nhwc = sampleBlazeWindow(image, window, 2, "nhwc");
  // Row 0 samples y = -0.5 + 0.5 - 0.5 = -0.5: half the photo row, half black.
  near(nhwc[0], (0.5 * 255) / 127.5 - 1); // (0, 0): 0.0
  near(nhwc[3], -1); // (0, 1): black column, black padding
  const nchw = sampleBlazeWindow(image, window, 2, "nchw");
  for (let p = 0; p < 4; p++) {
    for (let c = 0; c < 3; c++) near(nchw[c * 4 + p], nhwc[p * 3 + c]);
  }
  // Entirely outside: black.
  const outside = sampleBlazeWindow(image, { x: 10, y: 10, side: 4, kind: "whole" }, 2);
  assert.ok(outside.every((v) => v === -1));
});

function det(x: number, y: number, side: number, score: number): BlazeFaceDetection {
  return { box: { x, y, width: side, height: side }, score, keypoints: [] };
}

Deno.test("mergeBlazeWindows drops a tile's find inside a larger face and keeps one elsewhere", () => {
  const whole = { x: 0, y: 0, side: 1000, kind: "whole" as const };
  const tile = { x: 0, y: 0, side: 500, kind: "tile" as const };
  const merged = mergeBlazeWindows([
    { window: whole, detections: [det(100, 100, 400, 0.9)] },
    { window: tile, detections: [det(250, 300, 150, 0.95), det(20, 20, 40, 0.8)] },
  ], 0.3);
  assert.deepEqual(merged.map((d) => d.box.x), [100, 20]);
});

Deno.test("detectFacesBlaze maps each window's detections back to image pixels", async () => {
  // A network that always sees one 64-px face centred in its 256 input (anchor 0 of 16×16×2 is
  // at (8, 8); offsets move it to (128, 128)).
  const run: BlazeFaceRun = (_input, size) => {
    assert.equal(size, 256);
    const data = new Float32Array(896 * 17).fill(-20);
    data.set([5, 120, 120, 64, 64], 0);
    return Promise.resolve([{ data, dims: [1, 896, 17] }]);
  };
  const photo: RgbImage = { width: 500, height: 400, data: new Uint8Array(500 * 400 * 3) };
  const faces = await detectFacesBlaze(photo, run, { zoomOut: "always" });
  // whole: side 500 from y = -50 → face 125 px at (187.5, 137.5); zoomOut: side 1000 → 250 px,
  // half the photo (kept), IoU with the first 0.25 < 0.3 → two faces.
  const boxes = faces.map((f) => f.box).sort((a, b) => a.width - b.width);
  assert.equal(boxes.length, 2);
  near(boxes[0].x, 187.5);
  near(boxes[0].y, 137.5);
  near(boxes[0].width, 125);
  near(boxes[1].x, 125);
  near(boxes[1].y, 75);
  near(boxes[1].width, 250);
});

Deno.test("detectFacesBlaze zooms out only when the whole view finds nothing or a large face", async () => {
  // A network that sees one face of `side` input pixels centred in its view, and counts passes.
  const network = (side: number) => {
    let passes = 0;
    const run: BlazeFaceRun = () => {
      passes++;
      const data = new Float32Array(896 * 17).fill(-20);
      data.set([5, 120, 120, side, side], 0);
      return Promise.resolve([{ data, dims: [1, 896, 17] }]);
    };
    return { run, passes: () => passes };
  };
  const photo: RgbImage = { width: 300, height: 300, data: new Uint8Array(300 * 300 * 3) };
  const small = network(100); // 0.39 of the photo: one pass
  assert.equal((await detectFacesBlaze(photo, small.run)).length, 1);
  assert.equal(small.passes(), 1);
  const large = network(150); // 0.59 of the photo: the zoomed-out view runs too
  await detectFacesBlaze(photo, large.run);
  assert.equal(large.passes(), 2);
  const none: BlazeFaceRun = () =>
    Promise.resolve([{ data: new Float32Array(896 * 17).fill(-20), dims: [1, 896, 17] }]);
  let calls = 0;
  await detectFacesBlaze(photo, (i, s) => (calls++, none(i, s)));
  assert.equal(calls, 3, "whole, zoomed out, then the fallback");
});

// Real photos, with the built BlazeFace ONNX model (back 256) on onnxruntime-web, as the
// recognizer runs it.
await ensureModels();
const session = await createSession((await loadModel("blazeface")).onnx);
const model = { run: onnxBlazeFaceRun(session) };
const NCHW = { layout: "nchw" } as const;

async function facesPublic(name: string): Promise<RgbImage> {
  return decodeImage(await Deno.readFile(new URL(name, FACES_PUBLIC_DIR)));
}

Deno.test("detectFacesBlaze finds the 6 faces of multiface.jpg and 2 in longoria-cooper.jpg", async () => {
  const multi = await detectFacesBlaze(
    await facesPublic("facenet-pytorch/multiface.jpg"),
    model.run,
    NCHW,
  );
  assert.equal(multi.length, 6);
  for (const f of multi) assert.ok(f.box.width > 50 && f.box.width < 130, `${f.box.width}`);
  const two = await detectFacesBlaze(
    await facesPublic("openface/longoria-cooper.jpg"),
    model.run,
    NCHW,
  );
  assert.equal(two.length, 2);
});

function courseJpegs(zip: string, keep: (name: string) => boolean): Uint8Array[] {
  return courseZipEntries(zip).filter(([n]) => n.endsWith(".jpg") && keep(n)).map(([, b]) => b);
}

Deno.test({
  name: "detectFacesBlaze finds a face in each of the 100 LFW photos and the 10 course images",
  ignore: !HAS_COURSE_DATA,
  fn: async () => {
    let lfw = 0, course = 0;
    for (const bytes of courseJpegs("lfw_gallery_100.zip", () => true)) {
      if ((await detectFacesBlaze(await decodeImage(bytes), model.run, NCHW)).length > 0) lfw++;
    }
    for (const bytes of courseJpegs("face_images_100.zip", (n) => /test_0\d\.jpg$/.test(n))) {
      if ((await detectFacesBlaze(await decodeImage(bytes), model.run, NCHW)).length > 0) course++;
    }
    assert.deepEqual({ lfw, course }, { lfw: 100, course: 10 });
  },
});

Deno.test({
  name: "detectFacesBlaze finds a tight face crop resized to any side from 32 to 6000 px",
  ignore: !HAS_COURSE_DATA,
  fn: async () => {
    // The face BlazeFace finds in course image test_00 (64×64), cropped tight to its box.
    const [bytes] = courseJpegs("face_images_100.zip", (n) => /test_00\.jpg$/.test(n));
    const photo = await decodeImage(bytes);
    const [found] = await detectFacesBlaze(photo, model.run, NCHW);
    const crop = cropImage(photo, clipBox(found.box, photo.width, photo.height));
    const missed: string[] = [];
    for (const side of [32, 48, 64, 100, 160, 200, 256, 512, 1024, 2048, 6000]) {
      const faces = await detectFacesBlaze(resizeSquare(crop, side), model.run, NCHW);
      const whole = { x: 0, y: 0, width: side, height: side };
      if (!faces.some((f) => iou(f.box, whole) >= 0.3)) missed.push(`crop at ${side}`);
      // The case too: the whole 64×64 course image upscaled.
      if ((await detectFacesBlaze(resizeSquare(photo, side), model.run, NCHW)).length === 0) {
        missed.push(`image at ${side}`);
      }
    }
    assert.deepEqual(missed, []);
  },
});
