/**
 * `deno run -A bench/descriptor_agreement.ts [--backend web|native] [--json]`: does the BlazeFace
 * path (`--detector blaze`) give the same descriptors as the SSD path (face-api's)?
 *
 * For every photo of LFW 100 (`lfw_gallery_100.zip`), face-api's samples and faces-public, both
 * paths analyse the photo; each SSD face is paired with the BlazeFace face whose aligned crop
 * overlaps it most (IoU ≥ 0.5), and the euclidean distance between the two 128-d descriptors is
 * recorded (the gallery threshold is 0.6; two photos of one person are typically 0.4–0.5 apart).
 * Then the verification pairs of faces-public (Lennon, Clapton: one person each; against each
 * other and Adams–Carell: different people) through each path.
 *
 * Prints the distribution (median, p95, max), the faces found by one path only, and the pairs.
 * @module
 */
import { parseArgs } from "node:util";
import { median, quantile } from "../internal/mod.ts";
import type { AnalyzedFace } from "../model/face_pipeline.ts";
import { iouBoxes } from "../model/detect/nms.ts";
import { decodeImage } from "../model/image/decode.ts";
import { descriptorDistance } from "../model/embed.ts";
import { type DetectorStrategy, Recognizer } from "../model/recognizer.ts";
import { courseZipEntries, FACES_PUBLIC_DIR } from "../testing/datasets.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { backend: { type: "string", default: "native" }, json: { type: "boolean" } },
});
const backend = args.backend as "web" | "native";

/** Pairs closer than this are the same face for the agreement figures. */
const PAIR_IOU_MIN = 0.5;

async function photos(): Promise<[string, Uint8Array][]> {
  const list: [string, Uint8Array][] = courseZipEntries("lfw_gallery_100.zip")
    .filter(([name]) => name.endsWith(".jpg"))
    .map(([name, bytes]) => [`lfw/${name}`, bytes]);
  const samples = new URL("../node_modules/@vladmandic/face-api/demo/", import.meta.url);
  for (const entry of Deno.readDirSync(samples)) {
    if (/\.jpe?g$/.test(entry.name)) {
      list.push([`face-api/${entry.name}`, await Deno.readFile(new URL(entry.name, samples))]);
    }
  }
  for (const dir of ["openface/", "facenet-pytorch/", "facenet-pytorch/test_images/"]) {
    for (const entry of Deno.readDirSync(new URL(dir, FACES_PUBLIC_DIR))) {
      if (/\.jpe?g$/.test(entry.name)) {
        list.push([
          `${dir}${entry.name}`,
          await Deno.readFile(new URL(dir + entry.name, FACES_PUBLIC_DIR)),
        ]);
      }
    }
  }
  return list;
}

const recognizers = Object.fromEntries(
  await Promise.all(
    (["ssd", "blaze"] as DetectorStrategy[]).map(async (detector) =>
      [detector, await Recognizer.load({ detector, backend })] as const
    ),
  ),
) as Record<"ssd" | "blaze", Recognizer>;

const distances: number[] = [];
const worst: { photo: string; distance: number }[] = [];
let ssdOnly = 0, blazeOnly = 0;
const faces = new Map<string, Record<"ssd" | "blaze", readonly AnalyzedFace[]>>();
for (const [name, bytes] of await photos()) {
  const image = await decodeImage(bytes);
  const ssd = (await recognizers.ssd.analyzeImage(image)).faces;
  const blaze = (await recognizers.blaze.analyzeImage(image)).faces;
  faces.set(name, { ssd, blaze });
  const used = new Set<number>();
  for (const s of ssd) {
    let best = -1, bestIou = PAIR_IOU_MIN;
    blaze.forEach((b, i) => {
      const iou = iouBoxes(s.alignedBox, b.alignedBox);
      if (!used.has(i) && iou >= bestIou) [best, bestIou] = [i, iou];
    });
    if (best < 0) {
      ssdOnly++;
      continue;
    }
    used.add(best);
    const d = descriptorDistance(s.embedding, blaze[best].embedding);
    distances.push(d);
    worst.push({ photo: name, distance: d });
  }
  blazeOnly += blaze.length - used.size;
  console.error(`${name}: ssd ${ssd.length}, blaze ${blaze.length}`);
}

/** The largest face's descriptor of a faces-public photo through one path. */
const largest = (photo: string, path: "ssd" | "blaze") => faces.get(photo)?.[path][0]?.embedding;
const PAIRS: [string, string, "same" | "different"][] = [
  ["openface/lennon-1.jpg", "openface/lennon-2.jpg", "same"],
  ["openface/clapton-1.jpg", "openface/clapton-2.jpg", "same"],
  ["openface/lennon-1.jpg", "openface/clapton-1.jpg", "different"],
  ["openface/adams.jpg", "openface/carell.jpg", "different"],
];
const pairs = PAIRS.map(([a, b, truth]) => {
  const row: Record<string, unknown> = { a, b, truth };
  for (const path of ["ssd", "blaze"] as const) {
    const [x, y] = [largest(a, path), largest(b, path)];
    row[path] = x && y ? Number(descriptorDistance(x, y).toFixed(3)) : null;
  }
  return row;
});
const sorted = [...distances].sort((a, b) => a - b);
const report = {
  backend,
  facesPaired: distances.length,
  ssdOnly,
  blazeOnly,
  distance: {
    median: median(distances),
    p95: quantile(distances, 0.95),
    max: sorted.at(-1),
  },
  worst: worst.sort((a, b) => b.distance - a.distance).slice(0, 5),
  pairs,
};
for (const r of Object.values(recognizers)) await r.close();
if (args.json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(
    `${report.facesPaired} faces found by both paths (${backend}); SSD only ${ssdOnly}, ` +
      `BlazeFace only ${blazeOnly}`,
  );
  console.log(
    `descriptor distance BlazeFace path vs SSD path: median ${
      report.distance.median.toFixed(3)
    }, ` +
      `p95 ${report.distance.p95.toFixed(3)}, max ${report.distance.max?.toFixed(3)}`,
  );
  console.log("worst:", report.worst.map((w) => `${w.photo} ${w.distance.toFixed(3)}`).join(", "));
  console.log("| pair | truth | SSD path | BlazeFace path |\n|---|---|---:|---:|");
  for (const p of pairs) console.log(`| ${p.a} ~ ${p.b} | ${p.truth} | ${p.ssd} | ${p.blaze} |`);
}
