/**
 * `deno task bench:detection`: how many images each detector strategy finds a face in, on the
 * course's 10 distinct 64×64 images and on the 100 250×250 LFW photos (read straight from
 * ../shared/datasets/cse546, never copied). Prints a table; `--json` prints JSON.
 * @module
 */
import { commandLineOrExit } from "../internal/cli.ts";
import { DETECTOR_STRATEGIES, Recognizer } from "../model/recognizer.ts";
import { decodeImage } from "../model/image/decode.ts";
import { courseZipEntries } from "../testing/datasets.ts";

const USAGE = `Usage: deno task bench:detection [--json]

How many images each detector strategy finds a face in, on the course's 10 distinct 64×64 images
and the 100 250×250 LFW photos (from ../shared/datasets/cse546). Prints a Markdown table.

  --json                 the rows as JSON
  -h, --help             this help`;

const json = commandLineOrExit(
  { name: "bench:detection", usage: USAGE, options: { json: { type: "boolean" } } },
  Deno.args,
  ({ values }) => values.json ?? false,
);

function images(zip: string, keep: (name: string) => boolean): Uint8Array[] {
  return courseZipEntries(zip)
    .filter(([name]) => name.endsWith(".jpg") && keep(name))
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .map(([, bytes]) => bytes);
}

const sets = {
  "course 64×64 (10 distinct)": images("face_images_100.zip", (n) => /test_0\d\.jpg$/.test(n)),
  "LFW 250×250 (100)": images("lfw_gallery_100.zip", () => true),
};

const rows: { strategy: string; set: string; found: number; total: number; scoreMin: number }[] =
  [];
for (const strategy of DETECTOR_STRATEGIES) {
  const recognizer = await Recognizer.load({ detector: strategy, backend: "native" });
  for (const [set, list] of Object.entries(sets)) {
    let found = 0, scoreMin = 1;
    for (const bytes of list) {
      const faces = await recognizer.detect(await decodeImage(bytes));
      if (faces.length > 0) {
        found++;
        scoreMin = Math.min(scoreMin, Math.max(...faces.map((f) => f.score)));
      }
    }
    rows.push({ strategy, set, found, total: list.length, scoreMin });
    console.error(`${strategy} on ${set}: ${found}/${list.length}`);
  }
  await recognizer.close();
}
if (json) {
  console.log(JSON.stringify(rows));
} else {
  console.log("| strategy | images | found | lowest best-face score |\n|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.strategy} | ${r.set} | ${r.found}/${r.total} | ${
        r.found > 0 ? r.scoreMin.toFixed(2) : "—"
      } |`,
    );
  }
}
