/**
 * What the default detector's false alarms cost, and whether a second opinion could remove them
 * (issue 11). BlazeFace finds a face in some face-free patches where SSD finds none; this runs the
 * default recognizer (`auto`) on every image of {@linkcode detectorSets}, and for each face found
 * measures three candidate verifiers:
 *
 * - `tiny`: face-api's tiny detector on a square twice the face's side around it, at 128 and 160
 *   (best score of a face overlapping the centre);
 * - `recentred`: BlazeFace again on a window 3× the face's side centred on it (best score of a
 *   face overlapping the first);
 * - `landmarks`: how far the 68-point net's eyes, nose tip and mouth centre lie from BlazeFace's
 *   own keypoints, in face widths (lower = more face-like).
 *
 * It prints, per signal, the range over false alarms and over real faces, and how many real faces
 * a cut that rejects every false alarm would lose; and, with the course gallery, the labels the
 * false alarms get.
 *
 *   deno run -A bench/false_alarms.ts
 * @module
 */
import { type Box, centroid, clipBox, cropImage, iou, type Point } from "../model/face_geometry.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";
import { loadModel } from "../model/model_store.ts";
import { Recognizer } from "../model/recognizer.ts";
import { createSession } from "../model/runtime/session.ts";
import { BLAZEFACE_SPECS, blazeFaceAnchors, toSsdLikeBox } from "../model/detect/blazeface.ts";
import {
  detectBlazeWindow,
  detectFacesBlaze,
  onnxBlazeFaceRun,
} from "../model/detect/blazeface_multiscale.ts";
import { detectFacesTiny } from "../model/detect/tiny.ts";
import { detectLandmarks } from "../model/landmarks.ts";
import { matchEmbedding } from "../model/gallery/match.ts";
import { readGallery } from "../model/gallery/gallery.ts";
import { EMBEDDER_MODEL } from "../model/recognizer.ts";
import { detectorSets, NO_FACE_SET } from "../testing/detector_sets.ts";
import { courseData } from "../testing/e2e.ts";
import { HAS_COURSE_DATA } from "../testing/datasets.ts";
import { resizeSquare } from "../testing/resize_square.ts";

const { photos } = await detectorSets();
const auto = await Recognizer.load();
const blaze = onnxBlazeFaceRun(
  await createSession((await loadModel("blazeface")).onnx, { backend: "web" }),
);
const tinyModel = await loadModel("tiny_face_detector");
const tiny = await createSession(tinyModel.onnx, { backend: "web" });
const lmModel = await loadModel("face_landmark_68");
const lm = await createSession(lmModel.onnx, { backend: "web" });
const spec = BLAZEFACE_SPECS.back, anchors = blazeFaceAnchors(spec);

/** A square `factor` times the box's longer side, centred on it. */
function squareAround(b: Box, factor: number): Box {
  const s = Math.max(b.width, b.height) * factor;
  return { x: b.x + b.width / 2 - s / 2, y: b.y + b.height / 2 - s / 2, width: s, height: s };
}

/** The image inside `b`, black past its edges. */
function cropPadded(img: RgbImage, b: Box): RgbImage {
  const side = Math.max(1, Math.round(b.width));
  const out = new Uint8Array(side * side * 3);
  const x0 = Math.round(b.x), y0 = Math.round(b.y);
  for (let y = 0; y < side; y++) {
    const sy = y0 + y;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < side; x++) {
      const sx = x0 + x;
      if (sx < 0 || sx >= img.width) continue;
      out.set(
        img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3),
        (y * side + x) * 3,
      );
    }
  }
  return { width: side, height: side, data: out };
}

const dist = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

interface Found {
  falseAlarm: boolean;
  tiny: number;
  recentred: number;
  landmarks: number;
}
const found: Found[] = [];
const falseAlarmImages: RgbImage[] = [];
for (const p of photos) {
  if ((await auto.detect(p.image)).length === 0) continue;
  const falseAlarm = p.set === NO_FACE_SET;
  if (falseAlarm) falseAlarmImages.push(p.image);
  // The signals need BlazeFace's keypoints, so they are measured on its own faces.
  for (const f of await detectFacesBlaze(p.image, blaze, { layout: "nchw" })) {
    if (!falseAlarm && !p.ssd.some((s) => iou(s, f.box) >= 0.3)) continue; // unknown truth
    let tinyScore = 0;
    for (const size of [128, 160]) {
      const crop = resizeSquare(cropPadded(p.image, squareAround(f.box, 2)), size);
      const centre = { x: size / 4, y: size / 4, width: size / 2, height: size / 2 };
      for (
        const t of await detectFacesTiny(tiny, crop, { inputSize: size, scoreThreshold: 0.05 })
      ) {
        if (iou(t.box, centre) > 0.2) tinyScore = Math.max(tinyScore, t.score);
      }
    }
    const w = squareAround(f.box, 3);
    const again = await detectBlazeWindow(
      p.image,
      { x: w.x, y: w.y, side: w.width, kind: "whole" },
      blaze,
      spec,
      anchors,
      { scoreMin: 0.05, layout: "nchw" },
    );
    const recentred = again.filter((q) => iou(q.box, f.box) > 0.3)
      .reduce((a, q) => Math.max(a, q.score), 0);
    const ssdLike = toSsdLikeBox(f.box);
    const cropBox = clipBox(ssdLike, p.image.width, p.image.height);
    const local = await detectLandmarks(lm, lmModel.entry.input, cropImage(p.image, cropBox));
    const pts = local.map((q) => ({ x: q.x + ssdLike.x, y: q.y + ssdLike.y }));
    const [eyeA, eyeB, nose, mouth] = [
      centroid(pts.slice(36, 42)),
      centroid(pts.slice(42, 48)),
      pts[30],
      centroid(pts.slice(48, 68)),
    ];
    const k = f.keypoints;
    const eyes = Math.min(dist(eyeA, k[0]) + dist(eyeB, k[1]), dist(eyeA, k[1]) + dist(eyeB, k[0]));
    const landmarks = (eyes + dist(nose, k[2]) + dist(mouth, k[3])) / 4 / f.box.width;
    found.push({ falseAlarm, tiny: tinyScore, recentred, landmarks });
  }
}

const patches = photos.filter((p) => p.set === NO_FACE_SET).length;
console.log(`auto finds a face in ${falseAlarmImages.length} of ${patches} face-free patches`);
console.log(
  "| signal | false alarms (min–max) | real faces (min–max) | real faces lost by a cut rejecting every false alarm |",
);
console.log("|---|---|---|---|");
const real = found.filter((f) => !f.falseAlarm), alarms = found.filter((f) => f.falseAlarm);
for (
  const [key, higherIsFace] of [["tiny", true], ["recentred", true], ["landmarks", false]] as const
) {
  const range = (xs: Found[]) => {
    const v = xs.map((f) => f[key]);
    return `${Math.min(...v).toFixed(3)}–${Math.max(...v).toFixed(3)}`;
  };
  const cut = higherIsFace
    ? Math.max(...alarms.map((f) => f[key]))
    : Math.min(...alarms.map((f) => f[key]));
  const lost = real.filter((f) => higherIsFace ? f[key] <= cut : f[key] >= cut).length;
  console.log(`| ${key} | ${range(alarms)} | ${range(real)} | ${lost} of ${real.length} |`);
}

if (HAS_COURSE_DATA) {
  const gallery = await readGallery((await courseData()).gallery, EMBEDDER_MODEL);
  const labels: string[] = [];
  for (const image of falseAlarmImages) {
    const [face] = (await auto.analyzeImage(image)).faces;
    if (!face) continue;
    const m = matchEmbedding(gallery, face.embedding, { threshold: 0.6 });
    labels.push(`${m.label} (${m.distance.toFixed(3)})`);
  }
  console.log(
    `with the course gallery (threshold 0.6), the false alarms are labelled: ${labels.join(", ")}`,
  );
}
await auto.close();
