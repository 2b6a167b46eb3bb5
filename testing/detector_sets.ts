/**
 * The photo sets the detector benchmarks score against (`bench/detector_recall.ts`,
 * `bench/false_alarms.ts`): LFW 100, the course's 10 distinct images, face-api's sample photos,
 * faces-public, tight face crops resized from 32 to 6000 px, and face-free corner patches of the
 * group and large photos, each with the faces our face-api-exact SSD finds there.
 * @module
 */
import { decodeImage } from "../model/image/decode.ts";
import type { RgbImage } from "../model/image/rgb_image.ts";
import { clipBox, cropImage, iou } from "../model/face_geometry.ts";
import type { Box } from "../model/face_geometry.ts";
import { Recognizer } from "../model/recognizer.ts";
import { courseZipEntries, FACES_PUBLIC_DIR } from "./datasets.ts";
import { FACE_API_SAMPLES_DIR } from "./face_api_reference.ts";
import { resizeSquare } from "./resize_square.ts";

/** The sides tight face crops are resized to. */
export const CROP_SIDES: readonly number[] = [
  32,
  48,
  64,
  100,
  160,
  200,
  256,
  512,
  1024,
  2048,
  6000,
];

/** The set of face-free patches. */
export const NO_FACE_SET = "no-face patches";

/** One image of a set, with what SSD finds in it. */
export interface Photo {
  set: string;
  name: string;
  image: RgbImage;
  /** SSD's faces (our face-api-exact SSD, score > 0.5). */
  ssd: readonly Box[];
  /** For tight crops: the face's box in the crop (the whole crop). */
  crop?: boolean;
}

/** The sets, and in how many face-free patches SSD itself finds a face. */
export async function detectorSets(): Promise<{ photos: Photo[]; ssdPatchAlarms: number }> {
  let ssdPatchAlarms = 0;
  const ssd = await Recognizer.load({ detector: "ssd", backend: "native" });
  const auto = await Recognizer.load({ detector: "auto", backend: "native" });
  const out: Photo[] = [];
  const add = async (set: string, name: string, image: RgbImage, useAuto = false) => {
    const faces = await (useAuto ? auto : ssd).detect(image);
    out.push({ set, name, image, ssd: faces.map((f) => f.box) });
  };
  const lfw = courseZipEntries("lfw_gallery_100.zip").filter(([n]) => n.endsWith(".jpg"));
  for (const [name, bytes] of lfw) await add("LFW 100", name, await decodeImage(bytes));
  const course = courseZipEntries("face_images_100.zip").filter(([n]) => /test_0\d\.jpg$/.test(n));
  for (const [name, bytes] of course) await add("course 10", name, await decodeImage(bytes), true);
  for (const name of [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`)) {
    await add(
      "face-api samples",
      name,
      await decodeImage(await Deno.readFile(FACE_API_SAMPLES_DIR + name)),
    );
  }
  for (
    const name of [
      "facenet-pytorch/multiface.jpg",
      ...["angelina_jolie", "kate_siegel", "paul_rudd", "shea_whigham"].map((n) =>
        `facenet-pytorch/test_images/${n}.jpg`
      ),
      ...["adams", "carell", "clapton-1", "clapton-2", "lennon-1", "lennon-2", "longoria-cooper"]
        .map((n) => `openface/${n}.jpg`),
    ]
  ) {
    await add(
      "faces-public",
      name,
      await decodeImage(await Deno.readFile(new URL(name, FACES_PUBLIC_DIR))),
    );
  }
  // Tight crops: the SSD box of the first 5 LFW faces and the auto box of the first 5 course faces.
  const sources = [
    ...out.filter((p) => p.set === "LFW 100" && p.ssd.length).slice(0, 5),
    ...out.filter((p) => p.set === "course 10" && p.ssd.length).slice(0, 5),
  ];
  for (const side of CROP_SIDES) {
    for (const p of sources) {
      const box = clipBox(p.ssd[0], p.image.width, p.image.height);
      const tight = resizeSquare(cropImage(p.image, box), side);
      out.push({
        set: `crop ${side}`,
        name: p.name,
        image: tight,
        ssd: [{ x: 0, y: 0, width: side, height: side }],
        crop: true,
      });
    }
  }
  // No-face patches: corner squares of the group and large photos that touch no SSD face (any
  // face found there is counted as a false alarm; a missed face SSD also missed is possible).
  for (const p of out.filter((q) => q.set === "faces-public" || q.set === "face-api samples")) {
    const side = Math.floor(Math.min(p.image.width, p.image.height) / 3);
    for (
      const [x, y] of [[0, 0], [p.image.width - side, 0], [0, p.image.height - side], [
        p.image.width - side,
        p.image.height - side,
      ]]
    ) {
      const box = { x, y, width: side, height: side };
      if (
        p.ssd.some((s) =>
          iou(s, box) > 0 ||
          (s.x < x + side && s.x + s.width > x && s.y < y + side && s.y + s.height > y)
        )
      ) continue;
      const patch = cropImage(p.image, box);
      if ((await ssd.detect(patch)).length > 0) ssdPatchAlarms++;
      out.push({ set: NO_FACE_SET, name: `${p.name}@${x},${y}`, image: patch, ssd: [] });
    }
  }
  await ssd.close();
  await auto.close();
  return { photos: out, ssdPatchAlarms };
}
